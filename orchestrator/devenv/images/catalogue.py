"""gridshift's images, declared: what goes into each and what its OCI config says.

Nothing here builds; :mod:`.build` does. The Dockerfile describes the ``operator`` image for
people with Docker, and a unit test checks it against :func:`image_config` and the packages here.

- ``pause``: the pod sandbox. ``/bin/busybox`` from Debian's ``busybox-static`` and an
  entrypoint that sleeps until SIGTERM or SIGINT (then exits 0), as user 65535 like the
  upstream pause image.
- ``python-base`` (a layer, not an image of its own): Debian bookworm's Python 3.11 from the
  packages in :data:`PYTHON_PACKAGES` and their dependencies, unpacked without maintainer scripts;
  what those scripts would do is done by :mod:`.rootfs` (CA bundle, time zone, bytecode).
- ``modelserver``: the base plus ``orchestrator/devenv/modelserver`` as the top-level package
  ``modelserver``; runs ``python3.11 -m modelserver`` as uid 10001, port 8000.
- ``operator``: the base plus gridshift's wheel and its locked dependencies in
  :data:`SITE_PACKAGES`, and the Alembic revisions where ``orchestrator.ledger.schema`` looks for
  them; runs ``gridshift run`` as uid 10001, port 8080, on a read-only root file system.
"""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator import __version__
from orchestrator.errors import ConfigError

SUITE = "bookworm"
ARCHITECTURE = "amd64"
PYTHON = "/usr/bin/python3.11"
SITE_PACKAGES = "/usr/local/lib/python3.11/dist-packages"
"""On Debian's python3.11 default sys.path, so the image needs no PYTHONPATH."""
PYTHON_PLATFORM = "x86_64-manylinux_2_36"
"""Wheels for bookworm's glibc 2.36 on x86_64 (``uv pip install --python-platform``)."""
USER_ID = 10001
USER_NAME = "gridshift"
PAUSE_USER = "65535:65535"
REF_PREFIX = "localhost/gridshift/"

PYTHON_PACKAGES = ("python3.11-minimal", "libpython3.11-stdlib", "ca-certificates", "tzdata")
"""The Debian packages the Python base is made of; their dependencies come along."""
EXCLUDED_PACKAGES = {
    "debconf": "asked by ca-certificates and tzdata for their maintainer scripts, which never run",
    "debconf-2.0": "the virtual package debconf provides",
    "openssl": "the CLI update-ca-certificates uses; the bundle is written by the builder",
    "dpkg": "asked by readline-common for install-info; no package is installed by dpkg",
}
"""Dependencies left out on purpose, each with why: nothing they would do happens at run time."""
PAUSE_PACKAGES = ("busybox-static",)

PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
PYTHON_ENV = (
    ("PATH", PATH),
    ("LANG", "C.UTF-8"),
    ("PYTHONDONTWRITEBYTECODE", "1"),
    ("PYTHONUNBUFFERED", "1"),
)
PAUSE_SCRIPT = "trap 'exit 0' TERM INT; /bin/busybox sleep infinity & wait"
"""As PID 1 a process ignores SIGTERM unless it handles it: the shell traps it and exits 0 (the
sleeping child goes with the container's PID namespace). No loop: if the sleep failed, the
container would exit at once instead of spinning."""


@dataclass(frozen=True)
class ImageConfig:
    """The parts of an OCI image config gridshift sets (``umoci config`` is given these)."""

    entrypoint: tuple[str, ...]
    cmd: tuple[str, ...]
    user: str
    env: tuple[tuple[str, str], ...]
    exposed_ports: tuple[str, ...]
    working_dir: str
    labels: tuple[tuple[str, str], ...]

    def oci(self) -> dict[str, object]:
        """The ``config`` object of the OCI image config, as umoci writes it (empty omitted)."""
        document: dict[str, object] = {
            "User": self.user,
            "ExposedPorts": {port: {} for port in self.exposed_ports},
            "Env": [f"{name}={value}" for name, value in self.env],
            "Entrypoint": list(self.entrypoint),
            "Cmd": list(self.cmd),
            "WorkingDir": self.working_dir,
            "Labels": dict(self.labels),
        }
        return {key: value for key, value in document.items() if value}


IMAGES = ("pause", "modelserver", "operator")
"""The images :func:`orchestrator.devenv.images.ensure_image` builds."""


def _labels(title: str, description: str) -> tuple[tuple[str, str], ...]:
    return (
        ("org.opencontainers.image.description", description),
        ("org.opencontainers.image.licenses", "Apache-2.0"),
        ("org.opencontainers.image.title", title),
        ("org.opencontainers.image.version", __version__),
    )


def image_config(name: str) -> ImageConfig:
    """The OCI config of image ``name`` (one of :data:`IMAGES`), without building anything."""
    user = f"{USER_ID}:{USER_ID}"
    if name == "pause":
        return ImageConfig(
            entrypoint=("/bin/busybox", "sh", "-c", PAUSE_SCRIPT),
            cmd=(),
            user=PAUSE_USER,
            env=(("PATH", PATH),),
            exposed_ports=(),
            working_dir="/",
            labels=_labels("gridshift-pause", "The pod sandbox of gridshift's local fleet."),
        )
    if name == "modelserver":
        return ImageConfig(
            entrypoint=(PYTHON, "-m", "modelserver"),
            cmd=(),
            user=user,
            env=PYTHON_ENV,
            exposed_ports=("8000/tcp",),
            working_dir="/",
            labels=_labels("gridshift-modelserver", "An OpenAI-compatible stand-in for vLLM."),
        )
    if name == "operator":
        return ImageConfig(
            entrypoint=("/usr/local/bin/gridshift",),
            cmd=("run",),
            user=user,
            env=(*PYTHON_ENV, ("GRIDSHIFT_WEBHOOK_HOST", "0.0.0.0")),  # noqa: S104 - in a pod
            exposed_ports=("8080/tcp",),
            working_dir="/",
            labels=_labels("gridshift", "gridshift: inference capacity that follows the grid."),
        )
    raise ConfigError(f"no image called {name!r}; the images are {', '.join(IMAGES)}")
