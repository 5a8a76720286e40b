"""The ``gridshift`` command line.

Commands parse their arguments and call functions; rendering lives in :mod:`orchestrator.views`.
Here: ``version``, ``crds``, ``run``, ``migrate`` and the local fleet (``dev up | status | env |
down | stop-apiserver | start-apiserver | images``). ``status``, ``migrations`` and
``decisions`` are in :mod:`orchestrator.cli_fleet`; ``why`` and ``report`` in
:mod:`orchestrator.cli_ledger`; ``signal send`` in :mod:`orchestrator.cli_signal`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from orchestrator import __version__, cli_fleet, cli_ledger, cli_signal, logs
from orchestrator.api import crdgen
from orchestrator.devenv import Fleet, default_cluster_specs, fleet_status, locate_binaries
from orchestrator.devenv.fleet import DEFAULT_CLUSTERS, STATE_FILE
from orchestrator.errors import GridshiftError
from orchestrator.settings import Settings, get_settings
from orchestrator.views import StartProgress

app = typer.Typer(help="gridshift: inference capacity that follows the grid.", no_args_is_help=True)
dev = typer.Typer(
    help="The local fleet: real Kubernetes control planes per province, and PostgreSQL.",
    no_args_is_help=True,
)
app.add_typer(dev, name="dev")
cli_fleet.register(app)
cli_ledger.register(app)
app.add_typer(cli_signal.signal, name="signal")

console = Console(soft_wrap=True, highlight=False)
err = Console(stderr=True)

WorkdirOption = Annotated[
    Path | None,
    typer.Option("--workdir", help="Fleet directory (default: $GRIDSHIFT_DEV_DIR)."),
]


def _workdir(given: Path | None) -> Path:
    return (given or get_settings().dev_dir).expanduser()


def _fail(exc: GridshiftError) -> typer.Exit:
    err.print(f"[bold red]error:[/] {exc}")
    return typer.Exit(code=1)


@app.command()
def version() -> None:
    """Print gridshift's version."""
    console.print(__version__)


@app.command()
def crds(
    output: Annotated[
        Path | None, typer.Argument(help="Directory to write into (default: manifests/crds).")
    ] = None,
    check: Annotated[bool, typer.Option(help="Only check that the files are up to date.")] = False,
) -> None:
    """Write the CustomResourceDefinitions generated from the API models."""
    args = [str(output)] if output else []
    code = crdgen.main([*args, "--check"] if check else args)
    if code:
        raise typer.Exit(code=code)


@app.command()
def run(
    kubeconfig: Annotated[
        Path | None, typer.Option(help="Hub kubeconfig (default: $GRIDSHIFT_KUBECONFIG).")
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option(
            help="Ledger database URL (default: $GRIDSHIFT_DATABASE_URL).", show_default=False
        ),
    ] = None,
) -> None:
    """Run the operator against a hub cluster and the ledger's PostgreSQL."""
    from orchestrator.controller import operator

    overrides: dict[str, object] = {}
    if kubeconfig is not None:
        overrides["kubeconfig"] = kubeconfig
    if database_url is not None:
        overrides["database_url"] = database_url
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
        logs.configure(level=settings.log_level, fmt=settings.log_format)
        operator.run(settings)
    except GridshiftError as exc:
        raise _fail(exc) from exc


@app.command()
def migrate(
    workload: Annotated[str, typer.Argument(help="NAMESPACE/WORKLOAD to move.")],
    to: Annotated[str, typer.Option("--to", help="MemberCluster to move it to.")],
    wait: Annotated[bool, typer.Option(help="Follow the move until it ends.")] = False,
    deadline_seconds: Annotated[
        int, typer.Option(min=30, max=1800, help="Roll back if not done by then.")
    ] = 180,
    reason: Annotated[str, typer.Option(help="Why, for the ledger.")] = "moved by hand",
    kubeconfig: Annotated[
        Path | None, typer.Option(help="Hub kubeconfig (default: $GRIDSHIFT_KUBECONFIG).")
    ] = None,
) -> None:
    """Move a workload to another cluster now (creates a Migration)."""
    from orchestrator.manual import start_migration
    from orchestrator.overview import hub_kubeconfig

    namespace, _, name = workload.partition("/")
    if not name:
        err.print("[bold red]error:[/] give the workload as NAMESPACE/WORKLOAD")
        raise typer.Exit(code=2)
    try:
        path = hub_kubeconfig(kubeconfig)
        created = start_migration(
            path, namespace, name, to=to, deadline_seconds=deadline_seconds, reason=reason
        )
        console.print(f"migration {namespace}/{created} created: {name} -> {to}")
        if not wait:
            return
        final = cli_fleet.follow_move(path, namespace, created)
    except GridshiftError as exc:
        raise _fail(exc) from exc
    if final.phase != "Completed":
        raise typer.Exit(code=1)


@app.command()
def demo(
    short: Annotated[
        bool, typer.Option(help="A short day with four small workloads (for CI).")
    ] = False,
    workdir: WorkdirOption = None,
    hub: Annotated[str, typer.Option(help="The fleet's cluster that doubles as hub.")] = "shanghai",
    namespace: Annotated[
        str, typer.Option(help="Namespace of the demo's workloads.")
    ] = "inference",
    database_url: Annotated[
        str | None,
        typer.Option(
            help="Ledger database URL (default: the fleet's PostgreSQL).", show_default=False
        ),
    ] = None,
    webhook_url: Annotated[
        str | None,
        typer.Option(
            help="Use the operator serving this webhook instead of starting one.",
            show_default=False,
        ),
    ] = None,
    live: Annotated[
        bool | None,
        typer.Option(
            "--live/--no-live", help="Live view (default: on a terminal).", show_default=False
        ),
    ] = None,
) -> None:
    """Play an accelerated grid day on the local fleet: prices, a dispatch order, live moves."""
    from orchestrator.devenv.demo import DemoOptions, run_demo, show_summary

    options = DemoOptions(
        workdir=_workdir(workdir),
        hub=hub,
        short=short,
        namespace=namespace,
        database_url=database_url,
        webhook_url=webhook_url,
        live=live,
    )
    try:
        show_summary(console, run_demo(options, console), options)
    except GridshiftError as exc:
        raise _fail(exc) from exc


@dev.command("up")
def dev_up(
    clusters: Annotated[
        str, typer.Option(help="Comma-separated cluster names, one per province.")
    ] = ",".join(DEFAULT_CLUSTERS),
    gpu_nodes: Annotated[
        int, typer.Option(min=0, max=50, help="Simulated GPU nodes per cluster.")
    ] = 2,
    gpus_per_node: Annotated[int, typer.Option(min=1, max=16, help="GPUs on each node.")] = 8,
    hub: Annotated[
        str | None, typer.Option(help="Also start a hub cluster of this name (no GPU nodes).")
    ] = None,
    postgres: Annotated[bool, typer.Option(help="Also start a local PostgreSQL.")] = True,
    real_nodes: Annotated[
        str,
        typer.Option(
            help=(
                "Clusters that also get a real node (kubelet, containerd; needs root), comma-"
                "separated: 'all', 'none' or names."
            )
        ),
    ] = "all",
    workdir: WorkdirOption = None,
) -> None:
    """Start the local fleet and print how to reach it."""
    directory = _workdir(workdir)
    names = [n.strip() for n in clusters.split(",") if n.strip()]
    real = _real_nodes(real_nodes, names)
    try:
        if (directory / STATE_FILE).exists():
            fleet = Fleet.load(directory)
            console.print(f"a fleet is recorded in {directory}; starting what is not running")
        else:
            binaries = locate_binaries(get_settings().bin_dir)
            specs = default_cluster_specs(
                names, gpu_nodes=gpu_nodes, gpus_per_node=gpus_per_node, hub=hub, real_nodes=real
            )
            fleet = Fleet(directory, binaries, specs)
        started = time.monotonic()
        with StartProgress(console) as progress:
            fleet.up(progress=progress, with_postgres=postgres)
    except GridshiftError as exc:
        raise _fail(exc) from exc
    console.print(f"[green]fleet up in {time.monotonic() - started:.1f} s[/]")
    _print_env(fleet)


def _real_nodes(text: str, names: list[str]) -> list[str]:
    """The clusters named by --real-nodes ('all', 'none' or a comma-separated list)."""
    words = [w.strip() for w in text.split(",") if w.strip()]
    if words == ["all"]:
        return list(names)
    if words in ([], ["none"]):
        return []
    unknown = sorted(set(words) - set(names))
    if unknown:
        raise typer.BadParameter(
            f"{', '.join(unknown)} not among the clusters ({', '.join(names)})",
            param_hint="--real-nodes",
        )
    return words


def _print_env(fleet: Fleet) -> None:
    pairs = ",".join(f"{n}={p}" for n, p in fleet.kubeconfigs().items())
    console.print("\nReach it with:")
    for name, path in fleet.kubeconfigs().items():
        console.print(f"  kubectl --kubeconfig {path} get nodes   # {name}")
    if fleet.namespaced:
        console.print(f"\nThe edge (users' requests): {fleet.dataplane.edge_url}")
    console.print("\nThe tests and `gridshift` read these:")
    console.print(f"  export GRIDSHIFT_KUBECONFIGS={pairs}")
    if fleet.postgres is not None:
        console.print(f"  export GRIDSHIFT_DATABASE_URL={fleet.postgres.url}")
    console.print(f"\nStop it with: gridshift dev down --workdir {fleet.workdir}")


@dev.command("env")
def dev_env(workdir: WorkdirOption = None) -> None:
    """Print the environment variables that point at the running fleet."""
    try:
        fleet = Fleet.load(_workdir(workdir))
    except GridshiftError as exc:
        raise _fail(exc) from exc
    pairs = ",".join(f"{n}={p}" for n, p in fleet.kubeconfigs().items())
    typer.echo(f"export GRIDSHIFT_KUBECONFIGS={pairs}")
    if fleet.postgres is not None:
        typer.echo(f"export GRIDSHIFT_DATABASE_URL={fleet.postgres.url}")


@dev.command("status")
def dev_status(workdir: WorkdirOption = None) -> None:
    """Show each cluster: server, reachable, Ready nodes, processes and memory."""
    try:
        fleet = Fleet.load(_workdir(workdir))
        rows = fleet_status.status(fleet)
    except GridshiftError as exc:
        raise _fail(exc) from exc
    table = Table("cluster", "server", "reachable", "ready nodes", "processes", "memory")
    for row in rows:
        table.add_row(
            row.name,
            row.server,
            "[green]yes[/]" if row.reachable else "[red]no[/]",
            str(row.ready_nodes),
            str(row.processes),
            f"{row.rss_bytes / 2**20:.0f} MiB",
        )
    console.print(table)
    if fleet.postgres is not None:
        state = "running" if fleet.postgres.is_running() else "[red]stopped[/]"
        console.print(f"postgresql 127.0.0.1:{fleet.postgres.port}: {state}")
    total = sum(p.rss_bytes for p in fleet_status.processes(fleet))
    console.print(f"fleet memory (RSS of its processes): {total / 2**20:.0f} MiB")


@dev.command("down")
def dev_down(workdir: WorkdirOption = None) -> None:
    """Delete every cluster and PostgreSQL; leave no process behind."""
    try:
        fleet = Fleet.load(_workdir(workdir))
        fleet.down(progress=console.print)
    except GridshiftError as exc:
        raise _fail(exc) from exc
    console.print("[green]fleet down[/]")


@dev.command("stop-apiserver")
def dev_stop_apiserver(
    cluster: Annotated[str, typer.Argument(help="The cluster whose API server stops.")],
    workdir: WorkdirOption = None,
) -> None:
    """Stop one cluster's kube-apiserver (a province going dark); its objects are kept."""
    try:
        Fleet.load(_workdir(workdir)).stop_apiserver(cluster)
    except GridshiftError as exc:
        raise _fail(exc) from exc
    console.print(f"kube-apiserver of {cluster} stopped")


@dev.command("start-apiserver")
def dev_start_apiserver(
    cluster: Annotated[str, typer.Argument(help="The cluster whose API server starts again.")],
    workdir: WorkdirOption = None,
) -> None:
    """Start a stopped cluster's kube-apiserver again and wait until it serves."""
    try:
        Fleet.load(_workdir(workdir)).start_apiserver(cluster)
    except GridshiftError as exc:
        raise _fail(exc) from exc
    console.print(f"kube-apiserver of {cluster} serving again")


@dev.command("images")
def dev_images(
    name: Annotated[
        list[str] | None,
        typer.Option(
            "--name", help="Only this image (pause, modelserver, operator); repeat for several."
        ),
    ] = None,
) -> None:
    """Build gridshift's container images without Docker (cached); print archive, size, ref."""
    from orchestrator.devenv.images import IMAGES, ensure_image

    names = name or list(IMAGES)
    unknown = sorted(set(names) - set(IMAGES))
    if unknown:
        err.print(
            f"[bold red]error:[/] no image {', '.join(unknown)}; there are {', '.join(IMAGES)}"
        )
        raise typer.Exit(code=2)
    for image in names:
        started = time.monotonic()
        try:
            archive = ensure_image(image, progress=lambda message: err.print(f"[dim]{message}[/]"))
        except GridshiftError as exc:
            raise _fail(exc) from exc
        how = "cached" if archive.from_cache else "built"
        console.print(
            f"{archive.name}: {archive.size_bytes / 2**20:.1f} MiB, {how} in "
            f"{time.monotonic() - started:.1f} s\n  archive {archive.path}\n  ref     {archive.ref}"
        )
        command = archive.import_command(address="/run/containerd/containerd.sock")
        console.print(f"  import  {' '.join(command)}")


@dev.command("cut")
def dev_cut(
    cluster: Annotated[str, typer.Argument(help="The province whose network goes down.")],
    workdir: WorkdirOption = None,
) -> None:
    """Cut a province off (fleets with real nodes): its link goes down; everything in it keeps
    running, unreachable from the edge, the hub and the other provinces."""
    try:
        Fleet.load(_workdir(workdir)).province(cluster).cut()
    except GridshiftError as exc:
        raise _fail(exc) from exc
    console.print(f"{cluster} is cut off")


@dev.command("restore")
def dev_restore(
    cluster: Annotated[str, typer.Argument(help="The province whose network comes back.")],
    workdir: WorkdirOption = None,
) -> None:
    """Bring a cut-off province's network back."""
    try:
        Fleet.load(_workdir(workdir)).province(cluster).restore()
    except GridshiftError as exc:
        raise _fail(exc) from exc
    console.print(f"{cluster} is reachable again")
