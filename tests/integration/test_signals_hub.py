"""OpenADR notifications through the real webhook into GridZone status and DemandResponseEvents.

Against the fleet's hub (cluster "shanghai", CRDs applied server-side) and the session's
PostgreSQL. The clock is injected, so the research note's July 2026 fixtures are "now".
"""

from __future__ import annotations

import asyncio
import copy
import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException
from operator_process import install_api
from served import serve
from sqlalchemy import Engine, func, select

from orchestrator.api.common import GROUP, VERSION
from orchestrator.clusters.hub import HubClient
from orchestrator.clusters.kube import client_from_file
from orchestrator.devenv import Fleet
from orchestrator.ledger.db import make_engine
from orchestrator.ledger.handle import Ledger
from orchestrator.ledger.models import DrEvent, GridSignal
from orchestrator.ledger.schema import upgrade_to_head
from orchestrator.settings import Settings
from orchestrator.signals.auth import Credentials, TokenStore
from orchestrator.signals.directory import ZoneDirectory
from orchestrator.signals.feeds import schedule_for
from orchestrator.signals.ingest import Ingestor
from orchestrator.signals.processor import Processor, dr_event_name
from orchestrator.signals.webhook import create_app
from orchestrator.signals.wiring import build

HUB = "shanghai"
TARGET = "cluster-sh-lingang-01"
RUN = uuid.uuid4().hex[:6]
OPERATOR = f"vtn-{RUN}"
TOKEN = f"token-{RUN}"
PEAK_SHAVING: dict[str, Any] = json.loads("""
{"objectType":"EVENT","operation":"CREATE","object":{"id":"evt-20260715-sh-peak-01","createdDateTime":"2026-07-14T09:30:02Z","modificationDateTime":"2026-07-14T09:30:02Z","objectType":"EVENT","programID":"sh-dc-peak-shaving","eventName":"Shanghai peak shaving 2026-07-15 12:00-13:00 CST","priority":0,"targets":["cluster-sh-lingang-01"],
 "payloadDescriptors":[{"objectType":"EVENT_PAYLOAD_DESCRIPTOR","payloadType":"IMPORT_CAPACITY_LIMIT","units":"KW"},{"objectType":"EVENT_PAYLOAD_DESCRIPTOR","payloadType":"PRICE","units":"KWH","currency":"CNY"}],
 "reportDescriptors":[{"payloadType":"DEMAND","readingType":"MEAN","units":"KW","startInterval":-1,"numIntervals":-1,"historical":true,"frequency":-1,"repeat":1}],
 "intervalPeriod":{"start":"2026-07-15T04:00:00Z","duration":"PT15M","randomizeStart":"PT0S"},
 "intervals":[{"id":0,"payloads":[{"type":"IMPORT_CAPACITY_LIMIT","values":[6000.0]},{"type":"PRICE","values":[1.32]}]},
              {"id":1,"payloads":[{"type":"IMPORT_CAPACITY_LIMIT","values":[5000.0]},{"type":"PRICE","values":[1.58]}]},
              {"id":2,"payloads":[{"type":"IMPORT_CAPACITY_LIMIT","values":[5000.0]},{"type":"PRICE","values":[1.58]}]},
              {"id":3,"payloads":[{"type":"IMPORT_CAPACITY_LIMIT","values":[6000.0]},{"type":"PRICE","values":[1.32]}]}]},
 "targets":["cluster-sh-lingang-01"]}
""")
FAST_SHED: dict[str, Any] = json.loads("""
{"objectType":"EVENT","operation":"UPDATE","object":{"id":"evt-dr-0042","createdDateTime":"2026-07-15T05:55:10Z","modificationDateTime":"2026-07-15T05:57:41Z","objectType":"EVENT","programID":"grid-dr-fast","eventName":"minute-level load shed","priority":0,"targets":["cluster-sh-lingang-01"],
 "payloadDescriptors":[{"objectType":"EVENT_PAYLOAD_DESCRIPTOR","payloadType":"SIMPLE"}],
 "intervalPeriod":{"start":"0001-01-01T00:00:00Z","duration":"PT30M"},"intervals":[{"id":0,"payloads":[{"type":"SIMPLE","values":[2]}]}]}}
""")
PROGRAM_POST: dict[str, Any] = json.loads("""
{"objectType":"PROGRAM","operation":"POST","object":{"bindingEvents":false,"createdDateTime":"2023-06-15T15:51:29.000Z","id":"0","localPrice":false,"objectType":"PROGRAM","programName":"myProgram"}}
""")


class Clock:
    """A settable clock."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def snake(value: Any) -> Any:
    """camelCase keys as the reference VTN writes them (snake_case, ID as _id)."""
    if isinstance(value, dict):
        return {
            "".join("_" + c.lower() if c.isupper() else c for c in k.replace("ID", "_id")).lstrip(
                "_"
            ): snake(v)
            for k, v in value.items()
        }
    return [snake(v) for v in value] if isinstance(value, list) else value


@dataclass
class Env:
    """The hub, the ledger and this module's zones."""

    fleet: Fleet
    api: client.ApiClient
    hub: HubClient
    engine: Engine
    database_url: str
    zones: list[str]
    ledger: Ledger

    def objects(self) -> client.CustomObjectsApi:
        return client.CustomObjectsApi(self.api)

    def zone(self, name: str) -> dict[str, Any]:
        return dict(self.objects().get_cluster_custom_object(GROUP, VERSION, "gridzones", name))

    def dr_event(self, name: str) -> dict[str, Any] | None:
        try:
            return dict(
                self.objects().get_cluster_custom_object(
                    GROUP, VERSION, "demandresponseevents", name
                )
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def create_zone(self, spec: dict[str, Any]) -> str:
        name = f"sig-{uuid.uuid4().hex[:8]}"
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "GridZone",
            "metadata": {"name": name},
            "spec": {
                "currency": "CNY",
                "signalTTLSeconds": 60,
                "gridOperators": [OPERATOR],
                **spec,
            },
        }
        self.objects().create_cluster_custom_object(GROUP, VERSION, "gridzones", body)
        self.zones.append(name)
        return name

    def directory(self, *names: str) -> ZoneDirectory:
        return ZoneDirectory(z for z in self.hub.list_zones() if z.name in names)


@pytest.fixture(scope="module")
def env(fleet: Fleet, database_url: str) -> Iterator[Env]:
    """CRDs in the hub, the ledger at head; the module's zones and DR events removed after."""
    install_api(fleet)
    upgrade_to_head(database_url)
    api = client_from_file(fleet.kubeconfig(HUB))
    engine = make_engine(database_url)
    made = Env(fleet, api, HubClient(api), engine, database_url, [], Ledger(database_url))
    yield made
    for name in made.zones:
        fleet.kubectl(HUB, "delete", "gridzone", name, "--ignore-not-found", "--wait=false")
        fleet.kubectl(
            HUB,
            "delete",
            "demandresponseevents",
            "-l",
            f"gridshift.io/zone={name}",
            "--ignore-not-found",
            "--wait=false",
        )
    made.ledger.close()
    engine.dispose()


@dataclass
class Pipeline:
    """Webhook (served on loopback) and processor over the real ledger and hub."""

    url: str
    ingestor: Ingestor
    processor: Processor
    clock: Clock


@contextmanager
def pipeline(env: Env, zones: ZoneDirectory, now: datetime) -> Iterator[Pipeline]:
    """The webhook app and a processor, both on ``now``'s clock."""
    clock = Clock(now)
    ingestor = Ingestor(
        ledger=env.ledger,
        zones=zones,
        tokens=TokenStore({OPERATOR: Credentials(TOKEN.encode())}),
        clock=clock,
    )
    processor = Processor(ledger=env.ledger, hub=env.hub, clock=clock, schedules=schedule_for)
    ingestor.on_recorded = processor.touch
    with serve(create_app(ingestor)) as url:
        yield Pipeline(url, ingestor, processor, clock)


def notify(url: str, document: dict[str, Any]) -> dict[str, Any]:
    """POST a notification to the OpenADR callback; the answer's JSON."""
    answer = httpx.post(
        url + "/openadr/callback",
        json=document,
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def reconcile(env: Env, run: Pipeline, name: str) -> dict[str, Any]:
    """Reconcile zone ``name`` and read its status back from the hub."""
    (zone,) = [z for z in env.hub.list_zones() if z.name == name]
    run.processor.reconcile_zone(zone)
    return dict(env.zone(name)["status"])


def dr_state(env: Env, zone: str, event_id: str) -> str | None:
    """The ledger's state of this run's DR event ``event_id`` in ``zone``."""
    with env.engine.connect() as connection:
        return connection.execute(
            select(DrEvent.state).where(
                DrEvent.source == f"openadr:{OPERATOR}", DrEvent.external_id == f"{zone}/{event_id}"
            )
        ).scalar_one_or_none()


def test_peak_shaving_sets_price_and_creates_the_dr_event(env: Env) -> None:
    """3.1.0 CREATE: price 1.32 now, 1.58 ahead, one DemandResponseEvent capping 5000 kW."""
    name = env.create_zone({"openADR": {"venName": "gs", "targets": [TARGET]}})
    with pipeline(env, env.directory(name), datetime(2026, 7, 15, 4, 10, tzinfo=UTC)) as run:
        assert notify(run.url, PEAK_SHAVING) == {"accepted": 8, "duplicates": 0, "ignored": 0}
        status = reconcile(env, run, name)
    assert status["pricePerKWh"] == 1.32
    assert not status["stale"]
    assert [p["pricePerKWh"] for p in status["forecast"]] == [1.58, 1.58, 1.32]
    dre_name = dr_event_name(name, f"openadr:{OPERATOR}", "evt-20260715-sh-peak-01")
    assert status["activeEvents"] == [dre_name]
    (cond,) = status["conditions"]
    assert (cond["type"], cond["status"], cond["reason"]) == ("SignalsFresh", "True", "Fresh")
    dre = env.dr_event(dre_name)
    assert dre is not None
    assert dre["spec"]["importCapKW"] == 5000
    assert dre["spec"]["window"] == {"start": "2026-07-15T04:00:00Z", "end": "2026-07-15T05:00:00Z"}
    assert dre["spec"]["source"]["eventID"] == "evt-20260715-sh-peak-01"
    assert dre["metadata"]["labels"]["gridshift.io/zone"] == name
    assert dr_state(env, name, "evt-20260715-sh-peak-01") == "Scheduled"


def test_snake_case_variant_gives_the_same_state(env: Env) -> None:
    """The same notification in snake_case keys produces the same price and import cap."""
    name = env.create_zone({"openADR": {"venName": "gs", "targets": [TARGET]}})
    with pipeline(env, env.directory(name), datetime(2026, 7, 15, 4, 20, tzinfo=UTC)) as run:
        answer = notify(run.url, snake(PEAK_SHAVING))
        status = reconcile(env, run, name)
    assert answer["accepted"] == 8
    assert status["pricePerKWh"] == 1.58
    dre = env.dr_event(dr_event_name(name, f"openadr:{OPERATOR}", "evt-20260715-sh-peak-01"))
    assert dre is not None
    assert dre["spec"]["importCapKW"] == 5000


def test_3_0_1_update_sets_the_peak_level_now(env: Env) -> None:
    """3.0.1 spelling (PUT, valuesMap targets), start 0001-01-01: peak level 2 for 30 minutes."""
    name = env.create_zone({"openADR": {"venName": "gs", "targets": [TARGET]}})
    old = copy.deepcopy(FAST_SHED)
    old["operation"] = "PUT"
    old["object"]["targets"] = [{"type": "RESOURCE_NAME", "values": [TARGET]}]
    with pipeline(env, env.directory(name), datetime(2026, 7, 15, 6, 0, tzinfo=UTC)) as run:
        assert notify(run.url, old)["accepted"] == 1
        assert notify(run.url, PROGRAM_POST) == {"accepted": 0, "duplicates": 0, "ignored": 1}
        status = reconcile(env, run, name)
        assert status["peakLevel"] == 2
        run.clock.now = datetime(2026, 7, 15, 6, 28, tzinfo=UTC)
        assert notify(run.url, old) == {"accepted": 0, "duplicates": 1, "ignored": 0}
        assert reconcile(env, run, name)["peakLevel"] == 0


def test_delete_cancels_the_dr_event(env: Env) -> None:
    """DELETE of the event: DemandResponseEvent Cancelled, ledger Cancelled, its price gone."""
    name = env.create_zone({"openADR": {"venName": "gs", "targets": [TARGET]}})
    dre_name = dr_event_name(name, f"openadr:{OPERATOR}", "evt-20260715-sh-peak-01")
    with pipeline(env, env.directory(name), datetime(2026, 7, 15, 4, 10, tzinfo=UTC)) as run:
        notify(run.url, PEAK_SHAVING)
        reconcile(env, run, name)
        assert notify(run.url, {**PEAK_SHAVING, "operation": "DELETE"})["accepted"] == 1
        status = reconcile(env, run, name)
    dre = env.dr_event(dre_name)
    assert dre is not None
    assert dre["status"]["state"] == "Cancelled"
    assert dre["status"]["conditions"][0]["reason"] == "CancelledBySource"
    assert dr_state(env, name, "evt-20260715-sh-peak-01") == "Cancelled"
    assert status["activeEvents"] == []
    assert "pricePerKWh" not in status


def test_processing_resumes_from_the_ledger_after_a_restart(env: Env) -> None:
    """Signals acknowledged but never processed are taken up by a fresh processor, once."""
    name = env.create_zone({"openADR": {"venName": "gs", "targets": [TARGET]}})
    now = datetime(2026, 7, 15, 4, 40, tzinfo=UTC)
    with pipeline(env, env.directory(name), now) as run:
        run.ingestor.on_recorded = None  # the process "dies" right after the commit
        notify(run.url, PEAK_SHAVING)
    restarted = Processor(ledger=env.ledger, hub=env.hub, clock=Clock(now))
    (zone,) = [z for z in env.hub.list_zones() if z.name == name]
    restarted.reconcile_zone(zone)
    status = env.zone(name)["status"]
    assert status["pricePerKWh"] == 1.58
    assert env.dr_event(dr_event_name(name, f"openadr:{OPERATOR}", "evt-20260715-sh-peak-01"))
    with env.engine.connect() as connection:
        left = connection.execute(
            select(func.count())
            .select_from(GridSignal)
            .where(GridSignal.zone == name, GridSignal.processed_at.is_(None))
        ).scalar_one()
    assert left == 0
    again = next(z for z in env.hub.list_zones() if z.name == name)
    assert restarted.reconcile_zone(again).price_per_kwh == 1.58


def test_zone_turns_stale_after_its_ttl(env: Env) -> None:
    """No signal for longer than signalTTLSeconds: stale, SignalsFresh False with reason Stale."""
    name = env.create_zone({"openADR": {"venName": "gs", "targets": [TARGET]}})
    with pipeline(env, env.directory(name), datetime(2026, 7, 15, 4, 10, tzinfo=UTC)) as run:
        notify(run.url, PEAK_SHAVING)
        assert reconcile(env, run, name)["stale"] is False
        run.clock.now += timedelta(seconds=61)
        status = reconcile(env, run, name)
    assert status["stale"] is True
    (cond,) = status["conditions"]
    assert (cond["status"], cond["reason"]) == ("False", "Stale")
    assert "planner holds" in cond["message"]


def test_service_processes_webhook_signals_and_its_jobs_run(env: Env, fleet: Fleet) -> None:
    """The assembled service: refresh reads zones and tokens, the webhook wakes processing."""
    name = env.create_zone(
        {
            "gridZoneID": "CN-SH",
            "openADR": {"venName": "gs", "targets": [f"svc-{RUN}"]},
            "priceFeeds": [{"type": "TimeOfUse", "pollIntervalSeconds": 60}],
        }
    )
    secret = f"operators-{RUN}"
    namespace = "apiVersion: v1\nkind: Namespace\nmetadata: {name: gridshift-system}\n"
    fleet.kubectl(HUB, "apply", "-f", "-", stdin=namespace)
    fleet.kubectl(
        HUB,
        "create",
        "secret",
        "generic",
        secret,
        "-n",
        "gridshift-system",
        f"--from-literal={OPERATOR}={TOKEN}",
    )
    settings = Settings(
        webhook_token_secret=secret,
        signal_reconcile_seconds=1,
        zone_refresh_seconds=1,
    )
    event = copy.deepcopy(FAST_SHED)
    event["object"]["targets"] = [f"svc-{RUN}"]
    event["object"]["id"] = f"svc-evt-{RUN}"
    event["object"]["modificationDateTime"] = "2026-07-15T07:25:00Z"  # 15:25 Beijing: tariff Flat
    clock = Clock(datetime(2026, 7, 15, 7, 30, tzinfo=UTC))

    async def main() -> dict[str, Any]:
        async with httpx.AsyncClient() as http:
            signals = build(
                settings,
                ledger=env.ledger,
                hub=env.hub,
                http=http,
                leader=lambda: True,
                clock=clock,
            )
            await signals.service.start()
            try:
                assert signals.service.scheduler is not None
                jobs = {job.id for job in signals.service.scheduler.get_jobs()}
                assert {"signals.refresh", "signals.reconcile", f"signals.feed.{name}.0"} <= jobs
                with serve(signals.app) as url:
                    await asyncio.to_thread(notify, url, event)
                    deadline = time.monotonic() + 20
                    while time.monotonic() < deadline:
                        status = (await asyncio.to_thread(env.zone, name)).get("status", {})
                        if status.get("peakLevel") == 2 and "pricePerKWh" in status:
                            return dict(status)
                        await asyncio.sleep(0.2)
                raise AssertionError(f"zone {name} never showed the event: {status}")
            finally:
                await signals.service.stop()

    status = asyncio.run(main())
    assert status["touPeriod"] == "Flat"
    assert status["pricePerKWh"] == 0.6811  # the tariff's flat price: no pushed price is current
    assert status["stale"] is False
    assert status["lastSignalID"]
    fleet.kubectl(HUB, "delete", "secret", secret, "-n", "gridshift-system")


def dispatch(event_id: str, target: str, start: datetime) -> dict[str, Any]:
    """An OpenADR IMPORT_CAPACITY_LIMIT order of 500 kW for an hour from ``start``."""
    stamp = start.isoformat().replace("+00:00", "Z")
    return {
        "objectType": "EVENT",
        "operation": "CREATE",
        "object": {
            "id": event_id,
            "createdDateTime": stamp,
            "modificationDateTime": stamp,
            "programID": "fast-dr",
            "targets": [target],
            "payloadDescriptors": [
                {"payloadType": "IMPORT_CAPACITY_LIMIT", "units": "KW"},
            ],
            "intervalPeriod": {"start": stamp, "duration": "PT1H"},
            "intervals": [
                {"id": 0, "payloads": [{"type": "IMPORT_CAPACITY_LIMIT", "values": [500]}]}
            ],
        },
    }


def test_signals_a_follower_records_reach_the_leader_within_seconds(env: Env, fleet: Fleet) -> None:
    """Both replicas serve the webhook. A dispatch order the follower records is applied by the
    leader within seconds (its full reconcile is an hour away here), and the zone's last signal
    time becomes the follower's receipt although the leader itself saw an older signal."""
    target = f"follow-{RUN}"
    name = env.create_zone({"openADR": {"venName": "gs", "targets": [target]}})
    secret = f"followers-{RUN}"
    namespace = "apiVersion: v1\nkind: Namespace\nmetadata: {name: gridshift-system}\n"
    fleet.kubectl(HUB, "apply", "-f", "-", stdin=namespace)
    fleet.kubectl(HUB, "create", "secret", "generic", secret, "-n", "gridshift-system",
                  f"--from-literal={OPERATOR}={TOKEN}")  # fmt: skip
    settings = Settings(
        webhook_token_secret=secret, signal_reconcile_seconds=3600, zone_refresh_seconds=3600
    )
    started = datetime.now(UTC).replace(microsecond=0)
    early = copy.deepcopy(FAST_SHED)
    early["object"].update(
        id=f"early-{RUN}", targets=[target], modificationDateTime=started.isoformat()
    )
    order_id = f"follower-dr-{RUN}"
    dre = dr_event_name(name, f"openadr:{OPERATOR}", order_id)

    def dre_exists() -> bool:
        try:
            env.objects().get_cluster_custom_object(GROUP, VERSION, "demandresponseevents", dre)
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise
        return True

    async def main() -> tuple[float, datetime, dict[str, Any]]:
        async with httpx.AsyncClient() as http:
            replicas = [
                build(settings, ledger=env.ledger, hub=env.hub, http=http, leader=lambda: True),
                build(settings, ledger=env.ledger, hub=env.hub, http=http, leader=lambda: False),
            ]
            for replica in replicas:
                await replica.service.start()
            try:
                with serve(replicas[0].app) as leader_url, serve(replicas[1].app) as follower_url:
                    await asyncio.to_thread(notify, leader_url, early)
                    await asyncio.sleep(2.5)
                    sent_at = datetime.now(UTC)
                    await asyncio.to_thread(
                        notify, follower_url, dispatch(order_id, target, started)
                    )
                    clock = time.monotonic()
                    while not await asyncio.to_thread(dre_exists):
                        assert time.monotonic() - clock < 10, "the leader never applied the order"
                        await asyncio.sleep(0.1)
                    took = time.monotonic() - clock
                    await asyncio.sleep(0.5)
                    status = (await asyncio.to_thread(env.zone, name)).get("status", {})
                    return took, sent_at, dict(status)
            finally:
                for replica in replicas:
                    await replica.service.stop()

    try:
        took, sent_at, status = asyncio.run(main())
    finally:
        fleet.kubectl(HUB, "delete", "secret", secret, "-n", "gridshift-system")
    print(f"follower's dispatch order applied by the leader in {took:.2f} s")
    assert took < 5
    last = datetime.fromisoformat(status["lastSignalTime"].replace("Z", "+00:00"))
    assert last >= sent_at - timedelta(seconds=1), (last, sent_at)
