"""Where the local fleet's real binaries are, and which versions they are.

``hack/build-k8s-binaries.sh`` builds them from the Go module proxy and caches them under
``$HOME/.cache/gridshift``; this module only finds them and says clearly what is missing.
Besides the control planes kwokctl runs, the directory holds what a real node runs (kubelet,
kube-proxy), the Gateway API data plane at the edge (traefik) and the WAN-delay proxy between
provinces (toxiproxy-server, toxiproxy-cli).
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from orchestrator.errors import ConfigError

CONTROL_PLANE = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubectl",
    "kwok",
    "kwokctl",
)
"""What kwokctl runs for one cluster of the local fleet."""
REAL_NODE = ("kubelet", "kube-proxy")
"""What a real node of a province runs beside its containerd (a Debian package)."""
EDGE = ("traefik", "toxiproxy-server", "toxiproxy-cli")
"""The Gateway API data plane at the edge and the WAN-delay proxy between provinces."""
REQUIRED = (*CONTROL_PLANE, "helm", *REAL_NODE, *EDGE)
BUILD_SCRIPT = Path(__file__).resolve().parents[2] / "hack" / "build-k8s-binaries.sh"


@dataclass(frozen=True)
class Binaries:
    """A directory holding every binary the local fleet runs."""

    directory: Path

    def path(self, name: str) -> Path:
        """The absolute path of one binary."""
        return self.directory / name

    def kube_version(self) -> str:
        """The Kubernetes version the control-plane binaries report, e.g. ``v1.36.3``."""
        out = _run_version(self.path("kube-apiserver"), "--version")
        match = re.search(r"Kubernetes (v\d+\.\d+\.\d+)", out)
        if match is None:
            raise ConfigError(
                f"kube-apiserver --version printed {out.strip()!r}, not 'Kubernetes vX.Y.Z'; "
                "rebuild it with hack/build-k8s-binaries.sh (it sets the version ldflags)"
            )
        return match.group(1)

    def traefik_version(self) -> str:
        """The version ``traefik version`` reports, e.g. ``v3.6.12``."""
        out = _run_version(self.path("traefik"), "version")
        match = re.search(r"^Version:\s+(v\d+\.\d+\.\d+)\s*$", out, re.MULTILINE)
        if match is None:
            raise ConfigError(
                f"traefik version printed {out.strip()!r}, not 'Version: vX.Y.Z'; "
                "rebuild it with hack/build-k8s-binaries.sh (it sets the version ldflags)"
            )
        return match.group(1)

    def toxiproxy_version(self) -> str:
        """The version ``toxiproxy-server -version`` reports, as ``v2.12.0``."""
        out = _run_version(self.path("toxiproxy-server"), "-version")
        match = re.search(r"toxiproxy-server version v?(\d+\.\d+\.\d+)", out)
        if match is None:
            raise ConfigError(
                f"toxiproxy-server -version printed {out.strip()!r}, not a version; "
                "rebuild it with hack/build-k8s-binaries.sh (it sets the version ldflags)"
            )
        return f"v{match.group(1)}"


def _run_version(binary: Path, flag: str) -> str:
    try:
        done = subprocess.run(
            [str(binary), flag], capture_output=True, text=True, timeout=30, check=True
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise ConfigError(f"could not run {binary} {flag}: {exc}") from exc
    return done.stdout + done.stderr


def default_bin_dir() -> Path:
    """The directory the build script caches the pinned binaries in."""
    if not BUILD_SCRIPT.is_file():
        raise ConfigError(
            "GRIDSHIFT_BIN_DIR is unset and hack/build-k8s-binaries.sh is not beside this "
            "package; set GRIDSHIFT_BIN_DIR to a directory with the Kubernetes binaries"
        )
    try:
        done = subprocess.run(
            ["bash", str(BUILD_SCRIPT), "--print"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise ConfigError(f"could not ask {BUILD_SCRIPT.name} for its cache: {exc}") from exc
    return Path(done.stdout.strip())


def locate_binaries(directory: Path | None = None) -> Binaries:
    """The binaries in ``directory`` (default: the build script's cache), all present."""
    found = Binaries(directory or default_bin_dir())
    missing = [name for name in REQUIRED if not found.path(name).is_file()]
    if missing:
        raise ConfigError(
            f"missing in {found.directory}: {', '.join(missing)}. "
            "Build them once with `make binaries` (hack/build-k8s-binaries.sh; about 26 minutes "
            "cold on 2 cores, cached afterwards; a newly pinned piece builds alone)"
        )
    return found
