"""Finding and stopping the fleet's processes through /proc."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid

from orchestrator.devenv import procs


def test_find_and_terminate_a_process_by_marker() -> None:
    marker = f"gridshift-marker-{uuid.uuid4().hex}"
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", marker])
    try:
        deadline = time.monotonic() + 10
        while not (found := procs.find(marker)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [p.pid for p in found] == [child.pid]
        assert procs.is_alive(child.pid)
        assert procs.terminate([child.pid], grace_seconds=5) == []
        child.wait(timeout=5)  # reap: an unreaped child is a zombie, which is not alive
        assert not procs.is_alive(child.pid)
        assert procs.find(marker) == []
    finally:
        child.kill()


def test_a_zombie_counts_as_gone() -> None:
    child = subprocess.Popen(["true"])
    deadline = time.monotonic() + 10
    while procs.is_alive(child.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not procs.is_alive(child.pid)  # exited, but not yet reaped by us: a zombie
    assert (procs.PROC / str(child.pid)).exists()
    child.wait()


def test_free_port_is_free_on_loopback() -> None:
    port = procs.free_port()
    assert 1024 < port < 65536
    assert not procs.wait_port(port, timeout_seconds=0.3)
