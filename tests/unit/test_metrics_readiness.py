"""Readiness checks are cached for a few seconds, shared by concurrent probes, and say why."""

from __future__ import annotations

import asyncio

from orchestrator.controller.http import Readiness
from orchestrator.errors import LedgerError


class Now:
    """A settable monotonic clock."""

    def __init__(self) -> None:
        self.value = 100.0

    def __call__(self) -> float:
        return self.value


def test_checks_run_once_per_ttl_even_under_concurrent_probes() -> None:
    """Ten probes at once run each check once; after the TTL they run again."""
    calls = {"ledger": 0, "hub": 0}

    def ledger() -> None:
        calls["ledger"] += 1

    def hub() -> None:
        calls["hub"] += 1

    now = Now()
    readiness = Readiness({"ledger": ledger, "hub": hub}, ttl=5.0, clock=now)

    async def probes() -> None:
        results = await asyncio.gather(*(readiness.check() for _ in range(10)))
        assert all(r == (True, {"ledger": "ok", "hub": "ok"}) for r in results)
        assert calls == {"ledger": 1, "hub": 1}
        now.value += 4.9
        await readiness.check()
        assert calls == {"ledger": 1, "hub": 1}
        now.value += 0.2
        await readiness.check()
        assert calls == {"ledger": 2, "hub": 2}

    asyncio.run(probes())


def test_a_failed_check_is_not_ready_and_names_its_error() -> None:
    """The failing check's error type and message are reported; the others still run."""

    def ledger() -> None:
        raise LedgerError("reaching the ledger failed: connection refused")

    readiness = Readiness({"ledger": ledger, "hub": lambda: "v1.36.3"}, ttl=0.0)
    ready, details = asyncio.run(readiness.check())
    assert ready is False
    assert details["hub"] == "ok"
    assert details["ledger"] == "LedgerError: reaching the ledger failed: connection refused"
