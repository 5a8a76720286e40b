"""The OpenADR 3 REPORT gridshift posts to the VTN when a demand-response event ends, pure.

One report per outcome (Met or Missed) of a shed event. It has one resource, the zone (or
``AGGREGATED_REPORT`` when the VTN asked for an aggregate), and one interval (id 0) covering the
event's window, with these payloads:

- ``USAGE``: the load the zone still draws, ``zone_load_kw`` (kW; kWh over the window when the
  descriptor asks for ``KWH``);
- ``DELTA_USAGE``: the change the response made, ``-achieved_kw`` (negative = shed);
- ``DEMAND``: like ``USAGE`` in kW, when the event asks for it;
- ``BASELINE``: what the zone would draw without the response, ``zone_load_kw + achieved_kw``
  (kW, or kWh over the window), when the event asks for it.

The event's ``reportDescriptors`` decide which of these are sent and in which ``units`` and
``readingType`` (``KW``, ``W``, ``MW``, ``KWH``, ``WH``, ``MWH``). Other payload types or units
are skipped; when nothing asked for can be answered, or the descriptors are unknown (the VTN
no longer serves the event), both ``USAGE`` and ``DELTA_USAGE`` are sent in kW. The figures
come from the workloads' declared power, not from a meter, so a requested ``DIRECT_READ`` (and
a missing reading type) is reported as ``ESTIMATED``.

Versions: 3.0.1 requires ``programID`` and allows ``objectType: REPORT``; 3.1.0's
``reportRequest`` has neither (``objectType`` is set by the VTN) and requires ``objectType:
REPORT_PAYLOAD_DESCRIPTOR`` in each payload descriptor. gridshift sends ``programID`` in 3.1.0
too when it is known (the schema allows extra fields and VTNs built on 3.0.1 still ask for it),
and ``objectType: REPORT`` only in 3.0.1.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, TypeAlias

from orchestrator.errors import SignalError

ReportJson: TypeAlias = "str | int | float | bool | list[ReportJson] | dict[str, ReportJson] | None"
OutcomeState = Literal["Met", "Missed"]
Version = Literal["3.0.1", "3.1.0"]

AGGREGATED = "AGGREGATED_REPORT"
ESTIMATED = "ESTIMATED"
NAME_MAX = 128
MAX_DESCRIPTORS = 64
_POWER = {"KW": 1.0, "W": 1000.0, "MW": 0.001}
_ENERGY = {"KWH": 1.0, "WH": 1000.0, "MWH": 0.001}
_LOAD_TYPES = frozenset({"USAGE", "DEMAND"})
_SUPPORTED = _LOAD_TYPES | {"DELTA_USAGE", "BASELINE"}


@dataclass(frozen=True, slots=True)
class ReportDescriptor:
    """What the VTN asked to be reported: one entry of an event's ``reportDescriptors``."""

    payload_type: str
    reading_type: str | None = None
    units: str | None = None
    aggregate: bool = False


DEFAULT_DESCRIPTORS = (
    ReportDescriptor("USAGE", ESTIMATED, "KW"),
    ReportDescriptor("DELTA_USAGE", ESTIMATED, "KW"),
)


@dataclass(frozen=True, slots=True)
class DrOutcome:
    """How a demand-response event ended in one zone."""

    zone: str
    event_id: str
    program_id: str | None
    state: OutcomeState
    achieved_kw: float
    zone_load_kw: float
    window_start: datetime
    window_end: datetime


def outcome_state(text: str) -> OutcomeState:
    """``Met`` or ``Missed``; ``SignalError`` for any other state (nothing to report yet)."""
    if text == "Met":
        return "Met"
    if text == "Missed":
        return "Missed"
    raise SignalError(f"a DR report needs the state Met or Missed, not {text[:32]!r}")


def report_descriptors(event: Mapping[str, object]) -> list[ReportDescriptor]:
    """The ``reportDescriptors`` of an EVENT document (camelCase keys); [] when it has none.

    Entries without a ``payloadType`` string are skipped; at most 64 are read.
    """
    raw = event.get("reportDescriptors")
    found: list[ReportDescriptor] = []
    for item in raw[:MAX_DESCRIPTORS] if isinstance(raw, list) else []:
        if not isinstance(item, dict):
            continue
        payload_type = item.get("payloadType")
        if not isinstance(payload_type, str) or not payload_type:
            continue
        reading = item.get("readingType")
        units = item.get("units")
        found.append(
            ReportDescriptor(
                payload_type=payload_type.upper()[:NAME_MAX],
                reading_type=reading.upper()[:NAME_MAX] if isinstance(reading, str) else None,
                units=units.upper()[:NAME_MAX] if isinstance(units, str) else None,
                aggregate=item.get("aggregate") is True,
            )
        )
    return found


def iso_duration(span: timedelta) -> str:
    """An ISO 8601 duration of whole seconds: ``PT1H30M``, ``PT45S``, ``PT0S``."""
    seconds = max(round(span.total_seconds()), 0)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [f"{n}{unit}" for n, unit in ((hours, "H"), (minutes, "M"), (seconds, "S")) if n]
    return "PT" + ("".join(parts) or "0S")


def rfc3339(when: datetime) -> str:
    """``when`` in UTC, whole seconds, with a ``Z``."""
    if when.tzinfo is None:
        raise SignalError("report times must carry a time zone")
    return when.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def _factor(descriptor: ReportDescriptor, hours: float) -> float | None:
    """kW to the descriptor's units (energy over ``hours``); None when they are not ours."""
    units = descriptor.units or "KW"
    if units in _POWER:
        return _POWER[units]
    if units in _ENERGY and descriptor.payload_type != "DEMAND":
        return _ENERGY[units] * hours
    return None


def _answerable(
    descriptors: Iterable[ReportDescriptor], hours: float
) -> list[tuple[ReportDescriptor, float]]:
    """The descriptors we can answer, first per payload type, with their kW factor."""
    chosen: list[tuple[ReportDescriptor, float]] = []
    for descriptor in descriptors:
        if descriptor.payload_type not in _SUPPORTED:
            continue
        if any(d.payload_type == descriptor.payload_type for d, _ in chosen):
            continue
        factor = _factor(descriptor, hours)
        if factor is not None:
            chosen.append((descriptor, factor))
    return chosen


def _check(outcome: DrOutcome) -> None:
    for name, value in (
        ("achieved_kw", outcome.achieved_kw),
        ("zone_load_kw", outcome.zone_load_kw),
    ):
        if not math.isfinite(value) or value < 0:
            raise SignalError(f"DR report of event {outcome.event_id}: {name} must be >= 0")
    if outcome.window_end <= outcome.window_start:
        raise SignalError(
            f"DR report of event {outcome.event_id}: the window ends before it starts"
        )
    if not outcome.event_id or len(outcome.event_id) > NAME_MAX:
        raise SignalError("a DR report needs an event id of 1 to 128 characters")


def build_report(
    outcome: DrOutcome,
    *,
    client_name: str,
    version: Version = "3.1.0",
    descriptors: Sequence[ReportDescriptor] | None = None,
) -> dict[str, ReportJson]:
    """The REPORT to ``POST /reports`` for ``outcome``; ``SignalError`` when it cannot be built.

    ``descriptors`` are the event's ``reportDescriptors`` (None or []: not known, send the
    defaults). 3.0.1 needs ``outcome.program_id``.
    """
    _check(outcome)
    if version == "3.0.1" and not outcome.program_id:
        raise SignalError(
            f"DR report of event {outcome.event_id}: OpenADR 3.0.1 needs the programID"
        )
    hours = (outcome.window_end - outcome.window_start).total_seconds() / 3600
    chosen = _answerable(descriptors or (), hours) or _answerable(DEFAULT_DESCRIPTORS, hours)
    payload_descriptors: list[ReportJson] = []
    payloads: list[ReportJson] = []
    for descriptor, factor in chosen:
        reading = descriptor.reading_type
        payload_descriptors.append(
            {
                "objectType": "REPORT_PAYLOAD_DESCRIPTOR",
                "payloadType": descriptor.payload_type,
                "readingType": ESTIMATED if reading in (None, "DIRECT_READ") else reading,
                "units": descriptor.units or "KW",
            }
        )
        if descriptor.payload_type in _LOAD_TYPES:
            kw = outcome.zone_load_kw
        elif descriptor.payload_type == "BASELINE":
            kw = outcome.zone_load_kw + outcome.achieved_kw
        else:
            kw = -outcome.achieved_kw
        payloads.append({"type": descriptor.payload_type, "values": [round(kw * factor, 6)]})
    aggregate = any(d.aggregate for d in descriptors or ())
    report: dict[str, ReportJson] = {}
    if version == "3.0.1":
        report["objectType"] = "REPORT"
    if outcome.program_id:
        report["programID"] = outcome.program_id
    report |= {
        "eventID": outcome.event_id,
        "clientName": client_name[:NAME_MAX],
        "reportName": f"gridshift {outcome.state} {outcome.event_id}"[:NAME_MAX],
        "payloadDescriptors": payload_descriptors,
        "resources": [
            {
                "resourceName": AGGREGATED if aggregate else outcome.zone[:NAME_MAX],
                "intervalPeriod": {
                    "start": rfc3339(outcome.window_start),
                    "duration": iso_duration(outcome.window_end - outcome.window_start),
                },
                "intervals": [{"id": 0, "payloads": payloads}],
            }
        ],
    }
    return report
