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

    def secret_labels(self, namespace: str, name: str) -> dict[str, str]: ...


class UnknownZoneError(SignalError):
    """A signal names no GridZone gridshift knows."""


class ForbiddenZoneError(SignalError):
    """A grid operator sent a signal for a zone that does not name it in ``gridOperators``."""


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

    def resolve(self, ref: str, *, operator: str) -> str:
        """The name of the zone ``ref`` names (its name or gridZoneID); UnknownZoneError when
        none, ForbiddenZoneError when that zone's ``gridOperators`` do not name ``operator``."""
        found = None
        with self._lock:
            if ref in self._zones:
                found = self._zones[ref]
            for zone in self._zones.values():
                if found is None and zone.spec.grid_zone_id and zone.spec.grid_zone_id == ref:
                    found = zone
        if found is None:
            raise UnknownZoneError(f"zone {ref[:63]!r} is not a GridZone gridshift knows")
        if operator not in found.spec.grid_operators:
            raise ForbiddenZoneError(_forbidden(operator, [found.name]))
        return found.name

    def for_openadr(
        self, targets: Sequence[str], program_id: str | None, *, operator: str
    ) -> list[str]:
        """Zones an OpenADR event selects whose ``gridOperators`` name ``operator``;
        UnknownZoneError when it selects none, ForbiddenZoneError when none of them names it."""
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
        allowed = [name for name in chosen if operator in self._operators_of(name)]
        if not allowed:
            raise ForbiddenZoneError(_forbidden(operator, chosen))
        return sorted(allowed)

    def _operators_of(self, name: str) -> list[str]:
        zone = self.get(name)
        return [] if zone is None else list(zone.spec.grid_operators)


def _forbidden(operator: str, zones: Sequence[str]) -> str:
    shown = ", ".join(sorted(zones)[:8])
    return (
        f"grid operator {operator!r} may not send signals for zone {shown}: add it to the "
        "GridZone's spec.gridOperators if it is that zone's operator"
    )
