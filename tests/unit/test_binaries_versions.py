"""Reading the versions the fleet's binaries report, and what is required of the directory."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from orchestrator.devenv.binaries import (
    CONTROL_PLANE,
    EDGE,
    REAL_NODE,
    REQUIRED,
    Binaries,
    locate_binaries,
)
from orchestrator.errors import ConfigError

TRAEFIK_OUTPUT = """Version:      v3.6.12
Codename:     cheddar
Go version:   go1.26.8
Built:        1970-01-01T00:00:00Z
OS/Arch:      linux/amd64
"""


def _script(directory: Path, name: str, output: str) -> None:
    """A stand-in binary that prints ``output`` whatever its arguments."""
    path = directory / name
    path.write_text(f"#!/bin/sh\ncat <<'EOF'\n{output}EOF\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def test_traefik_version_is_read_from_its_version_line(tmp_path: Path) -> None:
    _script(tmp_path, "traefik", TRAEFIK_OUTPUT)
    assert Binaries(tmp_path).traefik_version() == "v3.6.12"


def test_a_traefik_built_without_version_ldflags_is_refused(tmp_path: Path) -> None:
    """A plain `go build` prints Version: dev; the message says how to get a pinned build."""
    _script(tmp_path, "traefik", TRAEFIK_OUTPUT.replace("v3.6.12", "dev"))
    with pytest.raises(ConfigError, match=r"build-k8s-binaries\.sh"):
        Binaries(tmp_path).traefik_version()


def test_toxiproxy_version_gets_the_v_of_its_pin(tmp_path: Path) -> None:
    _script(tmp_path, "toxiproxy-server", "toxiproxy-server version 2.12.0\n")
    assert Binaries(tmp_path).toxiproxy_version() == "v2.12.0"


def test_a_toxiproxy_without_version_is_refused(tmp_path: Path) -> None:
    _script(tmp_path, "toxiproxy-server", "toxiproxy-server version git\n")
    with pytest.raises(ConfigError, match="toxiproxy-server -version printed"):
        Binaries(tmp_path).toxiproxy_version()


def test_a_missing_binary_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="could not run"):
        Binaries(tmp_path).traefik_version()


def test_the_directory_must_hold_the_real_node_and_edge_binaries(tmp_path: Path) -> None:
    for name in REQUIRED:
        if name not in ("kube-proxy", "traefik"):
            _script(tmp_path, name, "")
    with pytest.raises(ConfigError, match=r"missing in .*: kube-proxy, traefik\."):
        locate_binaries(tmp_path)
    _script(tmp_path, "kube-proxy", "")
    _script(tmp_path, "traefik", "")
    assert locate_binaries(tmp_path).directory == tmp_path


def test_required_is_every_group_once() -> None:
    assert set(CONTROL_PLANE) | set(REAL_NODE) | set(EDGE) | {"helm"} == set(REQUIRED)
    assert len(set(REQUIRED)) == len(REQUIRED)
