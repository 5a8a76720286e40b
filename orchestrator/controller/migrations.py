"""Migration handlers: a daemon per Migration runs its state machine; a finalizer holds the
object until the ledger has its row."""

from __future__ import annotations

from typing import Any

import kopf

from orchestrator.api.common import GROUP, VERSION
from orchestrator.controller.context import Context


def _stopping(stopped: kopf.DaemonStopped) -> str | None:
    if not stopped:
        return None
    reason = stopped.reason
    if reason is not None and kopf.DaemonStoppingReason.RESOURCE_DELETED in reason:
        return "deleted"
    return "exiting"


def setup(registry: kopf.OperatorRegistry) -> None:
    @kopf.daemon(GROUP, VERSION, "migrations", cancellation_timeout=None, registry=registry)
    async def migration_daemon(
        body: kopf.Body, stopped: kopf.DaemonStopped, memo: Any, **_: Any
    ) -> None:
        ctx: Context = memo
        await ctx.engine.run(dict(body), stopping=lambda: _stopping(stopped))

    @kopf.on.delete(GROUP, VERSION, "migrations", registry=registry)
    async def migration_deleted(status: kopf.Status, name: str, **_: Any) -> None:
        if not status.get("ledgerRecorded"):
            raise kopf.TemporaryError(
                f"Migration {name} is kept until the ledger has recorded it", delay=5
            )
