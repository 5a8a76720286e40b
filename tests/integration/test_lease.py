"""Leader election on a real kube-apiserver: one leader, fast hand-over, expiry, conflicts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from kube import namespace

from orchestrator.clusters.kube import client_from_file
from orchestrator.clusters.lease import LeaderElector, LeaseClient, LeaseRecord, claim
from orchestrator.devenv import Fleet

HUB = "shanghai"
DURATION = 6
RENEW = 1.5
RETRY = 0.5


@pytest.fixture
def lease_ns(fleet: Fleet) -> Iterator[str]:
    """A fresh namespace in the hub for one test's Lease."""
    with namespace(fleet.kubeconfig(HUB), prefix="lease") as name:
        yield name


def _leases(kubeconfig: Path, ns: str, *, timeout: float = 5.0) -> LeaseClient:
    return LeaseClient(client_from_file(kubeconfig), namespace=ns, name="leader", timeout=timeout)


def _elector(kubeconfig: Path, ns: str, identity: str, duration: int = DURATION) -> LeaderElector:
    return LeaderElector(
        _leases(kubeconfig, ns),
        identity=identity,
        duration_seconds=duration,
        renew_seconds=RENEW,
        retry_seconds=RETRY,
    )


async def _until(check: object, *, within: float, what: str) -> float:
    """Poll ``check()`` every 50 ms; the seconds it took to turn true."""
    assert callable(check)
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > within:
            raise AssertionError(f"timed out after {within:.0f} s waiting for {what}")
        await asyncio.sleep(0.05)
    return time.monotonic() - start


def test_of_two_electors_exactly_one_leads_and_keeps_renewing(fleet: Fleet, lease_ns: str) -> None:
    """Two replicas start together: one leads, the Lease names it, it renews, the other waits."""
    kubeconfig = fleet.kubeconfig(HUB)

    async def main() -> tuple[list[bool], LeaseRecord | None, LeaseRecord | None]:
        a, b = _elector(kubeconfig, lease_ns, "a"), _elector(kubeconfig, lease_ns, "b")
        await asyncio.gather(a.start(), b.start())
        try:
            await _until(lambda: a.is_leader() or b.is_leader(), within=10, what="a leader")
            first = await asyncio.to_thread(a.leases.read)
            samples = []
            for _ in range(20):  # three renew periods: nobody flaps, nobody doubles up
                samples.append(a.is_leader() != b.is_leader())
                await asyncio.sleep(0.25)
            later = await asyncio.to_thread(a.leases.read)
            leader = "a" if a.is_leader() else "b"
            assert first is not None
            assert first.holder == leader
            return samples, first, later
        finally:
            await asyncio.gather(a.stop(), b.stop())

    samples, first, later = asyncio.run(main())
    assert all(samples)
    assert first is not None
    assert later is not None
    assert later.holder == first.holder
    assert later.transitions == first.transitions
    assert later.renew_time is not None
    assert first.renew_time is not None
    assert later.renew_time > first.renew_time  # renewed, not merely still valid
    assert later.duration_seconds == DURATION


def test_a_released_lease_is_taken_over_before_it_would_expire(fleet: Fleet, lease_ns: str) -> None:
    """A leader stopping on purpose releases the Lease: the follower leads at its next retry."""
    kubeconfig = fleet.kubeconfig(HUB)
    duration = 30  # far longer than a retry: a takeover before it proves the release worked

    async def main() -> tuple[float, LeaseRecord | None]:
        a = _elector(kubeconfig, lease_ns, "a", duration)
        await a.start()
        await _until(a.is_leader, within=10, what="a to lead")
        b = _elector(kubeconfig, lease_ns, "b", duration)
        await b.start()
        try:
            await asyncio.sleep(2 * RETRY)
            assert not b.is_leader()
            await a.stop(release=True)
            assert not a.is_leader()
            took = await _until(b.is_leader, within=duration, what="b to take over")
            return took, await asyncio.to_thread(b.leases.read)
        finally:
            await asyncio.gather(a.stop(release=False), b.stop())

    took, record = asyncio.run(main())
    assert took < duration / 2, took
    assert record is not None
    assert record.holder == "b"
    assert record.transitions == 1  # a, then b


def test_a_leader_that_stops_renewing_is_replaced_once_its_lease_expires(
    fleet: Fleet, lease_ns: str
) -> None:
    """A crashed leader (no release): the follower waits out the lease, then takes over."""
    kubeconfig = fleet.kubeconfig(HUB)

    async def main() -> tuple[LeaseRecord, LeaseRecord, float]:
        a, b = _elector(kubeconfig, lease_ns, "a"), _elector(kubeconfig, lease_ns, "b")
        await a.start()
        await _until(a.is_leader, within=10, what="a to lead")
        await b.start()
        try:
            await a.stop(release=False)  # as if killed: the Lease still names a
            last = await asyncio.to_thread(a.leases.read)
            assert last is not None
            assert last.holder == "a"
            took = await _until(b.is_leader, within=DURATION + 10, what="b to take over")
            taken = await asyncio.to_thread(b.leases.read)
            assert taken is not None
            return last, taken, took
        finally:
            await b.stop()

    last, taken, took = asyncio.run(main())
    assert taken.holder == "b"
    assert last.renew_time is not None
    assert taken.acquire_time is not None
    # never before a's claim lapsed, and within the lease plus one retry (and scheduling slack)
    assert taken.acquire_time >= last.renew_time + timedelta(seconds=DURATION)
    assert taken.acquire_time <= last.renew_time + timedelta(seconds=DURATION + RETRY + 3)
    assert took <= DURATION + RETRY + 3
    assert taken.transitions == last.transitions + 1


def test_a_conflicting_update_loses(fleet: Fleet, lease_ns: str) -> None:
    """Two writes from the same version of the Lease: the second is refused, its writer follows."""
    kubeconfig = fleet.kubeconfig(HUB)
    a, b = _elector(kubeconfig, lease_ns, "a"), _elector(kubeconfig, lease_ns, "b")
    # racing to create it: both saw no Lease
    assert a.try_acquire_or_renew(None, read=False) is True
    assert b.try_acquire_or_renew(None, read=False) is False
    # racing to take a released Lease: both read the same version
    a.release()
    released = a.leases.read()
    assert released is not None
    assert released.holder is None
    assert b.try_acquire_or_renew(released, read=False) is True
    assert a.try_acquire_or_renew(released, read=False) is False
    found = a.leases.read()
    assert found is not None
    assert found.holder == "b"
    # and a fresh read shows b's valid claim: a does not even try
    assert a.try_acquire_or_renew() is False
    assert a.leases.read() == found


def test_a_leader_whose_lease_is_taken_stops_leading(fleet: Fleet, lease_ns: str) -> None:
    """Someone else writes the Lease under a leader: it notices, stops leading, reports the loss."""
    kubeconfig = fleet.kubeconfig(HUB)

    async def main() -> tuple[bool, bool]:
        a = _elector(kubeconfig, lease_ns, "a")
        await a.start()
        try:
            await _until(a.is_leader, within=10, what="a to lead")
            held = await asyncio.to_thread(a.leases.read)
            assert held is not None
            now = datetime.now(UTC)
            intruder = LeaseRecord(
                holder="intruder",
                duration_seconds=DURATION,
                acquire_time=now,
                renew_time=now,
                transitions=held.transitions + 1,
                resource_version=held.resource_version,
            )
            await asyncio.to_thread(a.leases.write, intruder)
            await asyncio.wait_for(a.wait_until_lost(), timeout=RENEW + RETRY + 5)
            return a.is_leader(), a.lost
        finally:
            await a.stop()

    leading, lost = asyncio.run(main())
    assert leading is False
    assert lost is True
    found = _leases(fleet.kubeconfig(HUB), lease_ns).read()
    assert found is not None
    assert found.holder == "intruder"


def test_a_leader_cut_off_from_its_api_server_stops_within_the_renew_deadline(
    fleet: Fleet,
) -> None:
    """The hub's API server goes dark: the leader stops leading before its lease could lapse."""
    cluster = "ningxia"
    kubeconfig = fleet.kubeconfig(cluster)

    async def main() -> datetime:
        a = LeaderElector(
            _leases(kubeconfig, "default", timeout=1.0),
            identity="a",
            duration_seconds=DURATION,
            renew_seconds=RENEW,
            retry_seconds=RETRY,
        )
        await a.start()
        try:
            await _until(a.is_leader, within=10, what="a to lead")
            await asyncio.to_thread(fleet.stop_apiserver, cluster)
            await _until(lambda: not a.is_leader(), within=DURATION + 5, what="a to stop")
            stopped = datetime.now(UTC)
            await asyncio.wait_for(a.wait_until_lost(), timeout=5)
            return stopped
        finally:
            await a.stop(release=False)

    try:
        stopped = asyncio.run(main())
    finally:
        fleet.start_apiserver(cluster)
    leases = _leases(kubeconfig, "default")
    last = leases.read()  # etcd kept the Lease: its renewTime is a's last successful renewal
    assert last is not None
    assert last.holder == "a"
    assert last.renew_time is not None
    # a stopped leading before anybody else could have taken its lease
    assert stopped < last.renew_time + timedelta(seconds=DURATION), (stopped, last.renew_time)
    leases.coordination.delete_namespaced_lease("leader", "default")


def test_claim_keeps_the_acquire_time_when_renewing_and_counts_takeovers() -> None:
    """Renewing moves only renewTime; taking an expired or released Lease is a transition."""
    t0 = datetime(2025, 7, 1, 8, 0, tzinfo=UTC)
    mine = claim(None, identity="a", now=t0, duration_seconds=15)
    assert mine is not None
    assert mine.transitions == 0
    renewed = claim(mine, identity="a", now=t0 + timedelta(seconds=5), duration_seconds=15)
    assert renewed is not None
    assert renewed.acquire_time == t0
    assert renewed.renew_time == t0 + timedelta(seconds=5)
    assert claim(mine, identity="b", now=t0 + timedelta(seconds=14), duration_seconds=15) is None
    taken = claim(mine, identity="b", now=t0 + timedelta(seconds=15), duration_seconds=15)
    assert taken is not None
    assert taken.holder == "b"
    assert taken.transitions == 1
    released = LeaseRecord(holder=None, duration_seconds=1, renew_time=t0, transitions=1)
    after = claim(released, identity="c", now=t0, duration_seconds=15)
    assert after is not None
    assert after.holder == "c"
    assert after.transitions == 2
