"""The ``gridshift`` command line.

Today it drives the local fleet (``gridshift dev up | status | env | down``, and stopping or
starting one cluster's API server to simulate a province going dark).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from orchestrator import __version__
from orchestrator.api import crdgen
from orchestrator.devenv import Fleet, default_cluster_specs, locate_binaries
from orchestrator.devenv.fleet import DEFAULT_CLUSTERS, STATE_FILE
from orchestrator.errors import ConfigError, GridshiftError
from orchestrator.settings import Settings, get_settings

app = typer.Typer(help="gridshift: inference capacity that follows the grid.", no_args_is_help=True)
dev = typer.Typer(
    help="The local fleet: real Kubernetes control planes per province, and PostgreSQL.",
    no_args_is_help=True,
)
app.add_typer(dev, name="dev")

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
        logging.basicConfig(
            level=settings.log_level,
            format="%(asctime)s %(levelname)s %(name)s %(message)s",
        )
        # the client library's own retry chatter repeats what gridshift reports once
        logging.getLogger("urllib3").setLevel(logging.ERROR)
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
    from orchestrator.manual import follow, start_migration

    namespace, _, name = workload.partition("/")
    if not name:
        err.print("[bold red]error:[/] give the workload as NAMESPACE/WORKLOAD")
        raise typer.Exit(code=2)
    try:
        path = kubeconfig or get_settings().kubeconfig
        if path is None:
            raise ConfigError("no hub kubeconfig: pass --kubeconfig or set GRIDSHIFT_KUBECONFIG")
        created = start_migration(
            path, namespace, name, to=to, deadline_seconds=deadline_seconds, reason=reason
        )
        console.print(f"migration {namespace}/{created} created: {name} -> {to}")
        if not wait:
            return
        outcome = follow(path, namespace, created, echo=console.print)
    except GridshiftError as exc:
        raise _fail(exc) from exc
    if outcome != "Completed":
        raise typer.Exit(code=1)


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
    workdir: WorkdirOption = None,
) -> None:
    """Start the local fleet and print how to reach it."""
    directory = _workdir(workdir)
    names = [n.strip() for n in clusters.split(",") if n.strip()]
    try:
        if (directory / STATE_FILE).exists():
            fleet = Fleet.load(directory)
            console.print(f"a fleet is recorded in {directory}; starting what is not running")
        else:
            binaries = locate_binaries(get_settings().bin_dir)
            specs = default_cluster_specs(
                names, gpu_nodes=gpu_nodes, gpus_per_node=gpus_per_node, hub=hub
            )
            fleet = Fleet(directory, binaries, specs)
        started = time.monotonic()
        fleet.up(progress=console.print, with_postgres=postgres)
    except GridshiftError as exc:
        raise _fail(exc) from exc
    console.print(f"[green]fleet up in {time.monotonic() - started:.1f} s[/]")
    _print_env(fleet)


def _print_env(fleet: Fleet) -> None:
    pairs = ",".join(f"{n}={p}" for n, p in fleet.kubeconfigs().items())
    console.print("\nReach it with:")
    for name, path in fleet.kubeconfigs().items():
        console.print(f"  kubectl --kubeconfig {path} get nodes   # {name}")
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
        rows = fleet.status()
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
    total = sum(p.rss_bytes for p in fleet.processes())
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
