"""The image builder: same inputs give the same bytes; the cache answers; inputs change the key.

Each test builds into caches of its own, seeded with the Debian packages the default cache holds
already (`make images` fetched them), so nothing is downloaded here.
"""

from __future__ import annotations

import hashlib
import shutil
import time
from pathlib import Path

import pytest

from orchestrator.devenv.images import ensure_image
from orchestrator.errors import ConfigError
from orchestrator.settings import Settings


def _cache(tmp_path: Path, name: str) -> Path:
    cache = tmp_path / name
    seeded = Settings().cache / "images" / "debs"
    if seeded.is_dir():
        shutil.copytree(seeded, cache / "debs")
    return cache


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("name", ["pause", "modelserver"])
def test_two_builds_from_the_same_inputs_are_byte_for_byte_equal(tmp_path: Path, name: str) -> None:
    first = ensure_image(name, cache_dir=_cache(tmp_path, "one"))
    second = ensure_image(name, cache_dir=_cache(tmp_path, "two"))
    assert not first.from_cache
    assert not second.from_cache
    assert first.path != second.path
    assert (first.digest, first.ref) == (second.digest, second.ref)
    assert _sha256(first.path) == _sha256(second.path)


def test_the_second_call_comes_from_the_cache(tmp_path: Path) -> None:
    cache = _cache(tmp_path, "cache")
    built = ensure_image("pause", cache_dir=cache)
    started = time.monotonic()
    again = ensure_image("pause", cache_dir=cache)
    assert again.from_cache
    assert (again.path, again.digest) == (built.path, built.digest)
    assert time.monotonic() - started < 5


def test_another_epoch_is_another_image(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = _cache(tmp_path, "cache")
    default = ensure_image("pause", cache_dir=cache)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "86400")
    later = ensure_image("pause", cache_dir=cache)
    assert later.digest != default.digest
    assert later.ref != default.ref
    assert default.path.exists()  # both stay cached


def test_bad_requests_are_refused_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ConfigError, match="pause, modelserver, operator"):
        ensure_image("nginx", cache_dir=tmp_path)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    with pytest.raises(ConfigError, match="SOURCE_DATE_EPOCH"):
        ensure_image("pause", cache_dir=tmp_path)
