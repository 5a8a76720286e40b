"""The zones the webhook can address, and the hub as the signals package sees it (a port).

:class:`ZoneDirectory` holds the last list of GridZones read from the hub, so a request is
resolved without an API call: a native signal names a zone by its name or its ``gridZoneID``;
an OpenADR event selects every zone whose ``spec.openADR.targets`` share a target with it (or,
for an event without targets, every zone whose ``programNames`` list the event's program, by
name or by the id the zone's VTN gave that name: :meth:`ZoneDirectory.note_programs`).

:class:`Hub` is what the processor needs from the hub; ``orchestrator.clusters.hub.HubClient``
provides it, and the wiring passes one in.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Protocol

from orchestrator.api.drevent import DemandResponseEventSpec
from orchestrator.api.gridzone import GridZoneSpec, GridZoneStatus
from orchestrator.errors import SignalError


class ZoneView(Protocol):
    """A GridZone as read from the hub (``orchestrator.clusters.hub.HubZone``)."""

    @property
    def name(self) -> str: ...
    @property
    def generation(self) -> int | None: ...
    @property
    def spec(self) -> GridZoneSpec: ...
    @property
    def status(self) -> GridZoneStatus | None: ...


class Hub(Protocol):
    """The hub calls of the signals package (``orchestrator.clusters.hub.HubClient``)."""

    def list_zones(self) -> Sequence[ZoneView]: ...

    def patch_zone_status(self, name: str, status: GridZoneStatus) -> None: ...

    def apply_dr_event(
        self, name: str, spec: DemandResponseEventSpec, *, labels: dict[str, str]
    ) -> None: ...

    def cancel_dr_event(self, name: str, *, message: str, now: datetime) -> bool: ...

    def secret_data(self, namespace: str, name: str) -> dict[str, str]: ...


class UnknownZoneError(SignalError):
    """A signal names no GridZone gridshift knows."""


class ZoneDirectory:
    """The known GridZones by name; replaced whole on every refresh."""

    def __init__(self, zones: Iterable[ZoneView] = ()) -> None:
        self._lock = threading.Lock()
        self._zones: dict[str, ZoneView] = {}
        self._program_ids: dict[str, frozenset[str]] = {}
        self.replace(zones)

    def replace(self, zones: Iterable[ZoneView]) -> None:
        """Use ``zones`` from now on."""
        fresh = {zone.name: zone for zone in zones}
        with self._lock:
            self._zones = fresh

    def note_programs(self, zone: str, program_ids: Iterable[str]) -> None:
        """The ids the zone's VTN gives its ``programNames`` (VTNs send ids in events)."""
        with self._lock:
            self._program_ids[zone] = frozenset(program_ids)

    def all(self) -> list[ZoneView]:
        """Every zone, by name."""
        with self._lock:
            return [self._zones[k] for k in sorted(self._zones)]

    def get(self, name: str) -> ZoneView | None:
        """The zone called ``name``."""
        with self._lock:
            return self._zones.get(name)

    def resolve(self, ref: str) -> str:
        """The name of the zone ``ref`` names (its name or gridZoneID); UnknownZoneError else."""
        with self._lock:
            if ref in self._zones:
                return ref
            for zone in self._zones.values():
                if zone.spec.grid_zone_id and zone.spec.grid_zone_id == ref:
                    return zone.name
        raise UnknownZoneError(f"zone {ref[:63]!r} is not a GridZone gridshift knows")

    def for_openadr(self, targets: Sequence[str], program_id: str | None) -> list[str]:
        """Zones an OpenADR event selects; UnknownZoneError when none does."""
        wanted = set(targets)
        with self._lock:
            chosen = []
            for zone in self._zones.values():
                binding = zone.spec.openadr
                if binding is None:
                    continue
                programs = {*binding.program_names, *self._program_ids.get(zone.name, ())}
                if wanted & set(binding.targets) or (
                    not wanted and program_id is not None and program_id in programs
                ):
                    chosen.append(zone.name)
        if not chosen:
            shown = ", ".join(sorted(wanted)[:8]) or f"program {program_id}"
            raise UnknownZoneError(f"no GridZone answers to OpenADR targets {shown}")
        return sorted(chosen)
