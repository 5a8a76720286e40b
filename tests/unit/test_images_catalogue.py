"""The image builder's pure parts: apt's answers parsed, the catalogue's configs, the launcher."""

from __future__ import annotations

import pytest

from orchestrator.devenv.images import IMAGES, catalogue, debian, image_config
from orchestrator.devenv.images.payloads import launcher_script
from orchestrator.errors import ConfigError

APT_CACHE_SHOW = """\
Package: libpython3.11-stdlib
Version: 3.11.2-6+deb12u9
Architecture: amd64
Depends: libpython3.11-minimal (= 3.11.2-6+deb12u9), media-types | mime-support,
 libbz2-1.0, libc6 (>= 2.34)
Pre-Depends: dpkg:any (>= 1.17)
Size: 1798408
SHA256: 10f13e000ee757f5f2d2d3569f9e30546214a0c850acd78695feae373bfa3e53
Description: Interactive high-level object-oriented language
 (standard library, version 3.11)

Package: tzdata
Version: 2026f-0+deb12u1
Architecture: all
Depends: debconf (>= 0.5) | debconf-2.0
Size: 307832
SHA256: 3254eb870c8a949518214805aee5e4276af7699988ea8b9a3a583cd0f1eab31c
"""


def test_apt_cache_paragraphs_and_their_dependency_clauses() -> None:
    """Continuation lines, alternatives, version constraints and :any qualifiers."""
    stdlib, tz = debian._paragraphs(APT_CACHE_SHOW)
    assert stdlib["Version"] == "3.11.2-6+deb12u9"
    assert debian._clauses(stdlib) == [
        ["dpkg"],
        ["libpython3.11-minimal"],
        ["media-types", "mime-support"],
        ["libbz2-1.0"],
        ["libc6"],
    ]
    assert debian._clauses(tz) == [["debconf", "debconf-2.0"]]


def test_every_exclusion_says_why() -> None:
    assert set(catalogue.EXCLUDED_PACKAGES) == {"debconf", "debconf-2.0", "openssl", "dpkg"}
    assert all(len(reason) > 20 for reason in catalogue.EXCLUDED_PACKAGES.values())
    assert not set(catalogue.EXCLUDED_PACKAGES) & set(catalogue.PYTHON_PACKAGES)


@pytest.mark.parametrize("name", IMAGES)
def test_each_image_runs_unprivileged_with_an_absolute_entrypoint(name: str) -> None:
    config = image_config(name)
    uid, _, gid = config.user.partition(":")
    assert int(uid) > 0
    assert int(gid) > 0
    assert config.entrypoint[0].startswith("/")
    document = config.oci()
    assert document["User"] == config.user
    assert all(value for value in document.values())  # empty fields are left out, as umoci does


def test_the_operator_config() -> None:
    config = image_config("operator")
    assert config.user == "10001:10001"
    assert (config.entrypoint, config.cmd) == (("/usr/local/bin/gridshift",), ("run",))
    assert config.exposed_ports == ("8080/tcp",)
    env = dict(config.env)
    assert env["GRIDSHIFT_WEBHOOK_HOST"] == "0.0.0.0"  # noqa: S104 - in a pod
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert image_config("operator").oci()["ExposedPorts"] == {"8080/tcp": {}}


def test_an_unknown_image_is_refused_with_the_names() -> None:
    with pytest.raises(ConfigError, match="pause, modelserver, operator"):
        image_config("nginx")


def test_the_launcher_runs_the_console_script_of_pyproject() -> None:
    text = launcher_script()
    assert text.startswith(f"#!{catalogue.PYTHON}\n")
    assert "from orchestrator.cli import app\n" in text
    compile(text, "gridshift", "exec")
