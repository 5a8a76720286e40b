"""GridZone: one grid (a province) — its tariff, feeds, green power and live state."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, StringConstraints, model_validator

from orchestrator.api.common import (
    HHMM,
    MAX_GENERATION,
    Conditions,
    DNSLabel,
    DNSSubdomain,
    ExternalId,
    Model,
    SecretKeyRef,
    ShortText,
)

OperatorName = Annotated[
    str, StringConstraints(min_length=1, max_length=63, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
]
"""A grid operator: a key of the webhook's token Secret."""
TouPeriod = Literal["CriticalPeak", "Peak", "Flat", "Valley", "DeepValley"]
Currency = Literal["CNY", "EUR", "USD"]


class TouWindow(Model):
    """A half-open window [start, end) of local wall time carrying one tariff period."""

    start: HHMM = Field(description="start of the window, local time HH:MM.")
    end: HHMM = Field(description='end of the window, local time HH:MM; "24:00" closes the day.')
    period: TouPeriod = Field(description="period of the tariff in this window.")


class TouRatios(Model):
    """Multipliers of each period relative to flat, as the regulator states them.

    Informational: in most provinces they multiply a floating component of the price, not the
    all-in price, so gridshift prices periods from ``pricesPerKWh`` instead.
    """

    critical_peak: float | None = Field(
        default=None, gt=0, le=10, description="criticalPeak multiplier, when the season has one."
    )
    peak: float | None = Field(default=None, gt=0, le=10, description="peak multiplier.")
    flat: float = Field(default=1.0, gt=0, le=10, description="flat multiplier, normally 1.0.")
    valley: float | None = Field(default=None, gt=0, le=10, description="valley multiplier.")
    deep_valley: float | None = Field(
        default=None, gt=0, le=10, description="deepValley multiplier, when the season has one."
    )


class TouSeason(Model):
    """The windows (and stated ratios) that apply in some months of the year."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=63)] = Field(
        description="name of the season, for people (for example summer_with_critical_peak)."
    )
    months: list[Annotated[int, Field(ge=1, le=12)]] = Field(
        min_length=1,
        max_length=12,
        description="months (1-12) in which this season applies.",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    ratios: TouRatios | None = Field(
        default=None, description="ratios of each period to flat, as stated by the source."
    )
    windows: list[TouWindow] = Field(
        min_length=1,
        max_length=48,
        description="windows covering the day without overlap, in order from 00:00 to 24:00.",
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "self[0].start == '00:00' && self[size(self) - 1].end == '24:00'",
                    "message": "windows must start at 00:00 and end at 24:00",
                },
                {
                    "rule": "self.all(w, w.start < w.end)",
                    "message": "each window must end after it starts",
                },
            ]
        },
    )


class PeriodPrices(Model):
    """All-in energy prices of each period for one tariff class and month, per kWh."""

    critical_peak: float | None = Field(
        default=None, gt=0, le=100, description="criticalPeak price, when the tariff has one."
    )
    peak: float = Field(gt=0, le=100, description="peak price.")
    flat: float = Field(gt=0, le=100, description="flat price.")
    valley: float = Field(gt=0, le=100, description="valley price.")
    deep_valley: float | None = Field(
        default=None, gt=0, le=100, description="deepValley price, when the tariff has one."
    )


class TouTariff(Model):
    """A provincial time-of-use tariff: periods by season and a price for each period."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": (
                        "self.seasons.all(s, s.windows.all(w, "
                        "(w.period != 'CriticalPeak' || has(self.pricesPerKWh.criticalPeak)) && "
                        "(w.period != 'DeepValley' || has(self.pricesPerKWh.deepValley))))"
                    ),
                    "message": "every period used in a window needs a price in pricesPerKWh",
                }
            ]
        }
    )

    source: ShortText = Field(
        description="source of the tariff, for auditors (notice number and issuer)."
    )
    tariff_class: ShortText = Field(
        default="", description="tariffClass and voltage the prices are for."
    )
    price_month: Annotated[
        str, StringConstraints(min_length=7, max_length=7, pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$")
    ] = Field(description="priceMonth (YYYY-MM) the prices were published for.")
    prices_per_kwh: PeriodPrices = Field(
        alias="pricesPerKWh", description="pricesPerKWh of each period, in the zone's currency."
    )
    ratio_basis: ShortText = Field(
        default="", description="ratioBasis: what the stated ratios multiply."
    )
    seasons: list[TouSeason] = Field(
        min_length=1, max_length=12, description="seasons; together they cover the year."
    )

    @model_validator(mode="after")
    def _every_period_priced(self) -> TouTariff:
        used = {w.period for s in self.seasons for w in s.windows}
        prices = self.prices_per_kwh
        if "CriticalPeak" in used and prices.critical_peak is None:
            raise ValueError("every period used in a window needs a price in pricesPerKWh")
        if "DeepValley" in used and prices.deep_valley is None:
            raise ValueError("every period used in a window needs a price in pricesPerKWh")
        return self


class PriceFeed(Model):
    """A price or carbon feed polled on a schedule."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "self.type == 'OpenADRPoll' || !has(self.pollIntervalSeconds)"
                    " || self.pollIntervalSeconds >= 60",
                    "message": "pollIntervalSeconds below 60 is for OpenADRPoll feeds only",
                    "fieldPath": ".pollIntervalSeconds",
                }
            ]
        }
    )

    type: Literal["TimeOfUse", "HTTPJSON", "ElectricityMaps", "ENTSOE", "OpenADRPoll"] = Field(
        description="type of the feed."
    )
    url: Annotated[str, StringConstraints(max_length=2048, pattern=r"^https?://")] | None = Field(
        default=None, description="url of the feed; not used by TimeOfUse."
    )
    poll_interval_seconds: int = Field(
        default=900,
        ge=10,
        le=86400,
        description="pollIntervalSeconds between two polls (60 or more; OpenADRPoll: 10 or more).",
    )
    value_path: Annotated[str, StringConstraints(max_length=256)] | None = Field(
        default=None, description="valuePath: where the value sits in an HTTPJSON response."
    )
    area: Annotated[str, StringConstraints(max_length=64)] | None = Field(
        default=None, description="area code of the feed (bidding zone, Electricity Maps zone)."
    )
    credentials_secret_ref: SecretKeyRef | None = Field(
        default=None,
        description=(
            "credentialsSecretRef: the token or key for the feed, in a Secret of gridshift's "
            "namespace labelled gridshift.io/feed-credentials=true (no other Secret is read)."
        ),
    )
    grid_operator: OperatorName | None = Field(
        default=None,
        description=(
            "gridOperator (OpenADRPoll, required there): the grid operator this VTN is, one of "
            "the zone's gridOperators; polled events are recorded as its signals, and only its "
            "webhook token is handed to this VTN for the subscription."
        ),
    )

    @model_validator(mode="after")
    def _fast_polls_for_openadr(self) -> PriceFeed:
        if self.type != "OpenADRPoll" and self.poll_interval_seconds < 60:
            raise ValueError("pollIntervalSeconds below 60 is for OpenADRPoll feeds only")
        return self


class OpenADRBinding(Model):
    """How OpenADR 3 events reach this zone."""

    ven_name: Annotated[str, StringConstraints(min_length=1, max_length=128)] = Field(
        description="venName this zone answers as."
    )
    program_names: list[Annotated[str, StringConstraints(max_length=128)]] = Field(
        default_factory=list, max_length=16, description="programNames whose events apply here."
    )
    targets: list[Annotated[str, StringConstraints(max_length=128)]] = Field(
        default_factory=list,
        max_length=32,
        description="targets (OpenADR target values) that select this zone in an event.",
    )
    version: Literal["3.1.0", "3.0.1"] = Field(
        default="3.1.0", description="version of OpenADR the zone's VTN speaks."
    )
    token_url: Annotated[str, StringConstraints(max_length=2048, pattern=r"^https?://")] | None = (
        Field(
            default=None,
            alias="tokenURL",
            description="tokenURL of the VTN's OAuth2 server; unset: what GET /auth/server names.",
        )
    )


class ZoneLatency(Model):
    """Round-trip time from this zone to another zone's clients."""

    zone: DNSLabel = Field(description="zone the round trip goes to.")
    rtt_milliseconds: int = Field(
        alias="rttMilliseconds", ge=0, le=10000, description="rttMilliseconds, measured or agreed."
    )


class GridZoneSpec(Model):
    """What a grid zone is: its clock, tariff, feeds, green power and OpenADR binding."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": (
                        "!has(self.priceFeeds) || self.priceFeeds.all(f, f.type != 'OpenADRPoll' "
                        "|| (has(f.gridOperator) && has(self.gridOperators) && "
                        "f.gridOperator in self.gridOperators))"
                    ),
                    "message": "an OpenADRPoll feed needs a gridOperator listed in gridOperators",
                }
            ]
        }
    )

    display_name: ShortText = Field(default="", description="displayName for people.")
    grid_zone_id: Annotated[str, StringConstraints(max_length=32)] = Field(
        default="", alias="gridZoneID", description="gridZoneID, for example CN-SH."
    )
    timezone: Annotated[str, StringConstraints(min_length=1, max_length=64)] = Field(
        default="Asia/Shanghai", description="timezone of the zone's tariff windows (IANA name)."
    )
    currency: Currency = Field(default="CNY", description="currency of the zone's prices.")
    tariff: TouTariff | None = Field(default=None, description="tariff: the time-of-use tariff.")
    price_feeds: list[PriceFeed] = Field(
        default_factory=list, max_length=8, description="priceFeeds polled for this zone."
    )
    green_power_ratio: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="greenPowerRatio: renewable share of the supply (0-1); unset means unknown.",
    )
    carbon_intensity_g_per_kwh: float | None = Field(
        default=None,
        alias="carbonIntensityGPerKWh",
        ge=0,
        le=2000,
        description="carbonIntensityGPerKWh: static carbon intensity when no feed gives one.",
    )
    openadr: OpenADRBinding | None = Field(
        default=None, alias="openADR", description="openADR: how OpenADR 3 events select this zone."
    )
    latencies: list[ZoneLatency] = Field(
        default_factory=list, max_length=64, description="latencies to other zones."
    )
    signal_ttl_seconds: int = Field(
        default=900,
        alias="signalTTLSeconds",
        ge=60,
        le=86400,
        description="signalTTLSeconds: older signals make the zone Stale; the planner holds.",
    )
    grid_operators: list[OperatorName] = Field(
        default_factory=list,
        max_length=16,
        description=(
            "gridOperators: the grid operators (keys of the webhook's token Secret) that may "
            "send this zone's prices, peak levels and dispatch orders, by webhook or OpenADR; "
            "another operator's token is refused with 403. Empty: the zone takes no webhook "
            "signals, only its own feeds."
        ),
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )

    @model_validator(mode="after")
    def _vtns_bound_to_operators(self) -> GridZoneSpec:
        for feed in self.price_feeds:
            if feed.type == "OpenADRPoll" and feed.grid_operator not in self.grid_operators:
                raise ValueError("an OpenADRPoll feed needs a gridOperator listed in gridOperators")
        return self


class ForecastPoint(Model):
    """The zone's expected state in a future interval."""

    start: datetime = Field(description="start of the interval.")
    end: datetime = Field(description="end of the interval.")
    price_per_kwh: float | None = Field(
        default=None, alias="pricePerKWh", ge=-100, le=100, description="pricePerKWh expected."
    )
    peak_level: int | None = Field(default=None, ge=0, le=3, description="peakLevel expected.")


class PeakWindow(Model):
    """The next window at peak level 2 or more, as the tariff or a forecast says."""

    start: datetime = Field(description="start of the window.")
    end: datetime | None = Field(default=None, description="end of the window, when known.")
    peak_level: int = Field(ge=2, le=3, description="peakLevel expected in the window.")


class GridZoneStatus(Model):
    """The zone as gridshift last observed it."""

    observed_generation: int | None = Field(
        default=None, ge=0, le=MAX_GENERATION, description="observedGeneration the status is for."
    )
    conditions: Conditions = Field(default_factory=list)
    price_per_kwh: float | None = Field(
        default=None, alias="pricePerKWh", ge=-100, le=100, description="pricePerKWh now."
    )
    price_currency: Currency | None = Field(
        default=None, description="priceCurrency of pricePerKWh."
    )
    price_unit: Annotated[str, StringConstraints(max_length=32)] | None = Field(
        default=None, description="priceUnit as the source gave it, for example CNY/kWh."
    )
    price_interval_start: datetime | None = Field(
        default=None, description="priceIntervalStart: start of the interval the price is for."
    )
    price_interval_end: datetime | None = Field(
        default=None, description="priceIntervalEnd: its end; unset when open-ended."
    )
    next_peak: PeakWindow | None = Field(
        default=None, description="nextPeak: the next window at peak level 2 or more, if known."
    )
    tou_period: TouPeriod | None = Field(
        default=None, alias="touPeriod", description="touPeriod now, from the tariff."
    )
    peak_level: int = Field(
        default=0, ge=0, le=3, description="peakLevel now: 0 none, 1 shoulder, 2 peak, 3 critical."
    )
    green_power_ratio: float | None = Field(
        default=None, ge=0, le=1, description="greenPowerRatio now."
    )
    carbon_intensity_g_per_kwh: float | None = Field(
        default=None,
        alias="carbonIntensityGPerKWh",
        ge=0,
        le=2000,
        description="carbonIntensityGPerKWh now.",
    )
    active_events: list[DNSSubdomain] = Field(
        default_factory=list,
        max_length=64,
        description="activeEvents: DemandResponseEvents in force in this zone.",
    )
    forecast: list[ForecastPoint] = Field(
        default_factory=list, max_length=192, description="forecast of price and peak level."
    )
    last_signal_time: datetime | None = Field(
        default=None, description="lastSignalTime: when the newest signal was received."
    )
    last_signal_id: ExternalId | None = Field(
        default=None, alias="lastSignalID", description="lastSignalID: its external id."
    )
    stale: bool = Field(
        default=True, description="stale: no signal within signalTTLSeconds; the planner holds."
    )
