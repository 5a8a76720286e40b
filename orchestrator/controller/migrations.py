"""Migration handlers: a daemon per Migration runs its state machine; a finalizer holds the
object until the ledger has its row."""

from __future__ import annotations

from typing import Any

import kopf

from orchestrator.api.common import GROUP, VERSION
from orchestrator.controller.context import Context
from orchestrator.migration.move import Move, Stopping


def _stopping(stopped: kopf.DaemonStopped) -> Stopping:
    if not stopped:
        return Stopping.NO
    reason = stopped.reason
    if reason is not None and kopf.DaemonStoppingReason.RESOURCE_DELETED in reason:
        return Stopping.DELETED
    return Stopping.EXITING


def setup(registry: kopf.OperatorRegistry) -> None:
    @kopf.daemon(GROUP, VERSION, "migrations", cancellation_timeout=None, registry=registry)
    async def migration_daemon(
        body: kopf.Body, stopped: kopf.DaemonStopped, memo: Any, **_: Any
    ) -> None:
        ctx: Context = memo
        move = Move(
            dict(body),
            hub=ctx.hub,
            members=ctx.registry,
            capacity=ctx.capacity,
            recorder=ctx.recorder,
            routers=ctx.routers,
            pauses=ctx.settings.fault_pause_seconds,
        )
        await move.run(lambda: _stopping(stopped))

    @kopf.on.delete(GROUP, VERSION, "migrations", registry=registry)
    async def migration_deleted(status: kopf.Status, name: str, **_: Any) -> None:
        if not status.get("ledgerRecorded"):
            raise kopf.TemporaryError(
                f"Migration {name} is kept until the ledger has recorded it", delay=5
            )
