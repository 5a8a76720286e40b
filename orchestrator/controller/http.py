"""The operator's own HTTP routes, served beside the signal webhook: metrics, readiness, read API.

:func:`router` returns the FastAPI router of these routes; ``gridshift run`` serves them in its
one HTTP app (:mod:`orchestrator.controller.web`), beside the signal webhook:

- ``GET /metrics``: every metric of :mod:`orchestrator.metrics`, in the Prometheus text format;
- ``GET /readyz``: 200 when the ledger (``SELECT 1``) and the hub (``GET /version``) answer,
  else 503 naming what failed; checked at most every ``ready_ttl_seconds``, so probes are cheap;
- ``GET /api/v1/zones | clusters | workloads | migrations``: the custom objects in the hub, each
  as name, namespace, spec and status; ``/api/v1/migrations?history=1`` reads the ledger instead.

Liveness (``GET /healthz``) is the webhook's: an answer proves the loop runs.
Everything blocking runs in a thread. A query parameter that is unknown or out of its range is
answered 422, naming it; an unreachable hub or ledger is answered 503.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response

from orchestrator import metrics
from orchestrator.api.migration import Phase
from orchestrator.clusters.hub import HubClient
from orchestrator.errors import ClusterError, GridshiftError, LedgerError, LedgerInputError
from orchestrator.ledger.handle import Ledger
from orchestrator.ledger.records import MigrationRecord

CHECK_TIMEOUT = 5.0
"""Seconds a readiness check may take before it counts as failed."""
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"

Namespace = Annotated[
    str | None,
    Query(min_length=1, max_length=63, pattern=DNS_LABEL, description="Only this namespace."),
]
Cluster = Annotated[
    str | None,
    Query(min_length=1, max_length=63, pattern=DNS_LABEL, description="Only this cluster."),
]


@dataclass
class Readiness:
    """Named checks run together, at most once per ``ttl`` seconds; concurrent probes share one."""

    checks: Mapping[str, Callable[[], object]]
    ttl: float = 5.0
    clock: Callable[[], float] = time.monotonic
    _checked_at: float | None = None
    _result: tuple[bool, dict[str, str]] = (False, {})
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def check(self) -> tuple[bool, dict[str, str]]:
        """(ready, what each check found), from the cache while it is fresh."""
        async with self._lock:
            now = self.clock()
            if self._checked_at is None or now - self._checked_at >= self.ttl:
                found = await asyncio.gather(*(self._one(c) for c in self.checks.values()))
                details = dict(zip(self.checks, found, strict=True))
                self._result = (all(v == "ok" for v in details.values()), details)
                self._checked_at = self.clock()
            return self._result

    @staticmethod
    async def _one(check: Callable[[], object]) -> str:
        try:
            await asyncio.wait_for(asyncio.to_thread(check), timeout=CHECK_TIMEOUT)
        except TimeoutError:
            return f"no answer within {CHECK_TIMEOUT:.0f} s"
        except Exception as exc:  # a probe reports every failure, whatever its type
            return f"{type(exc).__name__}: {exc}"[:500]
        return "ok"


def only(*allowed: str) -> Callable[[Request], None]:
    """A dependency refusing query parameters other than ``allowed`` with 422 (typos included)."""

    def check(request: Request) -> None:
        unknown = sorted(set(request.query_params) - set(allowed))
        if unknown:
            raise HTTPException(
                status_code=422,
                detail=[
                    {
                        "type": "extra_forbidden",
                        "loc": ["query", name],
                        "msg": f"unknown query parameter; allowed: {', '.join(allowed) or 'none'}",
                    }
                    for name in unknown
                ],
            )

    return check


def summary(obj: Mapping[str, Any]) -> dict[str, Any]:
    """An object as the read API shows it: name, namespace (if any), spec and status."""
    meta = obj.get("metadata") or {}
    shown: dict[str, Any] = {"name": meta.get("name")}
    if meta.get("namespace"):
        shown["namespace"] = meta["namespace"]
    shown["createdAt"] = meta.get("creationTimestamp")
    shown["spec"] = obj.get("spec") or {}
    shown["status"] = obj.get("status") or {}
    return shown


def history_item(record: MigrationRecord) -> dict[str, Any]:
    """A ledger row of a move, in the API's camelCase."""
    return {
        "uid": str(record.uid),
        "namespace": record.namespace,
        "name": record.name,
        "workload": record.workload,
        "fromCluster": record.from_cluster,
        "toCluster": record.to_cluster,
        "trigger": record.trigger,
        "reason": record.reason,
        "phase": record.phase,
        "outcome": record.outcome,
        "startedAt": record.started_at.isoformat(),
        "finishedAt": record.finished_at.isoformat() if record.finished_at else None,
        "durationSeconds": record.duration_seconds,
        "deadlineSeconds": record.deadline_seconds,
        "deadlineMet": record.deadline_met,
        "kwMoved": float(record.kw_moved) if record.kw_moved is not None else None,
        "replicas": record.replicas,
        "message": record.message,
        "phases": [
            {
                "phase": p.phase,
                "startedAt": p.started_at.isoformat(),
                "finishedAt": p.finished_at.isoformat() if p.finished_at else None,
            }
            for p in record.phases
        ],
    }


def _unavailable(exc: GridshiftError) -> HTTPException:
    what = "the ledger" if isinstance(exc, LedgerError) else "the hub"
    return HTTPException(status_code=503, detail=f"{what} is unavailable: {exc}"[:1000])


def router(*, hub: HubClient, ledger: Ledger, ready_ttl_seconds: float = 5.0) -> APIRouter:
    """The routes over ``hub`` and ``ledger``."""
    routes = APIRouter()
    readiness = Readiness({"ledger": ledger.ping, "hub": hub.version}, ttl=ready_ttl_seconds)

    async def listed(plural: str) -> list[dict[str, Any]]:
        try:
            found = await asyncio.to_thread(hub.list, plural)
        except ClusterError as exc:
            raise _unavailable(exc) from exc
        items = [summary(obj) for obj in found]
        return sorted(items, key=lambda i: (i.get("namespace") or "", i["name"] or ""))

    @routes.get("/metrics", summary="Prometheus metrics", dependencies=[Depends(only())])
    async def get_metrics() -> Response:
        body, content_type = await asyncio.to_thread(metrics.exposition)
        return Response(body, media_type=content_type)

    @routes.get("/readyz", summary="Readiness: the ledger and the hub answer")
    async def readyz() -> JSONResponse:
        ready, details = await readiness.check()
        failed = {name: found for name, found in details.items() if found != "ok"}
        body: dict[str, Any] = {"ready": ready, "checks": details}
        if failed:
            body["reason"] = "; ".join(f"{name}: {found}" for name, found in failed.items())
        return JSONResponse(body, status_code=200 if ready else 503)

    @routes.get("/api/v1/zones", summary="GridZones", dependencies=[Depends(only())])
    async def zones() -> dict[str, Any]:
        return {"items": await listed("gridzones")}

    @routes.get("/api/v1/clusters", summary="MemberClusters", dependencies=[Depends(only("zone"))])
    async def clusters(zone: Cluster = None) -> dict[str, Any]:
        items = await listed("memberclusters")
        return {"items": [i for i in items if zone is None or i["spec"].get("zone") == zone]}

    @routes.get(
        "/api/v1/workloads",
        summary="InferenceWorkloads",
        dependencies=[Depends(only("namespace", "cluster"))],
    )
    async def workloads(namespace: Namespace = None, cluster: Cluster = None) -> dict[str, Any]:
        items = await listed("inferenceworkloads")
        return {
            "items": [
                i
                for i in items
                if (namespace is None or i.get("namespace") == namespace)
                and (cluster is None or i["status"].get("currentCluster") == cluster)
            ]
        }

    @routes.get(
        "/api/v1/migrations",
        summary="Migrations in the hub, or (history=1) the ledger's record of moves",
        dependencies=[
            Depends(only("namespace", "phase", "history", "workload", "cluster", "limit"))
        ],
    )
    async def migrations(
        namespace: Namespace = None,
        phase: Annotated[Phase | None, Query(description="Only moves in this phase.")] = None,
        history: Annotated[bool, Query(description="Read the ledger (newest first).")] = False,
        workload: Annotated[
            str | None, Query(min_length=1, max_length=63, pattern=DNS_LABEL)
        ] = None,
        cluster: Cluster = None,
        limit: Annotated[int, Query(ge=1, le=1000, description="At most this many.")] = 100,
    ) -> dict[str, Any]:
        if history:
            items = await asyncio.to_thread(
                _history, ledger, namespace=namespace, workload=workload, cluster=cluster,
                limit=limit,
            )  # fmt: skip
            return {"items": [i for i in items if phase is None or i["phase"] == phase]}
        chosen = []
        for item in await listed("migrations"):
            spec, status = item["spec"], item["status"]
            if (
                (namespace is None or item.get("namespace") == namespace)
                and (phase is None or status.get("phase", "Pending") == phase)
                and (workload is None or spec.get("workload") == workload)
                and (cluster is None or cluster in (spec.get("fromCluster"), spec.get("toCluster")))
            ):
                chosen.append(item)
        return {"items": chosen[:limit]}

    return routes


def _history(
    ledger: Ledger, *, namespace: str | None, workload: str | None, cluster: str | None, limit: int
) -> list[dict[str, Any]]:
    try:
        records = ledger.migration_history(
            namespace=namespace, workload=workload, cluster=cluster, limit=limit
        )
    except LedgerInputError as exc:
        raise HTTPException(status_code=422, detail=str(exc)[:1000]) from exc
    except LedgerError as exc:
        raise _unavailable(exc) from exc
    return [history_item(r) for r in records]
