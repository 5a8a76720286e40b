"""Build an image once per set of inputs, and find it in the cache every later time.

An image's cache key is the SHA-256 of a JSON document of everything it is made from: the
builder's own source, umoci's version, the exact Debian packages (name, version, SHA-256), the
payload's files, the OCI config, the epoch (``SOURCE_DATE_EPOCH``, default 0) and, for the
operator, uv's version. The entry is ``<cache>/<name>-<key[:16]>/`` with ``image.tar`` (the OCI
layout, for ``ctr images import``) and ``image.json`` (what :class:`ImageArchive` says, and the
inputs). Builds happen in a scratch directory beside it and are renamed into place, under a
per-image file lock, so a half-built image is never found and two builders never race. The
Python base layer is cached the same way (``python-base-<key>/oci``) and shared by the
``modelserver`` and ``operator`` images. The three most recently used entries of each image stay;
older ones are removed.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from orchestrator.devenv.images import catalogue, debian, oci, payloads, rootfs
from orchestrator.errors import ConfigError
from orchestrator.settings import get_settings

Progress = Callable[[str], None]
KEEP_PER_IMAGE = 3
BASE_TAG = "python-base"
BUILDER = sorted(Path(__file__).resolve().parent.glob("*.py"))


@dataclass(frozen=True)
class ImageArchive:
    """A built image: its archive, the reference it gets when imported, its digest and size."""

    name: str
    path: Path
    ref: str
    digest: str
    size_bytes: int
    from_cache: bool

    @property
    def base_name(self) -> str:
        """The reference without its tag: ``ctr images import --base-name`` takes this."""
        return self.ref.rsplit(":", 1)[0]

    def import_command(
        self, *, address: Path | str, namespace: str = "k8s.io", ctr: str = "ctr"
    ) -> list[str]:
        """The ``ctr`` command that loads this image into the containerd at ``address``."""
        return [
            ctr,
            "--address",
            str(address),
            "--namespace",
            namespace,
            "images",
            "import",
            "--base-name",
            self.base_name,
            str(self.path),
        ]


def _epoch() -> int:
    text = os.environ.get("SOURCE_DATE_EPOCH", "0")
    try:
        return int(text)
    except ValueError as exc:
        raise ConfigError(f"SOURCE_DATE_EPOCH must be whole seconds, got {text!r}") from exc


def _digest_files(files: Sequence[tuple[str, Path]]) -> dict[str, str]:
    return {name: hashlib.sha256(path.read_bytes()).hexdigest() for name, path in files}


def _listed(debs: Sequence[debian.Deb]) -> list[list[str]]:
    return [[str(v) for v in dataclasses.astuple(deb)] for deb in debs]


def _key(document: dict[str, object]) -> str:
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()


def _check_root() -> None:
    if os.geteuid() != 0:
        raise ConfigError(
            "building images needs root: umoci unpack keeps the files' owners and chroot runs "
            "the image's own Python to compile it; run as root or with sudo"
        )


@contextmanager
def _locked(cache: Path, stem: str) -> Iterator[None]:
    cache.mkdir(parents=True, exist_ok=True)
    with (cache / f".{stem}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _common_inputs(epoch: int) -> dict[str, object]:
    return {
        "builder": _digest_files([(p.name, p) for p in BUILDER]),
        "umoci": oci.umoci_version(),
        "epoch": epoch,
    }


def _python_base(cache: Path, epoch: int, progress: Progress) -> tuple[oci.Layout, str]:
    """The Debian Python layer, built once per set of packages; its layout and key."""
    progress("python-base: resolving Debian packages")
    debs = debian.resolve(
        catalogue.PYTHON_PACKAGES, excluded=catalogue.EXCLUDED_PACKAGES, memo=cache / "debs"
    )
    inputs = {"image": BASE_TAG, **_common_inputs(epoch), "debs": _listed(debs)}
    key = _key(inputs)
    entry = cache / f"{BASE_TAG}-{key[:16]}"
    with _locked(cache, BASE_TAG):
        if not (entry / "oci" / "index.json").is_file():
            _check_root()
            progress(f"python-base: building from {len(debs)} Debian packages")
            with tempfile.TemporaryDirectory(dir=cache, prefix=f".{BASE_TAG}-") as scratch:
                work = Path(scratch) / "entry"
                work.mkdir()
                layout = oci.Layout.new(work / "oci", BASE_TAG)
                paths = debian.fetch(debs, cache / "debs")
                bundle = Path(scratch) / "bundle"
                made_by = f"gridshift: Debian {catalogue.SUITE} python3.11 ({len(debs)} packages)"
                with layout.layer(bundle, epoch=epoch, created_by=made_by) as root:
                    debian.unpack(paths, root)
                    rootfs.prune_docs(root)
                    rootfs.write_accounts(root)
                    rootfs.write_ca_bundle(root)
                    rootfs.set_timezone(root)
                    rootfs.make_tmp(root)
                    (root / catalogue.SITE_PACKAGES.lstrip("/")).mkdir(parents=True)
                    rootfs.compile_python(root, ["/usr/lib/python3.11"])
                layout.collect_garbage()
                (work / "inputs.json").write_text(json.dumps(inputs, indent=1, sort_keys=True))
                work.rename(entry)
        _prune(cache, BASE_TAG)
    return oci.Layout(entry / "oci", BASE_TAG), key


def _add_pause(root: Path, paths: dict[debian.Deb, Path], scratch: Path) -> None:
    """Only ``/bin/busybox`` (and its copyright) from busybox-static."""
    unpacked = scratch / "busybox"
    debian.unpack(paths, unpacked)
    rootfs.write(root, "bin/busybox", (unpacked / "bin/busybox").read_bytes(), mode=0o755)
    notice = "usr/share/doc/busybox-static/copyright"
    rootfs.write(root, notice, (unpacked / notice).read_bytes())


def _read_entry(name: str, entry: Path) -> ImageArchive | None:
    meta, tar = entry / "image.json", entry / "image.tar"
    if not (meta.is_file() and tar.is_file()):
        return None
    saved = json.loads(meta.read_text())
    os.utime(meta)  # most recently used
    return ImageArchive(
        name=name,
        path=tar,
        ref=str(saved["ref"]),
        digest=str(saved["digest"]),
        size_bytes=tar.stat().st_size,
        from_cache=True,
    )


def _prune(cache: Path, stem: str) -> None:
    entries = [d for d in cache.glob(f"{stem}-*") if d.is_dir() and not d.name.startswith(".")]
    entries.sort(key=lambda d: max((f.stat().st_mtime for f in d.iterdir()), default=0))
    for old in entries[:-KEEP_PER_IMAGE]:
        shutil.rmtree(old, ignore_errors=True)


def ensure_image(
    name: str, *, cache_dir: Path | None = None, progress: Progress | None = None
) -> ImageArchive:
    """Image ``name`` (see :data:`catalogue.IMAGES`): from the cache, else built and cached."""
    config = catalogue.image_config(name)
    debian.check_suite(catalogue.SUITE)
    cache = cache_dir or get_settings().cache / "images"
    say: Progress = progress or (lambda _message: None)
    epoch = _epoch()
    inputs: dict[str, object] = {"image": name, **_common_inputs(epoch), "config": config.oci()}
    base: oci.Layout | None = None
    pause_debs: dict[debian.Deb, Path] = {}
    uv: Path | None = None
    debs: tuple[debian.Deb, ...] = ()
    if name == "pause":
        debs = debian.resolve(catalogue.PAUSE_PACKAGES, memo=cache / "debs")
        inputs["debs"] = _listed(debs)
    else:
        base, inputs["base"] = _python_base(cache, epoch, say)
        if name == "operator":
            uv = payloads.find_uv()
            inputs["uv"] = payloads.uv_version(uv)
            inputs["files"] = _digest_files(payloads.operator_inputs())
        else:
            inputs["files"] = _digest_files(payloads.modelserver_inputs())
    key = _key(inputs)
    tag = key[:12]
    entry = cache / f"{name}-{key[:16]}"
    with _locked(cache, name):
        found = _read_entry(name, entry)
        if found is not None:
            return found
        _check_root()
        started = time.monotonic()
        with tempfile.TemporaryDirectory(dir=cache, prefix=f".{name}-") as scratch_dir:
            scratch = Path(scratch_dir)
            work = scratch / "entry"
            work.mkdir()
            if base is None:
                layout = oci.Layout.new(scratch / "oci", tag)
                pause_debs = debian.fetch(debs, cache / "debs")
            else:
                layout = oci.Layout.copy_of(base, scratch / "oci", tag)
            say(f"{name}: adding its layer")
            with layout.layer(
                scratch / "bundle", epoch=epoch, created_by=f"gridshift: {name}"
            ) as root:
                if name == "pause":
                    _add_pause(root, pause_debs, scratch)
                elif uv is None:
                    payloads.install_modelserver(root)
                else:
                    payloads.install_operator(root, uv=uv, scratch=scratch)
            layout.configure(config, epoch=epoch)
            layout.collect_garbage()
            say(f"{name}: writing the archive")
            oci.write_archive(layout, work / "image.tar", epoch=epoch)
            ref = f"{catalogue.REF_PREFIX}{name}:{tag}"
            saved = {
                "ref": ref,
                "digest": layout.manifest_digest(),
                "build_seconds": round(time.monotonic() - started, 1),
                "config": layout.config_document(),
                "inputs": inputs,
            }
            (work / "image.json").write_text(json.dumps(saved, indent=1, sort_keys=True))
            work.rename(entry)
        _prune(cache, name)
    built = _read_entry(name, entry)
    if built is None:
        raise ConfigError(f"{entry} vanished right after it was built")
    return dataclasses.replace(built, from_cache=False)
