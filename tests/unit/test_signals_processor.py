"""Names and specs of the DemandResponseEvents the processor writes."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from orchestrator.api.drevent import DemandResponseEventSpec
from orchestrator.signals.model import DrOrder
from orchestrator.signals.processor import dr_event_key, dr_event_name, dr_event_spec

DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
START = datetime(2026, 7, 15, 4, tzinfo=UTC)


@given(
    zone=st.from_regex(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", fullmatch=True),
    source=st.text(min_size=1, max_size=80),
    event=st.text(min_size=1, max_size=128),
)
def test_names_are_dns_subdomains_and_distinct_per_source(
    zone: str, source: str, event: str
) -> None:
    """Any event id gives a valid object name; another source gives another name."""
    name = dr_event_name(zone, source, event)
    assert len(name) <= 253
    assert DNS_SUBDOMAIN.match(name), name
    assert dr_event_name(zone, source + "x", event) != name
    assert len(dr_event_key(zone, event)) <= 253


def test_spec_of_an_openadr_import_cap() -> None:
    """An import-cap order becomes importCapKW with the source's ids; bounds are respected."""
    order = DrOrder(
        event_id="evt-1",
        kind="import_cap",
        kw=5000.0,
        window_start=START,
        window_end=START + timedelta(hours=1),
        deadline_seconds=5,
        priority=5000,
        source_kind="OpenADR",
        program="sh-dc",
    )
    spec = dr_event_spec("shanghai", "openadr:vtn-1", order)
    assert isinstance(spec, DemandResponseEventSpec)
    assert (spec.import_cap_kw, spec.shed_kw) == (5000.0, None)
    assert (spec.response_deadline_seconds, spec.priority) == (30, 1000)
    assert (spec.source.kind, spec.source.event_id, spec.source.issuer) == (
        "OpenADR",
        "evt-1",
        "vtn-1",
    )


def test_spec_of_a_native_shed_order() -> None:
    """A native shed order becomes shedKW, open-ended when it has no end."""
    order = DrOrder(event_id="o1", kind="shed", kw=500.0, window_start=START, window_end=None)
    spec = dr_event_spec("hubei", "native:sgcc", order)
    assert (spec.shed_kw, spec.import_cap_kw, spec.window.end) == (500.0, None, None)
    assert spec.source.kind == "Native"
