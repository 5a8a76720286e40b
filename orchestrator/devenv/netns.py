"""A province's network: a network namespace of its own, joined to the host by one veth pair.

With real nodes, every cluster of the local fleet lives in a network namespace the fleet
creates (``gs<fleet>-<cluster>``): its control plane, its containerd and kubelet, its pods and
its ingress gateway. The host reaches it through a veth pair:

- host side ``gs<fleet>h<i>`` with ``10.250.<n>.1/24`` — the province's address as the rest of
  the fleet sees it: the WAN proxies listen there (see :mod:`orchestrator.devenv.wan`);
- namespace side ``eth0`` with ``10.250.<n>.2/24`` — the node's IP (kubelet refuses a loopback
  one) and where the API server and the gateway answer;
- pods on the bridge ``cni0`` in ``10.240.<n>.0/24``, masqueraded to the node IP when they
  leave the namespace, so the pod subnet is routed nowhere else.

``n`` is ``16 * fleet index + cluster index + 1``, so several fleets (a test session beside a
demo, say) never share an address. The namespace routes only ``10.250.0.0/16`` (the host ends
of every province, which are the host's own addresses) and the host forwards nothing
(``net.ipv4.ip_forward`` stays as it is): traffic stays on the host and inside the fleet's
namespaces. Creating these needs root (``ip``, ``nsenter`` from iproute2 and util-linux).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from orchestrator.errors import DevEnvError

NETNS_DIR = Path("/run/netns")
MAX_FLEETS = 15
MAX_CLUSTERS = 16
LINK_NET = "10.250"
POD_NET = "10.240"
FLEET_ROUTE = f"{LINK_NET}.0.0/16"
NODE_IF = "eth0"


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            ["ip", *args], capture_output=True, text=True, check=check, timeout=30
        )
    except subprocess.CalledProcessError as exc:
        raise DevEnvError(f"ip {' '.join(args)} failed: {exc.stderr.strip()}") from exc
    except (OSError, subprocess.SubprocessError) as exc:
        raise DevEnvError(f"could not run ip {' '.join(args)}: {exc}") from exc


@dataclass(frozen=True)
class ProvinceNet:
    """The network of cluster number ``cluster_index`` of fleet number ``fleet_index``."""

    fleet_index: int
    cluster_index: int
    cluster: str

    def __post_init__(self) -> None:
        if not 0 <= self.fleet_index < MAX_FLEETS:
            raise DevEnvError(f"fleet index {self.fleet_index} is outside 0..{MAX_FLEETS - 1}")
        if not 0 <= self.cluster_index < MAX_CLUSTERS:
            raise DevEnvError(f"a fleet holds at most {MAX_CLUSTERS} clusters")

    @property
    def subnet(self) -> int:
        return MAX_CLUSTERS * self.fleet_index + self.cluster_index + 1

    @property
    def netns(self) -> str:
        return f"gs{self.fleet_index}-{self.cluster}"

    @property
    def netns_path(self) -> Path:
        return NETNS_DIR / self.netns

    @property
    def host_if(self) -> str:
        return f"gs{self.fleet_index}h{self.cluster_index}"

    @property
    def host_ip(self) -> str:
        """The province as the host and the other provinces reach it (WAN proxies listen here)."""
        return f"{LINK_NET}.{self.subnet}.1"

    @property
    def node_ip(self) -> str:
        """The node's address inside the namespace (API server, kubelet, gateway)."""
        return f"{LINK_NET}.{self.subnet}.2"

    @property
    def pod_subnet(self) -> str:
        return f"{POD_NET}.{self.subnet}.0/24"

    def exec_prefix(self) -> list[str]:
        """Run a command in this namespace's network only (mounts, /sys and cgroups as the
        host's: ``ip netns exec`` would remount /sys and hide the cgroup hierarchies)."""
        return ["nsenter", f"--net={self.netns_path}", "--"]

    def exists(self) -> bool:
        return self.netns_path.exists()

    def create(self) -> None:
        """The namespace, the veth pair and the addresses; safe to call again."""
        if not self.exists():
            _ip("netns", "add", self.netns)
        inside = ("-n", self.netns)
        if _ip("link", "show", self.host_if, check=False).returncode != 0:
            _ip("link", "add", self.host_if, "type", "veth", "peer", "name", f"{self.host_if}p")
            _ip("link", "set", f"{self.host_if}p", "netns", self.netns)
            _ip(*inside, "link", "set", f"{self.host_if}p", "name", NODE_IF)
        _ip("addr", "replace", f"{self.host_ip}/24", "dev", self.host_if)
        _ip("link", "set", self.host_if, "up")
        _ip(*inside, "addr", "replace", f"{self.node_ip}/24", "dev", NODE_IF)
        _ip(*inside, "link", "set", "lo", "up")
        _ip(*inside, "link", "set", NODE_IF, "up")
        _ip(*inside, "route", "replace", FLEET_ROUTE, "via", self.host_ip)

    def delete(self) -> None:
        """Remove the namespace (its end of the veth pair takes the host end with it)."""
        if self.exists():
            _ip("netns", "delete", self.netns, check=False)
        if _ip("link", "show", self.host_if, check=False).returncode == 0:
            _ip("link", "delete", self.host_if, check=False)

    def cut(self) -> None:
        """The province goes dark: its link to the rest of the fleet goes down."""
        _ip("-n", self.netns, "link", "set", NODE_IF, "down")

    def restore(self) -> None:
        """The province's link comes back (routes with it)."""
        _ip("-n", self.netns, "link", "set", NODE_IF, "up")
        _ip("-n", self.netns, "route", "replace", FLEET_ROUTE, "via", self.host_ip)

    def is_cut(self) -> bool:
        shown = _ip("-n", self.netns, "-o", "link", "show", NODE_IF, check=False).stdout
        return "state DOWN" in shown or ",UP" not in shown


def claim_fleet_index() -> int:
    """The lowest fleet index no network namespace of another fleet uses, claimed at once.

    The claim is a namespace ``gs<index>-claim`` made with ``ip netns add``, which fails when
    it exists: two fleets starting together never get the same index.
    """
    for index in range(MAX_FLEETS):
        if any(NETNS_DIR.glob(f"gs{index}-*")):
            continue
        if _ip("netns", "add", f"gs{index}-claim", check=False).returncode == 0:
            return index
    raise DevEnvError(
        f"all {MAX_FLEETS} fleet network slots are taken (network namespaces gs<N>-*): "
        "stop a fleet with `gridshift dev down`, or delete stale ones with `ip netns delete`"
    )


def release_fleet_index(index: int) -> None:
    """Drop the claim of ``index`` (the namespaces of its clusters are deleted one by one)."""
    _ip("netns", "delete", f"gs{index}-claim", check=False)
