"""The images are real: built (cached), imported into a containerd of their own, run with ctr."""

from __future__ import annotations

import json
import signal
import tarfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from orchestrator import __version__
from orchestrator.devenv import procs
from orchestrator.devenv.images import ImageArchive, ensure_image, image_config
from orchestrator.devenv.images.catalogue import USER_ID
from orchestrator.devenv.modelserver import check
from orchestrator.ledger.schema import head_revision
from tests.containerd import Containerd, throwaway_containerd
from tests.modelserver import stream

MODEL = "gridshift/standin-8b"


@pytest.fixture(scope="module")
def images() -> dict[str, ImageArchive]:
    """The three images, from the cache when they were built before."""
    return {name: ensure_image(name) for name in ("pause", "modelserver", "operator")}


@pytest.fixture(scope="module")
def runtime(images: dict[str, ImageArchive]) -> Iterator[Containerd]:
    """A containerd of the tests' own with the images imported."""
    with throwaway_containerd(images["pause"]) as started:
        for archive in images.values():
            started.load(archive)
        yield started


def _archive_config(archive: ImageArchive) -> dict[str, object]:
    """The OCI config inside the archive, found through index.json and the manifest."""
    with tarfile.open(archive.path) as tar:

        def blob(digest: str) -> dict[str, object]:
            member = tar.extractfile("blobs/sha256/" + digest.removeprefix("sha256:"))
            assert member is not None
            loaded: dict[str, object] = json.load(member)
            return loaded

        index_file = tar.extractfile("index.json")
        assert index_file is not None
        index = json.load(index_file)
        assert index["manifests"][0]["digest"] == archive.digest
        manifest = blob(archive.digest)
        return blob(manifest["config"]["digest"])  # type: ignore[index]


def _uid(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError(f"no Uid line for {pid}")


@pytest.mark.parametrize("name", ["pause", "modelserver", "operator"])
def test_the_archive_holds_the_config_the_catalogue_declares(
    images: dict[str, ImageArchive], name: str
) -> None:
    """What was written is what :func:`image_config` says (and the Dockerfile test checks)."""
    written = _archive_config(images[name])
    assert written["config"] == image_config(name).oci()
    assert written["created"] == "1970-01-01T00:00:00Z"
    assert (written["os"], written["architecture"]) == ("linux", "amd64")


def test_the_pause_image_sleeps_until_sigterm_and_exits_0(
    runtime: Containerd, images: dict[str, ImageArchive]
) -> None:
    name = f"pause-{uuid.uuid4().hex[:8]}"
    running = runtime.start(images["pause"].ref, name, flags=["--read-only"])
    try:
        pid = runtime.task_pid(name)
        assert _uid(pid) == 65535
        assert running.poll() is None
        runtime.ctr("tasks", "kill", name)  # SIGTERM
        assert running.wait(timeout=10) == 0
    finally:
        if running.poll() is None:
            running.kill()


def test_the_modelserver_image_answers_streams_and_drains(
    runtime: Containerd, images: dict[str, ImageArchive]
) -> None:
    """On the host's loopback: ready, a correct completion and stream, SIGTERM exits 0."""
    port = procs.free_port()
    env = {
        "MODELSERVER_HOST": "127.0.0.1",
        "MODELSERVER_PORT": str(port),
        "MODELSERVER_INIT_SECONDS": "1",
        "MODELSERVER_MODEL_SIZE_GB": "0",
        "MODELSERVER_TOKENS_PER_SECOND": "100",
        "MODELSERVER_CLUSTER": "image-test",
    }
    flags = ["--net-host", "--read-only", *(f"--env={k}={v}" for k, v in env.items())]
    name = f"modelserver-{uuid.uuid4().hex[:8]}"
    running = runtime.start(images["modelserver"].ref, name, flags=flags)
    url = f"http://127.0.0.1:{port}"
    try:
        assert _uid(runtime.task_pid(name)) == USER_ID
        assert procs.wait_port(port, timeout_seconds=30), running.stdout
        deadline = time.monotonic() + 30
        while httpx.get(url + "/health", timeout=2).status_code != 200:
            assert time.monotonic() < deadline, "the model server in the image never got ready"
            time.sleep(0.1)
        body: dict[str, object] = {"prompt": "from a container", "max_tokens": 30}
        answer = httpx.post(url + "/v1/completions", json=body, timeout=10)
        assert answer.status_code == 200
        assert answer.headers["x-gridshift-cluster"] == "image-test"
        assert check.problems_in_answer("completion", body, answer.json(), model=MODEL) == []
        chat: dict[str, object] = {
            "messages": [{"role": "user", "content": "hi"}],
            "max_tokens": 50,
        }
        events = stream(url, "/v1/chat/completions", chat)
        assert check.problems_in_stream("chat", chat, events, model=MODEL) == []
        runtime.ctr("tasks", "kill", "--signal", signal.SIGTERM.name, name)
        assert running.wait(timeout=30) == 0
    finally:
        if running.poll() is None:
            running.kill()


def test_the_operator_image_runs_gridshift_as_10001_on_a_read_only_root(
    runtime: Containerd, images: dict[str, ImageArchive]
) -> None:
    ref = images["operator"].ref

    def run(*args: str) -> tuple[int, str]:
        return runtime.run(ref, f"op-{uuid.uuid4().hex[:8]}", args, flags=["--read-only"])

    code, output = run("/usr/local/bin/gridshift", "version")
    assert (code, output.strip()) == (0, __version__)
    code, output = run("/usr/local/bin/gridshift", "--help")
    assert code == 0
    assert "dev" in output
    assert "run" in output
    probe = (
        "import os, ssl, zoneinfo\n"
        "from orchestrator.ledger.schema import head_revision\n"
        "print(os.getuid(), os.getgid(), head_revision(), os.path.exists('/bin/sh'))\n"
        "print(ssl.create_default_context().cert_store_stats()['x509_ca'] > 100)\n"
        "print(zoneinfo.ZoneInfo('Asia/Shanghai').key)\n"
        "import orchestrator.cli\n"
        "print(orchestrator.cli.__cached__ is not None and os.path.exists(orchestrator.cli.__cached__))\n"
        "try:\n"
        "    open('/usr/local/lib/python3.11/dist-packages/orchestrator/x.pyc', 'wb')\n"
        "except OSError as exc:\n"
        "    print(exc.errno)\n"
    )
    code, output = run("/usr/bin/python3.11", "-c", probe)
    assert code == 0, output
    uid_line, certs, zone, cached, errno = output.strip().splitlines()
    # the Alembic revisions are found where the ledger looks; there is no shell
    assert uid_line == f"{USER_ID} {USER_ID} {head_revision()} False"
    assert certs == "True"
    assert zone == "Asia/Shanghai"
    assert cached == "True"  # bytecode compiled at build time
    assert errno == "30"  # EROFS: nothing writes into the image
