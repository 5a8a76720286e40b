"""The Python payloads: the model server's package, and gridshift with its locked dependencies.

The operator's payload is what ``pip install gridshift`` would give, pinned by ``uv.lock``:

1. ``uv build --wheel``: the project's wheel (hatchling, reproducible by default);
2. ``uv export --frozen --no-dev --no-emit-project``: the locked run-time dependencies, with
   their hashes;
3. ``uv pip install --target SITE --python-version 3.11 --python-platform x86_64-manylinux_2_36
   --no-deps --require-hashes``: those exact files for bookworm's Python and glibc, copied
   (never hard-linked to uv's cache), with no installer metadata (``direct_url.json`` would name
   a temporary path);
4. the wheel itself, likewise; its console scripts (``bin/``, with this machine's interpreter in
   their ``#!``) are dropped for one launcher, ``/usr/local/bin/gridshift``, made from the
   ``[project.scripts]`` entry;
5. ``migrations/`` at ``SITE/migrations``: ``orchestrator.ledger.schema`` reads the Alembic
   revisions two levels above its package, which is the site directory when installed.

Their input files (:func:`operator_inputs`, :func:`modelserver_inputs`) go into the cache key.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tomllib
from pathlib import Path

from orchestrator.devenv import modelserver
from orchestrator.devenv.images import rootfs
from orchestrator.devenv.images.catalogue import PYTHON, PYTHON_PLATFORM, SITE_PACKAGES
from orchestrator.errors import ConfigError, DevEnvError

PROJECT = Path(__file__).resolve().parents[3]
MODELSERVER = Path(modelserver.__file__).resolve().parent
LAUNCHER = "usr/local/bin/gridshift"
_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc")


def _tree(root: Path, base: Path) -> list[tuple[str, Path]]:
    return [
        (str(p.relative_to(base)), p)
        for p in sorted(root.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    ]


def modelserver_inputs() -> list[tuple[str, Path]]:
    """The model server's source files, by their path in the image's site directory."""
    return [(f"modelserver/{name}", path) for name, path in _tree(MODELSERVER, MODELSERVER)]


def operator_inputs() -> list[tuple[str, Path]]:
    """Every project file the operator's payload is made from, by path in the repository."""
    if not (PROJECT / "pyproject.toml").is_file() or not (PROJECT / "uv.lock").is_file():
        raise ConfigError(
            f"the operator image is built from a checkout of gridshift; {PROJECT} has no "
            "pyproject.toml and uv.lock"
        )
    files = [(n, PROJECT / n) for n in ("pyproject.toml", "uv.lock", "README.md")]
    files += _tree(PROJECT / "orchestrator", PROJECT)
    files += _tree(PROJECT / "migrations", PROJECT)
    return files


def find_uv() -> Path:
    """The uv to build with: ``$UV`` (set by ``uv run``), else ``uv`` on PATH, else .tools/."""
    candidates = [os.environ.get("UV"), shutil.which("uv")]
    candidates += [str(p) for p in sorted(PROJECT.glob(".tools/uv-*/bin/uv"))]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    raise ConfigError("uv is missing: `make uv` installs the pinned one into .tools/")


def _uv(uv: Path, *args: str, what: str) -> str:
    env = {**os.environ, "UV_NO_INSTALLER_METADATA": "1", "UV_PYTHON_DOWNLOADS": "never"}
    try:
        done = subprocess.run(
            [str(uv), *args],
            capture_output=True,
            text=True,
            timeout=1800,
            cwd=PROJECT,
            env=env,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DevEnvError(f"{what} failed: {exc}") from exc
    if done.returncode != 0:
        raise DevEnvError(f"{what} failed (exit {done.returncode}): {done.stderr.strip()[-1500:]}")
    return done.stdout


def uv_version(uv: Path) -> str:
    """``uv --version``: an input of the operator image."""
    return _uv(uv, "--version", what="uv --version").strip()


def install_modelserver(root: Path) -> None:
    """The model server as the top-level package ``modelserver`` in the site directory."""
    target = root / SITE_PACKAGES.lstrip("/") / "modelserver"
    shutil.copytree(MODELSERVER, target, ignore=_IGNORED)
    rootfs.compile_python(root, [SITE_PACKAGES])


def launcher_script() -> str:
    """The text of `/usr/local/bin/gridshift`, from the `[project.scripts]` entry."""
    scripts = tomllib.loads((PROJECT / "pyproject.toml").read_text())["project"]["scripts"]
    module, _, attribute = str(scripts["gridshift"]).partition(":")
    return (
        f"#!{PYTHON}\n"
        '"""The `gridshift` command, as [project.scripts] names it."""\n'
        "import sys\n\n"
        f"from {module} import {attribute}\n\n"
        f"sys.exit({attribute}())\n"
    )


def install_operator(root: Path, *, uv: Path, scratch: Path) -> None:
    """gridshift's wheel and its locked dependencies, the migrations and the launcher."""
    site = root / SITE_PACKAGES.lstrip("/")
    wheels, requirements = scratch / "wheel", scratch / "requirements.txt"
    _uv(uv, "build", "--wheel", "--out-dir", str(wheels), str(PROJECT), what="uv build --wheel")
    export = ["export", "--frozen", "--no-dev", "--no-emit-project", "--no-header"]
    _uv(uv, *export, "--output-file", str(requirements), what="uv export")
    install = ["pip", "install", "--quiet", "--target", str(site), "--no-deps"]
    install += ["--python-version", "3.11", "--python-platform", PYTHON_PLATFORM]
    install += ["--link-mode", "copy"]
    _uv(uv, *install, "--require-hashes", "-r", str(requirements), what="uv pip install (locked)")
    built = sorted(wheels.glob("gridshift-*.whl"))
    if len(built) != 1:
        raise DevEnvError(f"uv build --wheel left {len(built)} gridshift wheels in {wheels}")
    _uv(uv, *install, str(built[0]), what="uv pip install (gridshift's wheel)")
    shutil.rmtree(site / "bin", ignore_errors=True)
    shutil.copytree(PROJECT / "migrations", site / "migrations", ignore=_IGNORED)
    rootfs.write(root, LAUNCHER, launcher_script(), mode=0o755)
    rootfs.compile_python(root, [SITE_PACKAGES])
