"""The model-server stand-in as the tests run it: a real process on a loopback port.

It is started the way its image starts it: the package copied as the top-level ``modelserver``
and run with ``python -S -E -m modelserver``. ``-S`` leaves out site-packages, so a third-party
import in it would fail here, as it would in the image.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from orchestrator.devenv import procs
from orchestrator.devenv.modelserver import check

PACKAGE = Path(check.__file__).parent
MODEL = "gridshift/standin-8b"


@dataclass
class Server:
    """One running model server."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


@contextmanager
def modelserver(workdir: Path, *flags: str) -> Iterator[Server]:
    """A model server on a free loopback port; stopped (SIGKILL if need be) on the way out."""
    root = workdir / "pkg"
    if not (root / "modelserver").exists():
        shutil.copytree(PACKAGE, root / "modelserver", ignore=shutil.ignore_patterns("__pycache__"))
    port = procs.free_port()
    log = workdir / f"modelserver-{port}.log"
    command = [sys.executable, "-S", "-E", "-m", "modelserver"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--cluster", "test-cluster", *flags]
    with log.open("wb") as sink:
        process = subprocess.Popen(command, cwd=root, stdout=sink, stderr=subprocess.STDOUT)
    server = Server(process, port, log)
    try:
        if not procs.wait_port(port, timeout_seconds=10):
            raise AssertionError(f"the model server did not listen:\n{server.log_text()}")
        yield server
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


def wait_ready(server: Server, *, timeout_seconds: float) -> float:
    """Poll /health until 200; the monotonic time it first answered 200."""
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if httpx.get(server.url + "/health", timeout=2).status_code == 200:
            return time.monotonic()
        time.sleep(0.05)
    raise AssertionError(f"not ready within {timeout_seconds} s:\n{server.log_text()}")


def stream(url: str, path: str, body: dict[str, object]) -> list[str]:
    """POST with ``stream: true``; the ``data:`` payloads received, in order."""
    with httpx.stream("POST", url + path, json={**body, "stream": True}, timeout=60) as answer:
        answer.raise_for_status()
        return check.sse_data(answer.iter_lines())


def metric(text: str, name: str) -> float:
    """The value of the first sample of ``name`` in a Prometheus exposition."""
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no sample of {name} in:\n{text}")
