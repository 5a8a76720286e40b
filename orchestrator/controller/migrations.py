"""Migration handlers: a daemon per Migration runs its state machine; a finalizer holds the
object until the ledger has its row."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
import kopf

from orchestrator.api.common import GROUP, VERSION
from orchestrator.clusters.hub import HubClient
from orchestrator.clusters.registry import MemberRegistry
from orchestrator.migration.capacity import CapacityBook
from orchestrator.migration.move import Move, Stopping
from orchestrator.migration.recorder import Recorder
from orchestrator.migration.routers.base import TrafficRouter


def _stopping(stopped: kopf.DaemonStopped) -> Stopping:
    if not stopped:
        return Stopping.NO
    reason = stopped.reason
    if reason is not None and kopf.DaemonStoppingReason.RESOURCE_DELETED in reason:
        return Stopping.DELETED
    return Stopping.EXITING


def setup(
    registry: kopf.OperatorRegistry,
    *,
    hub: HubClient,
    members: MemberRegistry,
    capacity: CapacityBook,
    recorder: Recorder,
    routers: Mapping[str, TrafficRouter],
    http: httpx.AsyncClient,
    pauses: Mapping[str, float],
) -> None:
    """A daemon per Migration drives its :class:`Move`; a finalizer waits for the ledger."""

    @kopf.daemon(GROUP, VERSION, "migrations", cancellation_timeout=None, registry=registry)
    async def migration_daemon(body: kopf.Body, stopped: kopf.DaemonStopped, **_: Any) -> None:
        move = Move(
            dict(body),
            hub=hub,
            members=members,
            capacity=capacity,
            recorder=recorder,
            routers=routers,
            http=http,
            pauses=pauses,
        )
        await move.run(lambda: _stopping(stopped))

    @kopf.on.delete(GROUP, VERSION, "migrations", registry=registry)
    async def migration_deleted(status: kopf.Status, name: str, **_: Any) -> None:
        if not status.get("ledgerRecorded"):
            raise kopf.TemporaryError(
                f"Migration {name} is kept until the ledger has recorded it", delay=5
            )
