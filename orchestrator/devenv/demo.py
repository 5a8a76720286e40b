"""The demo: the local fleet, the operator, the sample fleet and an accelerated grid day.

:func:`run_demo` brings up (or reuses) the three provinces and PostgreSQL, installs the API in
the hub (``shanghai`` doubles as hub), registers the members, writes the grid operator's token,
starts ``gridshift run`` (its log in the fleet's directory), loads the demo's samples
(``manifests/samples/demo/``) and plays the day of :mod:`orchestrator.devenv.demo_scenario`:
each simulated hour's prices and peak levels through ``POST /v1/signals``, and the dispatch
order through ``POST /openadr/callback``. It shows the fleet live (:mod:`demo_view`), waits for
moves in flight, stops the operator and returns the :class:`~demo_state.Summary`. The fleet
stays up for exploring.

Given ``webhook_url``, it uses an operator already running against the fleet instead of
starting one (the end-to-end test runs it so, against the test session's fleet and operator).
"""

from __future__ import annotations

import math
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import yaml
from rich.console import Console
from rich.live import Live

from orchestrator.devenv import hub, procs
from orchestrator.devenv.binaries import locate_binaries
from orchestrator.devenv.demo_play import POLL_SECONDS, Player, Webhook, read_state
from orchestrator.devenv.demo_scenario import (
    FULL,
    GRID_OPERATOR,
    HOME,
    SHORT,
    ZONE_IDS,
    Scenario,
    native_batch,
)
from orchestrator.devenv.demo_state import HubState, Summary, demo_moves
from orchestrator.devenv.demo_traffic import (
    live_workload,
    move_windows,
    serves_for_real,
    start_traffic,
)
from orchestrator.devenv.demo_view import Moment, live_view, summary_view
from orchestrator.devenv.fleet import STATE_FILE, Fleet
from orchestrator.devenv.nodes import SIM_LABEL, ClusterSpec, node_manifests
from orchestrator.errors import DevEnvError
from orchestrator.settings import get_settings

SAMPLES = Path(__file__).resolve().parents[2] / "manifests" / "samples" / "demo"
READY_ANNOTATION = "sim.gridshift.io/ready-after"
OPERATOR_LOG = "demo-operator.log"

Progress = Callable[[str], None]


@dataclass(frozen=True)
class DemoOptions:
    """How to run the demo."""

    workdir: Path
    hub: str = HOME
    short: bool = False
    namespace: str = "inference"
    database_url: str | None = None
    """The ledger; default: the fleet's PostgreSQL."""
    webhook_url: str | None = None
    """An operator already serving the fleet's hub; default: start one."""
    live: bool | None = None
    """Draw the live view (default: when the console is a terminal)."""

    @property
    def scenario(self) -> Scenario:
        return SHORT if self.short else FULL


# -- the fleet -------------------------------------------------------------------------------


def prepare_fleet(options: DemoOptions, progress: Progress) -> Fleet:
    """The running fleet in ``workdir``: reused when it is up, started (or completed) otherwise."""
    scenario = options.scenario
    want_postgres = options.database_url is None
    if (options.workdir / STATE_FILE).exists():
        fleet = Fleet.load(options.workdir)
        up = all(fleet.reachable(s.name) for s in fleet.specs)
        db_up = not want_postgres or (fleet.postgres is not None and fleet.postgres.is_running())
        if up and db_up:
            progress(f"reusing the fleet running in {fleet.workdir}")
        else:
            if fleet.postgres is not None and not fleet.postgres.is_running():
                raise DevEnvError(
                    f"the fleet in {fleet.workdir} has a stopped PostgreSQL; run "
                    "`make demo-down` and `make demo` again"
                )
            progress(f"starting what is not running of the fleet in {fleet.workdir}")
            fleet.up(progress=progress, with_postgres=want_postgres)
    else:
        real = os.geteuid() == 0
        specs = [
            ClusterSpec(name, gpu_nodes=scenario.gpu_nodes[name], real_node=real)
            for name in ZONE_IDS
        ]
        fleet = Fleet(options.workdir, locate_binaries(get_settings().bin_dir), specs)
        progress(
            "starting three provinces (real control planes, "
            + ("a real node in each" if real else "no real node: that needs root")
            + ") and PostgreSQL"
        )
        try:
            fleet.up(progress=progress, with_postgres=want_postgres)
        except DevEnvError as exc:
            raise DevEnvError(f"{exc}\n(`make demo-down` removes what did start)") from exc
    missing = [name for name in ZONE_IDS if name not in {s.name for s in fleet.specs}]
    if missing:
        raise DevEnvError(f"the fleet in {fleet.workdir} has no cluster {', '.join(missing)}")
    ensure_gpu_nodes(fleet, scenario, progress)
    return fleet


def ensure_gpu_nodes(fleet: Fleet, scenario: Scenario, progress: Progress) -> None:
    """At least the scenario's simulated 8-GPU nodes (in GPUs) in each province."""
    for name, wanted_nodes in scenario.gpu_nodes.items():
        spec = fleet.spec(name)
        nodes = math.ceil(wanted_nodes * 8 / spec.gpus_per_node)
        found = fleet.kubectl(name, "get", "nodes", "-l", SIM_LABEL, "-o", "name").split()
        if len(found) >= nodes:
            continue
        progress(f"cluster {name}: adding simulated GPU nodes ({len(found)} -> {nodes})")
        hub.apply(fleet, name, node_manifests(replace(spec, gpu_nodes=nodes)))
        fleet.kubectl(
            name, "wait", "--for=condition=Ready", "node", "-l", SIM_LABEL, "--timeout=90s",
            timeout=120,
        )  # fmt: skip


# -- the hub and the samples -----------------------------------------------------------------


def _samples(file: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((SAMPLES / file).read_text()) if d]


def demo_workloads(scenario: Scenario, namespace: str) -> list[dict[str, Any]]:
    """The scenario's InferenceWorkloads: the samples it names, in ``namespace``, adjusted."""
    chosen = []
    for doc in _samples("workloads.yaml"):
        name = doc["metadata"]["name"]
        if name not in scenario.workloads:
            continue
        doc["metadata"]["namespace"] = namespace
        replicas = scenario.workloads[name]
        if replicas is not None:
            doc["spec"]["template"]["replicas"] = replicas
        pod = doc["spec"]["template"]["template"]
        pod.setdefault("metadata", {}).setdefault("annotations", {})[READY_ANNOTATION] = (
            scenario.ready_after
        )
        chosen.append(doc)
    if len(chosen) != len(scenario.workloads):
        raise DevEnvError(f"{SAMPLES / 'workloads.yaml'} lacks workloads of {scenario.name}")
    return chosen


def load_samples(fleet: Fleet, options: DemoOptions, token: str) -> None:
    """The API, members, grid operator's token, zones, policy and workloads in the hub (and
    the live workload, on a fleet with real nodes)."""
    settings = get_settings()
    hub.install_api(fleet, options.hub)
    hub.register_members(fleet, options.hub, list(ZONE_IDS), settings.namespace)
    tokens = hub.secret_manifest(
        settings.webhook_token_secret, settings.namespace, {GRID_OPERATOR: token}
    )
    hub.apply(fleet, options.hub, [tokens])
    hub.apply(fleet, options.hub, _samples("gridzones.yaml") + _samples("migrationpolicy.yaml"))
    hub.apply(
        fleet,
        options.hub,
        [
            hub.namespace_manifest(options.namespace),
            *demo_workloads(options.scenario, options.namespace),
        ],
    )
    if serves_for_real(fleet, options.scenario):
        hub.apply(fleet, options.hub, [live_workload(options.scenario, options.namespace)])


# -- the operator ----------------------------------------------------------------------------


def _gridshift() -> str:
    beside = Path(sys.executable).parent / "gridshift"
    found = str(beside) if beside.exists() else shutil.which("gridshift")
    if found is None:
        raise DevEnvError("the gridshift command is not installed: run `make install`")
    return found


@contextmanager
def operator(fleet: Fleet, options: DemoOptions, database_url: str) -> Iterator[tuple[str, Path]]:
    """A `gridshift run` process for the demo; yields its webhook URL and log file."""
    port = procs.free_port()
    log_path = fleet.workdir / OPERATOR_LOG
    env = {
        **os.environ,
        "GRIDSHIFT_KUBECONFIG": str(fleet.kubeconfig(options.hub)),
        "GRIDSHIFT_DATABASE_URL": database_url,
        "GRIDSHIFT_WEBHOOK_HOST": "127.0.0.1",
        "GRIDSHIFT_WEBHOOK_PORT": str(port),
        "GRIDSHIFT_API_PORT": str(procs.free_port()),
        "GRIDSHIFT_SIGNAL_RECONCILE_SECONDS": "5",
        "GRIDSHIFT_ZONE_REFRESH_SECONDS": "5",
        "GRIDSHIFT_LOG_LEVEL": "INFO",
        **hub.operator_env(fleet),
    }
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [_gridshift(), "run"], stdout=log, stderr=subprocess.STDOUT, env=env
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, process, log_path)
        yield url, log_path
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log_path.read_text(errors="replace")[-2000:]
            raise DevEnvError(f"gridshift run exited ({process.returncode}); {log_path}:\n{tail}")
        try:
            if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise DevEnvError(f"gridshift run did not serve {url}/healthz within 90 s; see {log_path}")


# -- the whole demo --------------------------------------------------------------------------


def wait_placed(fleet: Fleet, options: DemoOptions, progress: Progress, timeout: float) -> None:
    """Every demo workload at home and ready (its simulated model loaded)."""
    deadline = time.monotonic() + timeout
    last_report = 0.0
    while True:
        mine = read_state(fleet, options.hub).in_namespace(options.namespace)
        ready = [w for w in mine if w.cluster == w.home and w.ready >= w.desired]
        if mine and len(ready) == len(mine):
            return
        if time.monotonic() > deadline:
            late = ", ".join(f"{w.name} ({w.cluster}, {w.ready}/{w.desired})" for w in mine)
            raise DevEnvError(
                f"the demo's workloads were not all ready at home within {timeout:.0f} s: {late}"
            )
        if time.monotonic() - last_report > 10:
            progress(f"workloads ready at home: {len(ready)} of {len(mine)}")
            last_report = time.monotonic()
        time.sleep(POLL_SECONDS)


def explore_hints(fleet: Fleet, options: DemoOptions) -> dict[str, str]:
    """Commands to look around after the demo."""
    default = get_settings().dev_dir.expanduser().resolve() == fleet.workdir
    where = "" if default else f" --workdir {fleet.workdir}"
    hints = {
        "the objects": f"kubectl --kubeconfig {fleet.kubeconfig(options.hub)} get gridshift -A",
        "the environment": f'eval "$(gridshift dev env{where})"',
        "the ledger": "gridshift migrations   (after the line above)",
    }
    if options.webhook_url is None:
        hints["stop everything"] = "make demo-down" if default else f"gridshift dev down{where}"
    return hints


def run_demo(options: DemoOptions, console: Console) -> Summary:
    """The whole demo; returns its summary (printed by the caller with :func:`show_summary`)."""
    started = time.monotonic()
    since = datetime.now(UTC).replace(microsecond=0)
    run, token = secrets.token_hex(3), secrets.token_urlsafe(24)
    scenario = options.scenario

    def progress(message: str) -> None:
        console.print(f"[demo {time.monotonic() - started:5.0f} s] {message}", markup=False)

    fleet = prepare_fleet(options, progress)
    database_url = options.database_url or (fleet.postgres.url if fleet.postgres else None)
    if database_url is None:
        raise DevEnvError("no ledger: the fleet has no PostgreSQL; pass --database-url")
    progress(f"installing the gridshift API in the hub ({options.hub}); loading the samples")
    load_samples(fleet, options, token)
    with ExitStack() as stack:
        log_path: Path | None = None
        if options.webhook_url is not None:
            url = options.webhook_url
            progress(f"using the operator serving {url}")
        else:
            progress(f"starting the operator (gridshift run); its log: {fleet.workdir}")
            url, log_path = stack.enter_context(operator(fleet, options, database_url))
        webhook = Webhook(url, token)
        stack.callback(webhook.close)
        player = Player(
            fleet=fleet,
            hub=options.hub,
            namespace=options.namespace,
            scenario=scenario,
            webhook=webhook,
            console=console,
            run=run,
            since=since,
        )
        progress("posting the first prices (the operator reads new tokens and zones shortly)")
        webhook.post_until_accepted(
            "/v1/signals",
            native_batch(run, 0, player.hours(0), now=datetime.now(UTC)),
            timeout=90,
        )
        progress(f"waiting for {len(scenario.workloads)} workloads to load their models at home")
        wait_placed(fleet, options, progress, timeout=300)
        traffic = start_traffic(fleet, scenario, options.namespace, progress)
        if traffic is not None:
            stack.callback(traffic.stop)
        player.traffic = traffic
        progress(
            f"playing {scenario.day} at a few seconds per hour "
            f"({scenario.clock.real_seconds:.0f} s); dispatch at "
            f"{scenario.dispatch_hour:02.0f}:00"
        )
        live = options.live if options.live is not None else console.is_terminal
        if live:
            with Live(console=console, auto_refresh=False) as view:

                def show(moment: Moment, state: HubState) -> None:
                    moves = demo_moves(state, namespace=options.namespace, since=since)
                    view.update(
                        live_view(
                            moment,
                            state,
                            moves,
                            day=str(scenario.day),
                            namespace=options.namespace,
                        ),
                        refresh=True,
                    )

                player.show = show
                player.play()
        else:
            player.play()
        final = player.state or read_state(fleet, options.hub)
        moves = demo_moves(final, namespace=options.namespace, since=since)
        traffic_summary = None
        if traffic is not None:
            progress("stopping the requests; waiting for the answers still streaming")
            traffic.stop()
            traffic_summary = traffic.summary(move_windows(moves, datetime.now(UTC)))
        if log_path is not None:
            progress("stopping the operator; the fleet stays up")
    return Summary(
        moves=moves,
        dispatch=player.dispatch_figures(),
        saving=player.saving.total,
        kwh_moved=player.saving.kwh_moved,
        database_url=database_url,
        namespace=options.namespace,
        wall_seconds=time.monotonic() - started,
        operator_log=None if log_path is None else str(log_path),
        traffic=traffic_summary,
    )


def show_summary(console: Console, summary: Summary, options: DemoOptions) -> None:
    """Print the summary and the commands to explore."""
    fleet = Fleet.load(options.workdir)
    console.print(summary_view(summary, explore=explore_hints(fleet, options)))
