"""The Dockerfile describes the image `make image` builds: base, packages, user, entrypoint, ports,
environment, labels, where gridshift and its migrations go, the launcher, no shell; and the chart
runs that image as its user, on a read-only root, at its port."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import yaml

from orchestrator.devenv.images import catalogue, image_config
from orchestrator.devenv.images.payloads import launcher_script

ROOT = Path(__file__).resolve().parents[2]
Instruction = tuple[str, str]


def _instructions() -> list[Instruction]:
    """(KEYWORD, arguments) of each instruction, continuation lines joined, comments dropped."""
    lines = [
        line
        for line in (ROOT / "Dockerfile").read_text().splitlines()
        if not line.lstrip().startswith("#")
    ]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    found = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, rest = line.strip().partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def _stages() -> list[list[Instruction]]:
    stages: list[list[Instruction]] = []
    for keyword, rest in _instructions():
        if keyword == "FROM":
            stages.append([])
        stages[-1].append((keyword, rest))
    return stages


def _final() -> list[Instruction]:
    return _stages()[-1]


def _one(stage: list[Instruction], keyword: str) -> str:
    values = [rest for kw, rest in stage if kw == keyword]
    assert len(values) == 1, f"the final stage has {len(values)} {keyword} instructions"
    return values[0]


def _pairs(stage: list[Instruction], keyword: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for kw, rest in stage:
        if kw == keyword:
            pairs.update(item.split("=", 1) for item in shlex.split(rest))
    return pairs


def _runs(stage: list[Instruction]) -> str:
    return " ".join(rest for kw, rest in stage if kw == "RUN")


CONFIG = image_config("operator")


def test_both_stages_start_from_debian_of_the_builders_suite() -> None:
    bases = [stage[0][1].split()[0] for stage in _stages()]
    assert bases == [f"debian:{catalogue.SUITE}-slim"] * 2


def test_the_runtime_stage_installs_the_builders_debian_packages() -> None:
    match = re.search(r"apt-get install -y --no-install-recommends ([^&]+)", _runs(_final()))
    assert match is not None
    assert sorted(match.group(1).split()) == sorted(catalogue.PYTHON_PACKAGES)


def test_user_entrypoint_cmd_ports_workdir() -> None:
    final = _final()
    assert _one(final, "USER") == CONFIG.user
    assert tuple(json.loads(_one(final, "ENTRYPOINT"))) == CONFIG.entrypoint
    assert tuple(json.loads(_one(final, "CMD"))) == CONFIG.cmd
    assert tuple(_one(final, "EXPOSE").split()) == CONFIG.exposed_ports
    assert _one(final, "WORKDIR") == CONFIG.working_dir
    runs = _runs(final)
    assert f"groupadd --gid {catalogue.USER_ID} {catalogue.USER_NAME}" in runs
    assert f"useradd --uid {catalogue.USER_ID} --gid {catalogue.USER_ID}" in runs


def test_environment_and_labels() -> None:
    assert _pairs(_final(), "ENV") == dict(CONFIG.env)
    assert _pairs(_final(), "LABEL") == dict(CONFIG.labels)


def test_gridshift_and_its_migrations_go_where_the_builder_puts_them() -> None:
    build, final = _stages()
    assert f"--from=build /site {catalogue.SITE_PACKAGES}" in _one(final, "COPY")
    build_runs = _runs(build)
    assert "cp -r migrations /site/migrations" in build_runs
    assert build_runs.count(f"--python-platform {catalogue.PYTHON_PLATFORM}") == 2
    assert "uv export --frozen --no-dev --no-emit-project" in build_runs
    assert "--require-hashes" in build_runs


def test_the_launcher_is_the_one_the_builder_writes() -> None:
    runs = _runs(_final())
    match = re.search(r"printf '%s\\n' (.+?) > /usr/local/bin/gridshift", runs)
    assert match is not None
    assert "\n".join(shlex.split(match.group(1))) + "\n" == launcher_script()
    assert CONFIG.entrypoint == ("/usr/local/bin/gridshift",)


def test_the_pinned_uv_is_the_makefiles() -> None:
    makefile = (ROOT / "Makefile").read_text()
    pinned = re.search(r"^UV_VERSION := (\S+)$", makefile, re.MULTILINE)
    assert pinned is not None
    assert f"uv=={pinned.group(1)}" in _runs(_stages()[0])


SHELLS = ("sh", "dash", "bash", "rbash")
"""Every shell debian:bookworm-slim ships (merged /usr: /bin is /usr/bin)."""


def test_the_runtime_stage_ends_with_no_shell() -> None:
    """The last RUN removes every shell, and no RUN comes after it (it would need one)."""
    final = _final()
    runs = [rest for kw, rest in final if kw == "RUN"]
    removed = re.search(r"rm -f ((?:/usr/bin/\w+ ?)+)$", runs[-1])
    assert removed is not None, runs[-1]
    assert sorted(removed.group(1).split()) == sorted(f"/usr/bin/{s}" for s in SHELLS)
    last_run = max(i for i, (kw, _) in enumerate(final) if kw == "RUN")
    assert all(kw != "RUN" for kw, _ in final[last_run + 1 :])


def test_the_chart_runs_the_image_as_its_user_on_a_read_only_root_at_its_port() -> None:
    """The chart's security contexts and port are the image's: uid/gid 10001, non-root, a
    read-only root file system, no privilege escalation, no capabilities, port 8080."""
    values = yaml.safe_load((ROOT / "helm" / "gridshift" / "values.yaml").read_text())
    pod, container = values["podSecurityContext"], values["securityContext"]
    assert f"{pod['runAsUser']}:{pod['runAsGroup']}" == CONFIG.user
    assert pod["runAsNonRoot"] is True
    assert container["readOnlyRootFilesystem"] is True
    assert container["allowPrivilegeEscalation"] is False
    assert container["capabilities"] == {"drop": ["ALL"]}
    assert (f"{values['webhook']['port']}/tcp",) == CONFIG.exposed_ports
    test_pod = (
        ROOT / "helm" / "gridshift" / "templates" / "tests" / "test-healthz.yaml"
    ).read_text()
    assert f"runAsUser: {catalogue.USER_ID}" in test_pod
    assert "readOnlyRootFilesystem: true" in test_pod
