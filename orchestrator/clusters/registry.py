"""The member-cluster registry: an API client and a Deployment watch per MemberCluster.

Entries are built from each MemberCluster's kubeconfig Secret and rebuilt when the Secret's
content changes, so rotating credentials needs no restart.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass

from orchestrator.clusters.kube import client_from_kubeconfig
from orchestrator.clusters.member import MemberClient
from orchestrator.clusters.watch import DeploymentWatch
from orchestrator.errors import ClusterError

log = logging.getLogger(__name__)


@dataclass
class Member:
    """A member cluster gridshift can reach: its client, its watch, its credentials' digest."""

    name: str
    client: MemberClient
    watch: DeploymentWatch
    digest: str


class MemberRegistry:
    """Members by name. Used from the event loop; watches run in their own threads."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._loop = loop
        """The event loop the watches wake waiters on (the running one when not given)."""
        self._members: dict[str, Member] = {}

    def upsert(self, name: str, kubeconfig: str) -> Member:
        """Add the member, or rebuild it when its kubeconfig changed; return it."""
        digest = hashlib.sha256(kubeconfig.encode()).hexdigest()
        known = self._members.get(name)
        if known is not None and known.digest == digest:
            return known
        api = client_from_kubeconfig(kubeconfig)
        loop = self._loop or asyncio.get_running_loop()
        member = Member(name, MemberClient(name, api), DeploymentWatch(name, api, loop), digest)
        if known is not None:
            known.watch.stop()
            log.info("cluster=%s kubeconfig changed; client rebuilt", name)
        member.watch.start()
        self._members[name] = member
        return member

    def get(self, name: str) -> Member:
        """The member called ``name``; ClusterError if gridshift does not know it (yet)."""
        try:
            return self._members[name]
        except KeyError:
            raise ClusterError(
                f"no member cluster {name!r} is registered: create its MemberCluster and "
                "kubeconfig Secret"
            ) from None

    def names(self) -> list[str]:
        return sorted(self._members)

    def known(self, name: str) -> bool:
        return name in self._members

    def remove(self, name: str) -> None:
        member = self._members.pop(name, None)
        if member is not None:
            member.watch.stop()

    def close(self) -> None:
        for name in list(self._members):
            self.remove(name)
