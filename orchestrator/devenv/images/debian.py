"""Debian packages into a root file system: resolve, fetch, unpack; no maintainer script runs.

- :func:`resolve` walks ``Depends`` and ``Pre-Depends`` from the roots with ``apt-cache show``
  (this machine's candidate versions, from its bookworm sources), taking the first alternative of
  each clause unless one is already chosen, and stopping at the excluded packages. Version
  constraints are not re-checked: one suite's candidates satisfy each other, and the images' own
  tests would show a package that does not.
  The answer is remembered (``resolved-<key>.json`` beside the cached packages) under a key of
  the roots, the exclusions and the state of apt's index (its list files' sizes and mtimes, the
  sources and preferences), so it is asked again after an ``apt-get update``, not before.
- :func:`fetch` downloads what the cache lacks with ``apt-get download`` (which checks the
  archive's signatures) and checks each file's SHA-256 against the index again; files are cached
  as ``<sha256>.deb``.
- :func:`unpack` runs ``dpkg-deb -x`` for each, in package-name order.

The exact packages (name, version, SHA-256) are inputs of the image's cache key: the same
packages give the same image.

Why not debootstrap: it installs Debian's essential set as well (a shell, coreutils, dpkg, apt,
perl-base) and runs every maintainer script in a chroot, which writes dpkg's database and logs
with time stamps; the images want only Python's files, no shell, and the same bytes every time.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from orchestrator.errors import ConfigError, DevEnvError

OS_RELEASE = Path("/etc/os-release")
APT_STATE = (Path("/var/lib/apt/lists"), Path("/etc/apt"))
_VERSION_CONSTRAINT = re.compile(r"\s*\(.*?\)")


@dataclass(frozen=True, order=True)
class Deb:
    """One Debian binary package, as this machine's apt index describes it."""

    package: str
    version: str
    architecture: str
    sha256: str
    size: int


def check_suite(suite: str) -> None:
    """Refuse to resolve packages on anything but a Debian ``suite`` machine."""
    try:
        release = OS_RELEASE.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read {OS_RELEASE}: {exc}") from exc
    fields = dict(
        line.split("=", 1) for line in release.splitlines() if "=" in line and line[0] != "#"
    )
    codename = fields.get("VERSION_CODENAME", "").strip('"')
    if fields.get("ID", "").strip('"') != "debian" or codename != suite:
        pretty = fields.get("PRETTY_NAME", "not Debian").strip('"')
        raise ConfigError(
            f"the images are built from Debian {suite} packages with this machine's apt; this "
            f"machine is {pretty}"
        )


def _run(argv: list[str], *, what: str, timeout: float, cwd: Path | None = None) -> str:
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout, cwd=cwd, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DevEnvError(f"{what} failed: {exc}") from exc
    if done.returncode != 0:
        raise DevEnvError(
            f"{what} failed (exit {done.returncode}): {done.stderr.strip()[-800:]}; if a package "
            "is not found, run `apt-get update`"
        )
    return done.stdout


def _paragraphs(text: str) -> list[dict[str, str]]:
    found: list[dict[str, str]] = []
    for block in text.strip().split("\n\n"):
        fields: dict[str, str] = {}
        key = ""
        for line in block.splitlines():
            if line.startswith((" ", "\t")) and key:
                fields[key] += "\n" + line.strip()
            elif ":" in line:
                key, _, value = line.partition(":")
                fields[key] = value.strip()
        if "Package" in fields:
            found.append(fields)
    return found


def _clauses(fields: Mapping[str, str]) -> list[list[str]]:
    """Each dependency clause as its alternatives' package names (no versions, no arch)."""
    text = ", ".join(v for v in (fields.get("Pre-Depends"), fields.get("Depends")) if v)
    clauses = []
    for clause in filter(None, (c.strip() for c in text.split(","))):
        names = [
            _VERSION_CONSTRAINT.sub("", alt).strip().split(":")[0] for alt in clause.split("|")
        ]
        clauses.append(names)
    return clauses


def _apt_state() -> list[tuple[str, int, int]]:
    """What apt's answers depend on: its index files and its configuration, by size and mtime."""
    state = []
    for top in APT_STATE:
        for directory, _, files in os.walk(top):
            for name in files:
                path = os.path.join(directory, name)
                with contextlib.suppress(OSError):
                    info = os.stat(path)
                    state.append((path, info.st_size, info.st_mtime_ns))
    return sorted(state)


def resolve(
    roots: Iterable[str], *, excluded: Iterable[str] = (), memo: Path | None = None
) -> tuple[Deb, ...]:
    """The roots and everything they depend on, minus ``excluded``; sorted by package name.

    With ``memo`` (a directory), the answer is kept there for as long as apt's index is unchanged.
    """
    wanted, skip = sorted(set(roots)), sorted(set(excluded))
    if memo is None:
        return _resolve(wanted, frozenset(skip))
    key = hashlib.sha256(json.dumps([wanted, skip, _apt_state()]).encode()).hexdigest()
    remembered = memo / f"resolved-{key[:16]}.json"
    if remembered.is_file():
        return tuple(Deb(*fields) for fields in json.loads(remembered.read_text()))
    debs = _resolve(wanted, frozenset(skip))
    memo.mkdir(parents=True, exist_ok=True)
    scratch = remembered.with_suffix(f".{os.getpid()}.tmp")
    scratch.write_text(json.dumps([list(dataclasses.astuple(deb)) for deb in debs]))
    scratch.replace(remembered)
    return debs


def _resolve(roots: list[str], skip: frozenset[str]) -> tuple[Deb, ...]:
    chosen: dict[str, Deb] = {}
    wanted = roots
    while wanted:
        out = _run(
            ["apt-cache", "show", "--no-all-versions", *wanted],
            what=f"apt-cache show {' '.join(wanted)}",
            timeout=60,
        )
        following: set[str] = set()
        for fields in _paragraphs(out):
            name = fields["Package"]
            try:
                chosen[name] = Deb(
                    package=name,
                    version=fields["Version"],
                    architecture=fields["Architecture"],
                    sha256=fields["SHA256"],
                    size=int(fields["Size"]),
                )
            except (KeyError, ValueError) as exc:
                raise DevEnvError(f"apt-cache's entry for {name} lacks {exc}") from exc
            for alternatives in _clauses(fields):
                if any(a in chosen or a in following or a in skip for a in alternatives):
                    continue
                following.add(alternatives[0])
        missing = set(wanted) - set(chosen)
        if missing:
            raise DevEnvError(f"apt-cache has no installable package {sorted(missing)}")
        wanted = sorted(following - set(chosen))
    return tuple(sorted(chosen.values()))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(debs: Iterable[Deb], cache: Path) -> dict[Deb, Path]:
    """Each package's ``.deb`` in ``cache``, downloading the missing ones."""
    cache.mkdir(parents=True, exist_ok=True)
    paths = {deb: cache / f"{deb.sha256}.deb" for deb in debs}
    missing = [deb for deb, path in paths.items() if not path.is_file()]
    if missing:
        with tempfile.TemporaryDirectory(dir=cache, prefix=".download-") as scratch:
            _run(
                ["apt-get", "download", *(f"{d.package}={d.version}" for d in missing)],
                what="apt-get download",
                timeout=600,
                cwd=Path(scratch),
            )
            by_digest = {_sha256(p): p for p in Path(scratch).glob("*.deb")}
            for deb in missing:
                found = by_digest.get(deb.sha256)
                if found is None:
                    raise DevEnvError(
                        f"apt-get download gave no file with the SHA-256 apt's index lists for "
                        f"{deb.package} {deb.version}"
                    )
                found.replace(paths[deb])
    return paths


def unpack(paths: Mapping[Deb, Path], rootfs: Path) -> None:
    """Unpack each package's files into ``rootfs`` (``dpkg-deb -x``), in package order."""
    if shutil.which("dpkg-deb") is None:
        raise ConfigError("dpkg-deb is missing: the images need Debian's dpkg tools")
    for deb in sorted(paths):
        _run(
            ["dpkg-deb", "-x", str(paths[deb]), str(rootfs)],
            what=f"dpkg-deb -x {deb.package}",
            timeout=300,
        )
