"""What a root file system needs beyond its packages' files, done once by the builder.

Debian's maintainer scripts never run in these images; the little of their work that matters at
run time is done here, deterministically:

- accounts: ``/etc/passwd`` and ``/etc/group`` with root, nobody and gridshift (10001);
- the CA bundle ``/etc/ssl/certs/ca-certificates.crt``, the PEM files of ``ca-certificates``
  concatenated in path order (what ``update-ca-certificates`` writes), and OpenSSL's default
  paths pointing at it (``/usr/lib/ssl/cert.pem``, ``/usr/lib/ssl/certs``; those links belong
  to the ``openssl`` package, which is left out);
- the time zone: ``/etc/localtime`` is UTC (what tzdata's script sets without an answer);
- bytecode: ``python3.11 -m compileall --invalidation-mode checked-hash`` run inside the root
  (``chroot``, so the image's own interpreter compiles), since Debian compiles in ``postinst``
  and a read-only image cannot write ``.pyc`` files later. Hash-based ``.pyc`` files hold no
  time stamp, so they are reproducible and stay valid whatever the files' mtimes;
- documentation pruned (man pages, info, lintian overrides; ``/usr/share/doc`` keeps only each
  package's ``copyright``), as Debian's own slim images do;
- every mtime set to one instant (``SOURCE_DATE_EPOCH``) before the layer is packed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

from orchestrator.devenv.images.catalogue import PATH, PYTHON, USER_ID, USER_NAME
from orchestrator.errors import ConfigError, DevEnvError

PRUNED = ("usr/share/man", "usr/share/info", "usr/share/lintian")
CA_BUNDLE = "etc/ssl/certs/ca-certificates.crt"


def write(rootfs: Path, path: str, content: str | bytes, *, mode: int = 0o644) -> Path:
    """Write one file at ``path`` (relative to the root), making its directories."""
    target = rootfs / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(content.encode() if isinstance(content, str) else content)
    target.chmod(mode)
    return target


def symlink(rootfs: Path, path: str, points_to: str) -> None:
    """Make ``path`` a symbolic link to ``points_to`` (replacing what was there)."""
    link = rootfs / path
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(points_to)


def write_accounts(rootfs: Path) -> None:
    """root, nobody/nogroup and gridshift (uid and gid 10001), none with a home or a shell."""
    nologin = "/usr/sbin/nologin"
    write(
        rootfs,
        "etc/passwd",
        f"root:x:0:0:root:/root:{nologin}\n"
        f"nobody:x:65534:65534:nobody:/nonexistent:{nologin}\n"
        f"{USER_NAME}:x:{USER_ID}:{USER_ID}:{USER_NAME}:/nonexistent:{nologin}\n",
    )
    write(rootfs, "etc/group", f"root:x:0:\nnogroup:x:65534:\n{USER_NAME}:x:{USER_ID}:\n")


def write_ca_bundle(rootfs: Path) -> int:
    """The CA bundle from ``ca-certificates``' PEM files; the number of certificates."""
    pems = sorted((rootfs / "usr/share/ca-certificates").rglob("*.crt"))
    if not pems:
        raise DevEnvError("no certificates under usr/share/ca-certificates: is it unpacked?")
    bundle = "".join(p.read_text().rstrip("\n") + "\n" for p in pems)
    write(rootfs, CA_BUNDLE, bundle)
    symlink(rootfs, "usr/lib/ssl/cert.pem", "/" + CA_BUNDLE)
    symlink(rootfs, "usr/lib/ssl/certs", "/etc/ssl/certs")
    return bundle.count("BEGIN CERTIFICATE")


def set_timezone(rootfs: Path, zone: str = "Etc/UTC") -> None:
    """``/etc/localtime`` and ``/etc/timezone`` for ``zone`` (tzdata's files must be there)."""
    if not (rootfs / "usr/share/zoneinfo" / zone).is_file():
        raise DevEnvError(f"usr/share/zoneinfo/{zone} is missing: is tzdata unpacked?")
    symlink(rootfs, "etc/localtime", f"/usr/share/zoneinfo/{zone}")
    write(rootfs, "etc/timezone", zone + "\n")


def make_tmp(rootfs: Path) -> None:
    """``/tmp`` (mode 1777), where a pod mounts its writable scratch space."""
    tmp = rootfs / "tmp"
    tmp.mkdir(exist_ok=True)
    tmp.chmod(0o1777)


def prune_docs(rootfs: Path) -> None:
    """Remove man pages, info and lintian files; keep only ``copyright`` in ``/usr/share/doc``."""
    for relative in PRUNED:
        shutil.rmtree(rootfs / relative, ignore_errors=True)
    docs = rootfs / "usr/share/doc"
    if not docs.is_dir():
        return
    for package in docs.iterdir():
        if package.is_symlink() or not package.is_dir():
            continue
        for entry in package.iterdir():
            if entry.name == "copyright":
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()


def compile_python(rootfs: Path, directories: Iterable[str]) -> None:
    """Compile every module under ``directories`` (paths inside the image) with its Python."""
    chroot = shutil.which("chroot")
    if chroot is None:
        raise ConfigError("chroot is missing (Debian's coreutils has it)")
    argv = [chroot, str(rootfs), PYTHON, "-I", "-m", "compileall", "-q"]
    argv += ["--invalidation-mode", "checked-hash", *directories]
    try:
        done = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=900,
            env={"PATH": PATH, "LANG": "C.UTF-8"},
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DevEnvError(f"compiling Python modules in the image failed: {exc}") from exc
    if done.returncode != 0:
        output = (done.stdout + done.stderr).strip()[-1500:]
        raise DevEnvError(f"compileall failed in the image (exit {done.returncode}): {output}")


def set_mtimes(rootfs: Path, epoch: int) -> None:
    """Every entry's mtime (and atime) set to ``epoch``, links themselves rather than targets."""
    for directory, dirs, files in os.walk(rootfs, topdown=False):
        for name in (*files, *dirs):
            os.utime(Path(directory) / name, (epoch, epoch), follow_symlinks=False)
    os.utime(rootfs, (epoch, epoch))
