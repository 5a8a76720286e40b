"""Processes of the local fleet: find them, stop them, free loopback ports.

The fleet's daemons are forked by kwokctl and pg_ctl, so they are not our children. We find them
through ``/proc`` by a marker in their command line (the fleet's working directory) and treat a
zombie as gone: it holds no port and no memory, only a slot its parent has not reaped.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


@dataclass(frozen=True)
class Process:
    """One live process seen in /proc."""

    pid: int
    name: str
    cmdline: str
    rss_bytes: int


def _stat_state(pid: int) -> str | None:
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # the state follows the parenthesised command name, which may itself hold spaces
    return stat.rsplit(")", 1)[1].split()[0]


def is_alive(pid: int) -> bool:
    """Whether ``pid`` runs (exists and is not a zombie)."""
    state = _stat_state(pid)
    return state is not None and state not in ("Z", "X")


def _rss_bytes(pid: int) -> int:
    try:
        for line in (PROC / str(pid) / "status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return 0
    return 0


def _ancestors() -> set[int]:
    """This process and its parents (a shell, `uv run`, ...), which name the marker too."""
    chain = {os.getpid()}
    pid = os.getppid()
    while pid > 1 and pid not in chain:
        chain.add(pid)
        try:
            status = (PROC / str(pid) / "status").read_text()
        except OSError:
            break
        pid = next(
            (int(line.split()[1]) for line in status.splitlines() if line.startswith("PPid:")), 0
        )
    return chain


def find(marker: str, *, program_under: bool = False) -> list[Process]:
    """Live processes whose command line contains ``marker``; never this one or its parents.

    With ``program_under``, only processes whose program path starts with ``marker``.
    """
    found: list[Process] = []
    skip = _ancestors()
    for entry in PROC.iterdir():
        if not entry.name.isdigit() or int(entry.name) in skip:
            continue
        pid = int(entry.name)
        try:
            raw = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        cmdline = raw.replace(b"\0", b" ").decode(errors="replace").strip()
        matches = cmdline.startswith(marker) if program_under else marker in cmdline
        if matches and is_alive(pid):
            name = Path(cmdline.split(" ", 1)[0]).name
            found.append(Process(pid, name, cmdline, _rss_bytes(pid)))
    return found


def terminate(pids: list[int], *, grace_seconds: float = 15.0) -> list[int]:
    """SIGTERM ``pids``, SIGKILL what still runs after the grace period; return those killed."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_seconds
    while time.monotonic() < deadline and any(is_alive(p) for p in pids):
        time.sleep(0.1)
    killed = [p for p in pids if is_alive(p)]
    for pid in killed:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline and any(is_alive(p) for p in killed):
        time.sleep(0.1)
    return killed


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_port(port: int, *, timeout_seconds: float) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:``port`` within the timeout."""
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return True
        time.sleep(0.2)
    return False
