"""One watch per member cluster on the Deployments gridshift manages, shared by every waiter.

A thread lists, then watches, Deployments labelled ``gridshift.io/managed=true`` in all
namespaces and keeps a cache of their :class:`DeploymentState`. Async waiters call
:meth:`DeploymentWatch.changed`, which returns at the next change in that cluster (or after a
timeout): migrations never poll a member cluster on their own. When the cluster stops answering,
the watch keeps retrying and reports since when it has been unreachable.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from datetime import UTC, datetime
from typing import Any, cast

from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from orchestrator.clusters.member import DeploymentState, deployment_state

log = logging.getLogger(__name__)
SELECTOR = "gridshift.io/managed=true"
WATCH_SECONDS = 60
RETRY_SECONDS = 1.0


class DeploymentWatch:
    """The cache of one member cluster's managed Deployments, kept by one thread."""

    def __init__(self, cluster: str, api: client.ApiClient, loop: asyncio.AbstractEventLoop):
        self.cluster = cluster
        self._apps = client.AppsV1Api(api)
        self._loop = loop
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, str], DeploymentState] = {}
        self._waiters: set[asyncio.Event] = set()
        self._stop = threading.Event()
        self._synced = threading.Event()
        self._unreachable_since: datetime | None = None
        self._thread = threading.Thread(
            target=self._run, name=f"watch-deployments-{cluster}", daemon=True
        )

    # -- reading (any thread) -------------------------------------------------------------

    def get(self, namespace: str, name: str) -> DeploymentState | None:
        with self._lock:
            return self._cache.get((namespace, name))

    @property
    def synced(self) -> bool:
        """The cache holds a full list of the cluster's managed Deployments."""
        return self._synced.is_set()

    @property
    def unreachable_since(self) -> datetime | None:
        """When the cluster stopped answering, or None while it answers."""
        return self._unreachable_since

    async def changed(self, within_seconds: float) -> None:
        """Return at the next change in this cluster, or after ``within_seconds``."""
        event = asyncio.Event()
        with self._lock:
            self._waiters.add(event)
        try:
            async with asyncio.timeout(within_seconds):
                await event.wait()
        except TimeoutError:
            pass
        finally:
            with self._lock:
                self._waiters.discard(event)

    # -- the thread ------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _notify(self) -> None:
        with self._lock:
            waiters = list(self._waiters)
        for event in waiters:
            try:
                self._loop.call_soon_threadsafe(event.set)
            except RuntimeError:
                return  # the loop is closed: the process is stopping

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                version = self._list()
                self._mark_reachable()
                self._watch(version)
            except ApiException as exc:
                if exc.status == 410:
                    continue  # too old a resourceVersion: list again
                self._mark_unreachable(f"{exc.status} {exc.reason}")
            except (HTTPError, OSError, ValueError) as exc:
                self._mark_unreachable(str(exc))
            self._stop.wait(RETRY_SECONDS)

    def _list(self) -> str:
        listed: Any = self._apps.list_deployment_for_all_namespaces(
            label_selector=SELECTOR, _request_timeout=10
        )
        fresh = {(d.metadata.namespace, d.metadata.name): deployment_state(d) for d in listed.items}
        with self._lock:
            self._cache = fresh
        self._synced.set()
        self._notify()
        return str(listed.metadata.resource_version)

    def _watch(self, version: str) -> None:
        stream = watch.Watch()
        for event in stream.stream(
            self._apps.list_deployment_for_all_namespaces,
            label_selector=SELECTOR,
            resource_version=version,
            timeout_seconds=WATCH_SECONDS,
            _request_timeout=WATCH_SECONDS + 10,
        ):
            if self._stop.is_set():
                stream.stop()
                return
            kind, obj = event["type"], cast(Any, event["object"])
            if kind == "ERROR":
                raise ApiException(status=410, reason="watch error: relist")
            key = (obj.metadata.namespace, obj.metadata.name)
            with self._lock:
                if kind == "DELETED":
                    self._cache.pop(key, None)
                else:
                    self._cache[key] = deployment_state(obj)
            self._notify()

    def _mark_reachable(self) -> None:
        if self._unreachable_since is not None:
            log.info("cluster=%s answers again", self.cluster)
            self._unreachable_since = None
            self._notify()

    def _mark_unreachable(self, why: str) -> None:
        if self._unreachable_since is None:
            log.warning("cluster=%s stopped answering: %s", self.cluster, why)
            self._unreachable_since = datetime.now(UTC)
            self._synced.clear()
            self._notify()
