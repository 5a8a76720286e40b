"""The shipped provincial time-of-use dataset (``data/tou-tariffs.yaml``) as schedules.

The dataset is package data, copied unchanged from the project's research (version
``dataset_version``; eleven provinces; every number with its ``read_at`` sources and a
``confidence``). :func:`dataset_schedule` picks, for a grid zone id such as ``CN-SH`` and a day,
the first version in force that has seasons, and its prices:

- the newest price row that prices every period its windows use, else the newest row;
- only the periods that row prices get a price, so a critical peak the row does not price has
  none (the ratios are never multiplied: they apply to the energy part of the price only);
- the provenance (notice, price month, class, voltage, confidence, ratio basis) goes into
  ``Schedule.source``.

A zone that sets ``spec.tariff`` uses that instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from orchestrator.api.gridzone import TouPeriod
from orchestrator.errors import ConfigError
from orchestrator.signals.tou import Schedule, Season, Window, minutes

DATASET = "tou-tariffs.yaml"
PERIODS: Mapping[str, TouPeriod] = {
    "critical_peak": "CriticalPeak",
    "peak": "Peak",
    "flat": "Flat",
    "valley": "Valley",
    "deep_valley": "DeepValley",
}


@lru_cache(maxsize=1)
def load_dataset() -> dict[str, Any]:
    """The dataset as parsed YAML (read once)."""
    text = resources.files("orchestrator.signals").joinpath("data", DATASET).read_text("utf-8")
    data = yaml.safe_load(text)
    if not isinstance(data, dict) or data.get("schema_version") != 1:
        raise ConfigError(f"{DATASET} is not schema version 1")
    return data


def dataset_version() -> str:
    """The dataset's version date."""
    return str(load_dataset()["dataset_version"])


def _in_force(version: Mapping[str, Any], on: date) -> bool:
    start, end = version.get("effective_from"), version.get("effective_to")
    if start is not None and date.fromisoformat(str(start)) > on:
        return False
    return end is None or date.fromisoformat(str(end)) >= on


def _price_row(version: Mapping[str, Any], used: set[TouPeriod]) -> Mapping[str, Any] | None:
    rows = sorted(
        version.get("prices_cny_per_kwh") or [], key=lambda r: str(r["month"]), reverse=True
    )
    for row in rows:
        if all(any(PERIODS[k] == p for k in row if k in PERIODS) for p in used):
            return row  # type: ignore[no-any-return]
    return rows[0] if rows else None


def dataset_schedule(grid_zone_id: str, *, on: date) -> Schedule:
    """The schedule of ``grid_zone_id`` in force ``on`` a day; ``ConfigError`` when none is."""
    data = load_dataset()
    for province in data["provinces"]:
        if province["grid_zone_id"] != grid_zone_id:
            continue
        for version in province["versions"]:
            if not version.get("seasons") or not _in_force(version, on):
                continue
            seasons = tuple(
                Season(
                    months=frozenset(int(m) for m in s["months"]),
                    windows=tuple(
                        Window(minutes(w["start"]), minutes(w["end"]), PERIODS[w["period"]])
                        for w in s["windows"]
                    ),
                )
                for s in version["seasons"]
            )
            used = {w.period for s in seasons for w in s.windows}
            row = _price_row(version, used)
            prices = {PERIODS[k]: float(v) for k, v in (row or {}).items() if k in PERIODS}
            return Schedule(
                seasons=seasons,
                timezone=str(version.get("timezone") or data["timezone"]),
                prices=prices,
                currency="CNY",
                source=_provenance(version, row),
            )
    raise ConfigError(
        f"the tariff dataset {dataset_version()} has no schedule for {grid_zone_id!r} on {on}; "
        "set spec.tariff on the GridZone"
    )


def _provenance(version: Mapping[str, Any], row: Mapping[str, Any] | None) -> str:
    notice = version["source"].get("number", "")
    text = (
        f"{notice} ({version['id']}, confidence {version.get('confidence')}); "
        f"ratio basis: {version.get('ratio_basis') or 'not stated'}"
    )
    if row is None:
        return f"{text}; no price found in dataset {dataset_version()}"
    return (
        f"{text}; prices {row['month']} {row.get('tariff_class', '')} {row.get('voltage', '')} "
        f"(confidence {row.get('confidence')}, read at {', '.join(row.get('read_at', []))}); "
        f"dataset {dataset_version()}"
    )
