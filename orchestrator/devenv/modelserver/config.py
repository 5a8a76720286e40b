"""The model server's configuration: flags with ``MODELSERVER_*`` environment fallbacks.

A flag given on the command line wins; else its environment variable; else the default. A bad
value (from either) stops the process with argparse's message naming the flag, exit code 2.
"""

from __future__ import annotations

import argparse
import os
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

ENV_PREFIX = "MODELSERVER_"
TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off", ""})


@dataclass(frozen=True)
class Config:
    """Everything the server is told at start."""

    host: str
    port: int
    model: str
    model_size_gb: float
    init_seconds: float
    cold_load_gbps: float
    warm_load_gbps: float
    warm: bool
    warm_marker: Path | None
    tokens_per_second: float
    max_num_seqs: int
    max_model_len: int
    default_max_tokens: int
    shutdown_timeout: float
    cluster: str
    pod_name: str

    def starts_warm(self) -> bool:
        """Warm when told so, or when the marker file from an earlier load exists."""
        return self.warm or (self.warm_marker is not None and self.warm_marker.exists())

    def load_seconds(self, *, warm: bool) -> float:
        """Seconds from process start until the weights are loaded (see the package docstring)."""
        bandwidth = self.warm_load_gbps if warm else self.cold_load_gbps
        return self.init_seconds + self.model_size_gb / bandwidth


def _positive(kind: type[float] | type[int], *, allow_zero: bool = False) -> object:
    def convert(text: str) -> float | int:
        try:
            value = kind(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from exc
        if value < 0 or (value == 0 and not allow_zero):
            bound = "zero or more" if allow_zero else "more than zero"
            raise argparse.ArgumentTypeError(f"{text!r} must be {bound}")
        return value

    return convert


def _boolean(text: str) -> bool:
    word = text.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise argparse.ArgumentTypeError(f"{text!r} is not one of true/false, yes/no, 1/0, on/off")


def _parser(environ: Mapping[str, str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="modelserver",
        description="An OpenAI-compatible stand-in for vLLM: loads, serves and drains like one.",
    )

    def add(flag: str, default: str, help_text: str, **kwargs: object) -> None:
        env = ENV_PREFIX + flag.removeprefix("--").replace("-", "_").upper()
        parser.add_argument(
            flag,
            default=environ.get(env, default),  # argparse converts string defaults with `type`
            help=f"{help_text} (env {env}; default {default or 'none'})",
            **kwargs,  # type: ignore[arg-type]
        )

    add("--host", "0.0.0.0", "address to listen on")  # noqa: S104 - a pod's server listens on all
    add("--port", "8000", "port to listen on", type=_positive(int))
    add("--model", "gridshift/standin-8b", "name of the served model")
    add(
        "--model-size-gb", "16", "size of the weights in GB", type=_positive(float, allow_zero=True)
    )
    add("--init-seconds", "15", "fixed start-up time", type=_positive(float, allow_zero=True))
    add("--cold-load-gbps", "1.5", "load bandwidth from cold storage, GB/s", type=_positive(float))
    add("--warm-load-gbps", "50", "load bandwidth when staged, GB/s", type=_positive(float))
    add("--warm", "false", "start warm (weights staged in the page cache)", type=_boolean)
    add("--warm-marker", "", "file that means warm when present; created once loaded")
    add("--tokens-per-second", "50", "generation rate of each request", type=_positive(float))
    add("--max-num-seqs", "64", "requests generating at once; more wait", type=_positive(int))
    add("--max-model-len", "8192", "most prompt plus completion tokens", type=_positive(int))
    add("--default-max-tokens", "16", "max_tokens when a request gives none", type=_positive(int))
    add(
        "--shutdown-timeout",
        "30",
        "seconds in-flight requests get after SIGTERM",
        type=_positive(float, allow_zero=True),
    )
    add(
        "--cluster",
        environ.get("GRIDSHIFT_CLUSTER", "local"),  # set by gridshift in the pods it places
        "cluster name sent in X-Gridshift-Cluster (default: $GRIDSHIFT_CLUSTER)",
    )
    add("--pod-name", "", "pod name sent in X-Gridshift-Pod (default: the host name)")
    return parser


def parse(argv: Sequence[str], environ: Mapping[str, str] | None = None) -> Config:
    """The configuration from ``argv`` (without the program name) and the environment."""
    env = os.environ if environ is None else environ
    args = _parser(env).parse_args(list(argv))
    marker = str(args.warm_marker).strip()
    return Config(
        host=str(args.host),
        port=int(args.port),
        model=str(args.model),
        model_size_gb=float(args.model_size_gb),
        init_seconds=float(args.init_seconds),
        cold_load_gbps=float(args.cold_load_gbps),
        warm_load_gbps=float(args.warm_load_gbps),
        warm=bool(args.warm),
        warm_marker=Path(marker) if marker else None,
        tokens_per_second=float(args.tokens_per_second),
        max_num_seqs=int(args.max_num_seqs),
        max_model_len=int(args.max_model_len),
        default_max_tokens=int(args.default_max_tokens),
        shutdown_timeout=float(args.shutdown_timeout),
        cluster=str(args.cluster),
        pod_name=str(args.pod_name).strip() or socket.gethostname(),
    )
