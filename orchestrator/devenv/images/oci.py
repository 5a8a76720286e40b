"""OCI images written with umoci, and the tar archive ``ctr images import`` reads.

A :class:`Layout` is an OCI image layout directory holding one tag. Layers are made the umoci
way: ``unpack`` the tag into a runtime bundle, change ``bundle/rootfs``, ``repack`` (umoci diffs
the tree against what it unpacked and writes only the changes as a new layer). umoci writes
sorted, owner-normalised tar entries with the files' own mtimes, so the caller sets every mtime
first (:func:`rootfs.set_mtimes`), and every time stamp umoci would take from the clock
(config ``created``, history ``created``) is given explicitly: the same tree gives the same
digests. :func:`write_archive` tars the layout the same way (sorted, fixed owner and mtime).

Needs root: ``umoci unpack`` keeps the files' owners, as the image needs them.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from orchestrator.devenv.images import rootfs as rootfs_module
from orchestrator.devenv.images.catalogue import ARCHITECTURE, ImageConfig
from orchestrator.errors import ConfigError, DevEnvError

UMOCI_TIMEOUT_SECONDS = 900


def umoci_version() -> str:
    """``umoci --version``'s answer: an input of every image (its output format may change)."""
    if shutil.which("umoci") is None:
        raise ConfigError("umoci is missing: run hack/install-deps.sh (Debian package umoci)")
    return _umoci("--version").strip()


def _umoci(*args: str) -> str:
    try:
        done = subprocess.run(
            ["umoci", *args],
            capture_output=True,
            text=True,
            timeout=UMOCI_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DevEnvError(f"umoci {args[0]} failed: {exc}") from exc
    if done.returncode != 0:
        raise DevEnvError(f"umoci {' '.join(args[:2])} failed: {done.stderr.strip()[-800:]}")
    return done.stdout


def rfc3339(epoch: int) -> str:
    """``epoch`` as the RFC 3339 time umoci takes."""
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Layout:
    """An OCI image layout directory and the one tag in it that is being built."""

    def __init__(self, path: Path, tag: str) -> None:
        self.path = path
        self.tag = tag

    @property
    def image(self) -> str:
        """umoci's ``--image`` argument."""
        return f"{self.path}:{self.tag}"

    @classmethod
    def new(cls, path: Path, tag: str) -> Layout:
        """An empty layout with an empty image tagged ``tag``."""
        _umoci("init", "--layout", str(path))
        _umoci("new", "--image", f"{path}:{tag}")
        return cls(path, tag)

    @classmethod
    def copy_of(cls, base: Layout, path: Path, tag: str) -> Layout:
        """A copy of ``base`` at ``path`` whose image is also tagged ``tag``, to build on."""
        shutil.copytree(base.path, path)
        copy = cls(path, tag)
        if tag != base.tag:
            _umoci("tag", "--image", f"{path}:{base.tag}", tag)
            _umoci("rm", "--image", f"{path}:{base.tag}")
        return copy

    @contextlib.contextmanager
    def layer(self, bundle: Path, *, epoch: int, created_by: str) -> Iterator[Path]:
        """Unpack the image into ``bundle``; yield its rootfs; pack the changes as a new layer."""
        _umoci("unpack", "--image", self.image, str(bundle))
        yield bundle / "rootfs"
        rootfs_module.set_mtimes(bundle / "rootfs", epoch)
        _umoci(
            "repack",
            "--history.created",
            rfc3339(epoch),
            "--history.created_by",
            created_by,
            "--image",
            self.image,
            str(bundle),
        )
        shutil.rmtree(bundle)

    def configure(self, config: ImageConfig, *, epoch: int) -> None:
        """Set the image config to exactly ``config`` (earlier values cleared)."""
        args = ["config", "--image", self.image, "--no-history"]
        args += ["--created", rfc3339(epoch), "--os", "linux", "--architecture", ARCHITECTURE]
        for field in ("config.entrypoint", "config.cmd", "config.env", "config.labels"):
            args += ["--clear", field]
        args += ["--clear", "config.exposedports"]
        for item in config.entrypoint:
            args += ["--config.entrypoint", item]
        for item in config.cmd:
            args += ["--config.cmd", item]
        for name, value in config.env:
            args += ["--config.env", f"{name}={value}"]
        for port in config.exposed_ports:
            args += ["--config.exposedports", port]
        for name, value in config.labels:
            args += ["--config.label", f"{name}={value}"]
        args += ["--config.user", config.user, "--config.workingdir", config.working_dir]
        _umoci(*args)

    def collect_garbage(self) -> None:
        """Drop blobs no tag reaches (the intermediate configs and manifests)."""
        _umoci("gc", "--layout", str(self.path))

    def manifest_digest(self) -> str:
        """The digest of the tagged image's manifest (``sha256:...``)."""
        index = json.loads((self.path / "index.json").read_text())
        for entry in index.get("manifests", []):
            if entry.get("annotations", {}).get("org.opencontainers.image.ref.name") == self.tag:
                return str(entry["digest"])
        raise DevEnvError(f"{self.path}/index.json has no manifest tagged {self.tag}")

    def config_document(self) -> dict[str, object]:
        """The tagged image's OCI config, as written."""
        manifest = self._blob(self.manifest_digest())
        config = manifest.get("config")
        if not isinstance(config, dict):
            raise DevEnvError(f"the manifest of {self.image} has no config")
        return self._blob(str(config["digest"]))

    def _blob(self, digest: str) -> dict[str, object]:
        algorithm, _, hexdigest = digest.partition(":")
        document = json.loads((self.path / "blobs" / algorithm / hexdigest).read_text())
        if not isinstance(document, dict):
            raise DevEnvError(f"blob {digest} is not a JSON object")
        return document


def write_archive(layout: Layout, archive: Path, *, epoch: int) -> None:
    """Tar ``layout`` into ``archive``: sorted entries, owner 0, mode 0644/0755, mtime ``epoch``."""
    entries = sorted(layout.path.rglob("*"))
    with tarfile.open(archive, "w", format=tarfile.PAX_FORMAT) as tar:
        for path in entries:
            info = tar.gettarinfo(str(path), arcname=str(path.relative_to(layout.path)))
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mtime = epoch
            info.mode = 0o755 if info.isdir() else 0o644
            if info.isfile():
                with path.open("rb") as handle:
                    tar.addfile(info, handle)
            else:
                tar.addfile(info)
