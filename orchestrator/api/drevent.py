"""DemandResponseEvent: a dispatch order from the grid operator."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, StringConstraints, model_validator

from orchestrator.api.common import MAX_GENERATION, Conditions, DNSLabel, ExternalId, Model

DREventState = Literal["Scheduled", "Active", "Met", "Missed", "Ended", "Cancelled"]


class Window(Model):
    """When the order is in force; no end means until cancelled."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "!has(self.end) || self.end > self.start",
                    "message": "end must be after start",
                    "fieldPath": ".end",
                }
            ]
        }
    )

    start: datetime = Field(description="start of the window.")
    end: datetime | None = Field(default=None, description="end of the window; unset: open-ended.")

    @model_validator(mode="after")
    def _ends_after_start(self) -> Window:
        if self.end is not None and self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class EventSource(Model):
    """Where the order came from."""

    kind: Literal["OpenADR", "Native", "Manual"] = Field(description="kind of source.")
    event_id: ExternalId | None = Field(
        default=None, alias="eventID", description="eventID at the source (OpenADR event id)."
    )
    program: Annotated[str, StringConstraints(max_length=128)] | None = Field(
        default=None, description="program the event belongs to."
    )
    issuer: Annotated[str, StringConstraints(max_length=253)] | None = Field(
        default=None, description="issuer: the VTN or grid operator that sent it."
    )


class DemandResponseEventSpec(Model):
    """Shed load (or stay under an import cap) in a zone, within a window, by a deadline."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "has(self.shedKW) != has(self.importCapKW)",
                    "message": "set exactly one of shedKW and importCapKW",
                }
            ]
        }
    )

    zone: DNSLabel = Field(description="zone: the GridZone that must shed.")
    window: Window = Field(description="window the order is in force.")
    shed_kw: float | None = Field(
        default=None, alias="shedKW", gt=0, le=10000000, description="shedKW to take off the zone."
    )
    import_cap_kw: float | None = Field(
        default=None,
        alias="importCapKW",
        ge=0,
        le=10000000,
        description="importCapKW: the most the zone's clusters may draw.",
    )
    response_deadline_seconds: int = Field(
        default=180,
        ge=30,
        le=3600,
        description="responseDeadlineSeconds from the window's start to shed the load.",
    )
    priority: int = Field(default=0, ge=0, le=1000, description="priority (OpenADR priority).")
    source: EventSource = Field(description="source of the order.")

    @model_validator(mode="after")
    def _one_target(self) -> DemandResponseEventSpec:
        if (self.shed_kw is None) == (self.import_cap_kw is None):
            raise ValueError("set exactly one of shedKW and importCapKW")
        return self


class DemandResponseEventStatus(Model):
    """How the response is going."""

    observed_generation: int | None = Field(
        default=None, ge=0, le=MAX_GENERATION, description="observedGeneration the status is for."
    )
    conditions: Conditions = Field(default_factory=list)
    state: DREventState = Field(default="Scheduled", description="state of the event.")
    achieved_kw: float = Field(
        default=0.0, alias="achievedKW", ge=0, le=10000000, description="achievedKW shed so far."
    )
    missing_kw: float = Field(
        default=0.0,
        alias="missingKW",
        ge=0,
        le=10000000,
        description="missingKW the fleet could not shed.",
    )
    responded_at: datetime | None = Field(
        default=None, description="respondedAt: when gridshift started to respond (first move)."
    )
    met_at: datetime | None = Field(
        default=None, description="metAt: when the achieved shed first reached the target."
    )
    reported_at: datetime | None = Field(
        default=None,
        description="reportedAt: when the outcome was reported to the grid operator's VTN.",
    )
    migrations: list[Annotated[str, StringConstraints(max_length=317)]] = Field(
        default_factory=list,
        max_length=256,
        description="migrations (namespace/name) made for this event.",
    )
    message: Annotated[str, StringConstraints(max_length=4096)] = Field(
        default="", description="message for people."
    )
