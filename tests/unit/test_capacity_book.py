"""GPU arithmetic: what a probe finds free under a maxGPUs cap, and what moves have booked."""

from __future__ import annotations

import pytest

from orchestrator.clusters.member import Probe
from orchestrator.clusters.registry import MemberRegistry
from orchestrator.migration.capacity import CapacityBook

pytestmark = pytest.mark.unit


def probe(*, allocatable: int, used: int) -> Probe:
    return Probe("v1.36.3", ready_nodes=2, allocatable_gpus=allocatable, used_gpus=used,
                 used_gpus_by_workload={("ai", "chat"): used})  # fmt: skip


def test_max_gpus_caps_what_gridshift_may_use() -> None:
    """maxGPUs lowers the usable GPUs; without it every allocatable GPU counts."""
    found = probe(allocatable=16, used=4)
    assert found.usable_gpus(None) == 16
    assert found.usable_gpus(8) == 8
    assert found.free_gpus(None) == 12
    assert found.free_gpus(8) == 4


def test_free_gpus_go_negative_when_pods_hold_more_than_the_cap() -> None:
    """A cap under what runs already leaves nothing free (the MemberCluster shows 0)."""
    assert probe(allocatable=16, used=10).free_gpus(8) == -2


def test_a_move_never_counts_its_own_booking() -> None:
    """Bookings of other moves count against a target; a move's own booking does not."""
    book = CapacityBook(MemberRegistry())
    book.book("hubei", "ai/move-a", 4)
    book.book("hubei", "ai/move-b", 2)
    book.book("ningxia", "ai/move-c", 8)
    assert book.booked("hubei", besides="ai/move-a") == 2
    assert book.booked("hubei", besides="ai/move-z") == 6
    assert book.booked("shanghai", besides="ai/move-a") == 0


def test_rebooking_replaces_and_unbooking_gives_back() -> None:
    """A repeated preflight books once; an unbooked move no longer holds GPUs."""
    book = CapacityBook(MemberRegistry())
    book.book("hubei", "ai/move-a", 4)
    book.book("hubei", "ai/move-a", 6)
    assert book.booked("hubei", besides="other") == 6
    book.unbook("hubei", "ai/move-a")
    book.unbook("hubei", "ai/never-booked")
    assert book.booked("hubei", besides="other") == 0
