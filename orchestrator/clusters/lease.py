"""Leader election with a ``coordination.k8s.io/v1`` Lease in the hub.

Two (or more) gridshift replicas run at once; the one holding the Lease drives migrations, the
others only serve the webhook. The protocol is the one client-go's leader election uses:

- a replica may take the Lease when nobody holds it, or when the holder's ``renewTime`` plus
  ``leaseDurationSeconds`` has passed (the holder stopped renewing: it crashed or is cut off);
- every write carries the ``resourceVersion`` it read, so of two replicas racing for the same
  Lease exactly one wins; the other's write is refused with 409 Conflict and it stays a follower;
- the leader renews every ``renew`` seconds (retrying every ``retry`` seconds after a failure)
  and gives up when it has not renewed for ``duration - renew`` seconds, the *renew deadline*:
  it stops acting while its last ``renewTime`` is still valid, so no other replica can start
  before it has stopped;
- a leader that stops on purpose releases the Lease (empty holder), so a follower takes over
  at its next retry instead of waiting for the Lease to expire.

:class:`LeaseClient` makes the synchronous API calls; :class:`LeaderElector` runs the loop in
the event loop, with every API call in a thread. :class:`SoleLeader` is the same interface for a
single replica that does not elect (development).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from kubernetes import client

from orchestrator.clusters.kube import KubeError, call
from orchestrator.errors import ClusterError

log = logging.getLogger(__name__)
HUB = "hub"


class LeadershipLost(ClusterError):
    """This replica held the leader Lease and lost it; it must stop acting at once."""


def utcnow() -> datetime:
    return datetime.now(UTC)


def micro_time(moment: datetime) -> str:
    """A Kubernetes MicroTime: RFC 3339 in UTC with exactly six fractional digits."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@dataclass(frozen=True, slots=True)
class LeaseRecord:
    """What a Lease says about its holder; ``resource_version`` is None before it exists."""

    holder: str | None
    duration_seconds: int
    acquire_time: datetime | None = None
    renew_time: datetime | None = None
    transitions: int = 0
    resource_version: str | None = None

    def expires(self) -> datetime | None:
        """When the holder's claim lapses; None when nobody holds the Lease."""
        if not self.holder or self.renew_time is None:
            return None
        return self.renew_time + timedelta(seconds=self.duration_seconds)

    def held_by_other(self, identity: str, now: datetime) -> bool:
        """True while another replica's claim is valid at ``now``."""
        expires = self.expires()
        return self.holder != identity and expires is not None and now < expires


def claim(
    found: LeaseRecord | None, *, identity: str, now: datetime, duration_seconds: int
) -> LeaseRecord | None:
    """The record that makes ``identity`` the holder at ``now``, or None if someone else holds
    a valid claim. Renewing keeps the acquire time; taking over counts a transition."""
    if found is not None and found.held_by_other(identity, now):
        return None
    if found is not None and found.holder == identity:
        return replace(found, renew_time=now, duration_seconds=duration_seconds)
    transitions = 0 if found is None else found.transitions + 1
    return LeaseRecord(
        holder=identity,
        duration_seconds=duration_seconds,
        acquire_time=now,
        renew_time=now,
        transitions=transitions,
        resource_version=None if found is None else found.resource_version,
    )


class LeaseClient:
    """Synchronous reads and guarded writes of one Lease; async callers use a thread."""

    def __init__(
        self, api: client.ApiClient, *, namespace: str, name: str, timeout: float = 5.0
    ) -> None:
        self.coordination = client.CoordinationV1Api(api)
        self.namespace = namespace
        self.name = name
        self.timeout = timeout

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def read(self) -> LeaseRecord | None:
        """The Lease as stored, or None when it does not exist."""
        try:
            raw = call(
                HUB,
                f"read Lease {self.key}",
                self.coordination.read_namespaced_lease,
                self.name,
                self.namespace,
                _preload_content=False,
                _request_timeout=self.timeout,
            )
        except KubeError as exc:
            if exc.not_found:
                return None
            raise
        return _record(json.loads(raw.data))

    def write(self, record: LeaseRecord) -> LeaseRecord:
        """Create the Lease (no ``resource_version``) or replace the version ``record`` was read
        from. :class:`KubeError` with ``conflict`` when another replica wrote first."""
        body = _body(self.namespace, self.name, record)
        if record.resource_version is None:
            raw = call(
                HUB,
                f"create Lease {self.key}",
                self.coordination.create_namespaced_lease,
                self.namespace,
                body,
                _preload_content=False,
                _request_timeout=self.timeout,
            )
        else:
            raw = call(
                HUB,
                f"update Lease {self.key}",
                self.coordination.replace_namespaced_lease,
                self.name,
                self.namespace,
                body,
                _preload_content=False,
                _request_timeout=self.timeout,
            )
        return _record(json.loads(raw.data))


def _body(namespace: str, name: str, record: LeaseRecord) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "labels": {"app.kubernetes.io/name": "gridshift"},
    }
    if record.resource_version is not None:
        metadata["resourceVersion"] = record.resource_version
    spec: dict[str, Any] = {
        "holderIdentity": record.holder,
        "leaseDurationSeconds": record.duration_seconds,
        "leaseTransitions": record.transitions,
    }
    if record.acquire_time is not None:
        spec["acquireTime"] = micro_time(record.acquire_time)
    if record.renew_time is not None:
        spec["renewTime"] = micro_time(record.renew_time)
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": metadata,
        "spec": spec,
    }


def _record(obj: dict[str, Any]) -> LeaseRecord:
    spec = obj.get("spec") or {}
    return LeaseRecord(
        holder=spec.get("holderIdentity") or None,
        duration_seconds=int(spec.get("leaseDurationSeconds") or 0),
        acquire_time=_parse_time(spec.get("acquireTime")),
        renew_time=_parse_time(spec.get("renewTime")),
        transitions=int(spec.get("leaseTransitions") or 0),
        resource_version=(obj.get("metadata") or {}).get("resourceVersion"),
    )


class Leadership(Protocol):
    """What the operator asks of an election."""

    identity: str

    def is_leader(self) -> bool: ...

    @property
    def lost(self) -> bool: ...

    async def start(self) -> None: ...

    async def wait_until_leader(self) -> None: ...

    async def wait_until_lost(self) -> None: ...

    async def stop(self, *, release: bool = True) -> None: ...


class LeaderElector:
    """Holds the Lease for this replica, or waits for it; see the module docstring.

    ``start()`` runs the loop as a task; ``is_leader()`` is cheap (no I/O) and turns False by
    itself once the renew deadline has passed, even while an API call hangs.
    """

    def __init__(
        self,
        leases: LeaseClient,
        *,
        identity: str,
        duration_seconds: int,
        renew_seconds: float,
        retry_seconds: float,
        clock: Callable[[], datetime] = utcnow,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 < retry_seconds <= renew_seconds < duration_seconds:
            raise ValueError("expected 0 < retry <= renew < duration")
        self.leases = leases
        self.identity = identity
        self.duration_seconds = duration_seconds
        self.renew_seconds = renew_seconds
        self.retry_seconds = retry_seconds
        self.renew_deadline = duration_seconds - renew_seconds
        self._clock = clock
        self._monotonic = monotonic
        self._valid_until = 0.0
        self._leading = False
        self._acquired = asyncio.Event()
        self._lost = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.observed: LeaseRecord | None = None
        """The Lease as the last attempt read it."""

    # -- what callers ask ------------------------------------------------------------------

    def is_leader(self) -> bool:
        """True while this replica holds the Lease and is inside its renew deadline."""
        return self._leading and self._monotonic() < self._valid_until

    @property
    def lost(self) -> bool:
        """True once leadership, having been held, was lost (never reset)."""
        return self._lost.is_set()

    async def wait_until_leader(self) -> None:
        """Return once this replica has acquired the Lease."""
        await self._acquired.wait()

    async def wait_until_lost(self) -> None:
        """Return once this replica, having led, has lost the Lease."""
        await self._lost.wait()

    async def start(self) -> None:
        """Run the election loop in the background (idempotent)."""
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name=f"lease {self.leases.key}")

    async def stop(self, *, release: bool = True) -> None:
        """Stop the loop; with ``release``, hand the Lease over if this replica holds it."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if release and self._leading:
            try:
                await asyncio.to_thread(self.release)
            except ClusterError as exc:
                log.warning("lease=%s not released (it will expire): %s", self.leases.key, exc)
        self._leading = False

    # -- one attempt (synchronous: runs in a thread) ---------------------------------------

    def try_acquire_or_renew(self, found: LeaseRecord | None = None, *, read: bool = True) -> bool:
        """One attempt to take or keep the Lease; True if this replica holds it afterwards.

        ``found`` with ``read=False`` writes against a record read earlier: if the Lease has
        changed since, the write conflicts and the attempt fails.
        """
        if read:
            found = self.leases.read()
        self.observed = found
        wanted = claim(
            found,
            identity=self.identity,
            now=self._clock(),
            duration_seconds=self.duration_seconds,
        )
        if wanted is None:
            return False
        try:
            self.leases.write(wanted)
        except KubeError as exc:
            if exc.conflict:
                return False  # another replica wrote between our read and our write: it won
            raise
        return True

    def release(self) -> None:
        """Empty the holder so a follower takes over at once (only if it is still ours)."""
        found = self.leases.read()
        if found is None or found.holder != self.identity:
            return
        now = self._clock()
        try:
            self.leases.write(replace(found, holder=None, renew_time=now, duration_seconds=1))
        except KubeError as exc:
            if not exc.conflict:
                raise
            return
        self._leading = False
        log.info("released lease=%s holder=%s", self.leases.key, self.identity)

    # -- the loop ----------------------------------------------------------------------------

    async def _loop(self) -> None:
        while True:
            started = self._monotonic()
            try:
                held = await asyncio.to_thread(self.try_acquire_or_renew)
            except ClusterError as exc:
                log.warning("lease=%s attempt failed: %s", self.leases.key, exc)
                held = False
            if held:
                self._valid_until = started + self.renew_deadline
                if not self._leading:
                    self._leading = True
                    self._acquired.set()
                    log.info("acquired lease=%s holder=%s", self.leases.key, self.identity)
                await asyncio.sleep(self.renew_seconds)
                continue
            taken = self.observed is not None and self.observed.held_by_other(
                self.identity, self._clock()
            )
            if self._leading and (taken or self._monotonic() >= self._valid_until):
                self._leading = False
                self._lost.set()
                log.error(
                    "lost lease=%s holder=%s: not renewed within %.0f s or taken over",
                    self.leases.key,
                    self.identity,
                    self.renew_deadline,
                )
                return
            await asyncio.sleep(self.retry_seconds)


class SoleLeader:
    """No election: this replica always leads (``leader_election=false``, one replica only)."""

    def __init__(self, identity: str) -> None:
        self.identity = identity

    def is_leader(self) -> bool:
        return True

    @property
    def lost(self) -> bool:
        return False

    async def start(self) -> None:
        return None

    async def wait_until_leader(self) -> None:
        return None

    async def wait_until_lost(self) -> None:
        await asyncio.Event().wait()  # never

    async def stop(self, *, release: bool = True) -> None:
        return None
