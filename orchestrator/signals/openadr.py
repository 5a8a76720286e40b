"""OpenADR 3 (3.0.1 and 3.1.0): our own pydantic models of the subset gridshift uses.

The published ``openadr3-client`` needs Python 3.12, so the objects are modelled here from
``openadr3.yaml``: events with their intervals, payloads and descriptors, notifications,
subscriptions and reports. Parsing is lenient where the versions differ and strict where a
wrong value would move load:

- keys may come in snake_case (the reference VTN's quirk): :func:`coerce_keys` turns
  ``program_id`` into ``programID`` and ``interval_period`` into ``intervalPeriod``;
- notification operations come as CRUD (3.1.0) or HTTP verbs (3.0.x): :func:`normalize_operation`
  maps ``POST``/``PUT``/``GET`` to ``CREATE``/``UPDATE``/``READ``;
- targets are strings (3.1.0) or valuesMaps such as ``{"type": "GROUP", "values": [...]}``
  (3.0.1): :meth:`Event.target_names` flattens both.

Unknown fields are ignored; every list and string is bounded.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from orchestrator.errors import SignalError

Operation = Literal["CREATE", "READ", "UPDATE", "DELETE"]
_VERBS: dict[str, Operation] = {
    "CREATE": "CREATE",
    "POST": "CREATE",
    "READ": "READ",
    "GET": "READ",
    "UPDATE": "UPDATE",
    "PUT": "UPDATE",
    "DELETE": "DELETE",
}
_ID_SUFFIX = re.compile(r"_id$")
MAX_INTERVALS = 1000
MAX_VALUES = 1000

Text128 = Annotated[str, StringConstraints(min_length=1, max_length=128)]
Scalar = float | int | str | bool


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)


class Point(_Wire):
    """A point value of a valuesMap."""

    x: float | None = None
    y: float | None = None


class ValuesMap(_Wire):
    """A type and its values: an interval's payload, or a 3.0.1 target."""

    type: Text128
    values: list[Scalar | Point] = Field(default_factory=list, max_length=MAX_VALUES)


class IntervalPeriod(_Wire):
    """When an interval (or every interval of an event) starts and how long it lasts."""

    start: Annotated[str, StringConstraints(max_length=64)] | None = None
    duration: Annotated[str, StringConstraints(max_length=64)] | None = None
    randomize_start: Annotated[str, StringConstraints(max_length=64)] | None = Field(
        default=None, alias="randomizeStart"
    )


class PayloadDescriptor(_Wire):
    """What a payload type's values mean: units and currency."""

    payload_type: Text128 = Field(alias="payloadType")
    units: Annotated[str, StringConstraints(max_length=128)] | None = None
    currency: Annotated[str, StringConstraints(max_length=16)] | None = None


class Interval(_Wire):
    """One interval of an event: an id, an optional period override, its payloads."""

    id: int = Field(ge=-(2**31), le=2**31 - 1)
    interval_period: IntervalPeriod | None = Field(default=None, alias="intervalPeriod")
    payloads: list[ValuesMap] = Field(default_factory=list, max_length=64)


class Event(_Wire):
    """An OpenADR EVENT object (the fields gridshift reads)."""

    id: Text128 | None = None
    program_id: Text128 = Field(alias="programID")
    event_name: Annotated[str, StringConstraints(max_length=256)] | None = Field(
        default=None, alias="eventName"
    )
    priority: int | None = Field(default=None, ge=0)
    created: Annotated[str, StringConstraints(max_length=64)] | None = Field(
        default=None, alias="createdDateTime"
    )
    modified: Annotated[str, StringConstraints(max_length=64)] | None = Field(
        default=None, alias="modificationDateTime"
    )
    targets: list[Text128 | ValuesMap] | None = Field(default=None, max_length=128)
    payload_descriptors: list[PayloadDescriptor] | None = Field(
        default=None, alias="payloadDescriptors", max_length=64
    )
    interval_period: IntervalPeriod | None = Field(default=None, alias="intervalPeriod")
    duration: Annotated[str, StringConstraints(max_length=64)] | None = None
    intervals: list[Interval] = Field(default_factory=list, max_length=MAX_INTERVALS)

    def target_names(self) -> list[str]:
        """Every target value, whether given as strings (3.1) or valuesMaps (3.0.1)."""
        return flatten_targets(self.targets)

    def descriptor(self, payload_type: str) -> PayloadDescriptor | None:
        """The descriptor of ``payload_type``, if the event gives one."""
        for found in self.payload_descriptors or []:
            if found.payload_type == payload_type:
                return found
        return None


class Program(_Wire):
    """An OpenADR PROGRAM object (its id and name: what resolves ``programNames``)."""

    id: Text128
    program_name: Annotated[str, StringConstraints(max_length=128)] = Field(alias="programName")
    targets: list[Text128 | ValuesMap] | None = Field(default=None, max_length=128)


class Ven(_Wire):
    """An OpenADR VEN object as a VTN returns it."""

    id: Text128
    ven_name: Annotated[str, StringConstraints(max_length=128)] = Field(alias="venName")
    targets: list[Text128 | ValuesMap] | None = Field(default=None, max_length=128)

    def target_names(self) -> list[str]:
        """The VEN's targets (assigned by the VTN's operator in 3.1) as strings."""
        return flatten_targets(self.targets)


class Notification(_Wire):
    """What a VTN sends to a subscription's callback."""

    object_type: Text128 = Field(alias="objectType")
    operation: Text128
    object: dict[str, Any]
    targets: list[Text128 | ValuesMap] | None = Field(default=None, max_length=128)


class ObjectOperation(_Wire):
    """Which objects and operations a subscription asks to hear about, and where."""

    objects: list[Text128]
    operations: list[Text128]
    callback_url: Annotated[str, StringConstraints(max_length=2048)] = Field(alias="callbackUrl")
    bearer_token: Annotated[str, StringConstraints(max_length=4096)] | None = Field(
        default=None, alias="bearerToken"
    )


class Subscription(_Wire):
    """A subscription as a VTN returns it."""

    id: Text128 | None = None
    client_name: Annotated[str, StringConstraints(max_length=128)] = Field(alias="clientName")
    program_id: Text128 | None = Field(default=None, alias="programID")
    object_operations: list[ObjectOperation] = Field(alias="objectOperations", max_length=32)
    targets: list[Text128 | ValuesMap] | None = None


def flatten_targets(targets: list[str | ValuesMap] | None) -> list[str]:
    """Target values as plain strings, in order, without repeats."""
    names: list[str] = []
    for target in targets or []:
        values = [target] if isinstance(target, str) else [str(v) for v in target.values]
        names.extend(v for v in values if v not in names)
    return names


def normalize_operation(operation: str) -> Operation:
    """CRUD for both spellings; ``SignalError`` for anything else."""
    found = _VERBS.get(operation.strip().upper())
    if found is None:
        raise SignalError(f"operation {operation[:32]!r} is not one of {', '.join(_VERBS)}")
    return found


def _camel(key: str) -> str:
    if "_" not in key:
        return key
    key = _ID_SUFFIX.sub("ID", key)
    head, *rest = key.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def coerce_keys(value: Any, *, depth: int = 0) -> Any:
    """``value`` with every snake_case object key in camelCase (``program_id`` -> ``programID``).

    Values are left alone; nesting deeper than 32 levels is refused.
    """
    if depth > 32:
        raise SignalError("the JSON document is nested too deeply")
    if isinstance(value, dict):
        return {_camel(str(k)): coerce_keys(v, depth=depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [coerce_keys(v, depth=depth + 1) for v in value]
    return value


def parse_notification(document: object) -> Notification:
    """A notification from decoded JSON, in either key style; ``SignalError`` when invalid."""
    try:
        return Notification.model_validate(coerce_keys(document))
    except ValidationError as exc:
        raise SignalError(describe_validation(exc, prefix="notification")) from exc


def parse_event(document: object) -> Event:
    """An EVENT object from decoded JSON, in either key style; ``SignalError`` when invalid."""
    try:
        return Event.model_validate(coerce_keys(document))
    except ValidationError as exc:
        raise SignalError(describe_validation(exc, prefix="event")) from exc


def describe_validation(exc: ValidationError, *, prefix: str) -> str:
    """One line naming the first failing fields of a pydantic error."""
    parts = []
    for error in exc.errors()[:3]:
        where = ".".join(str(p) for p in (prefix, *error["loc"]))
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)
