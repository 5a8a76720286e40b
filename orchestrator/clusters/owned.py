"""What gridshift may touch in a member or edge cluster: only what it created.

Every object gridshift creates there carries the label ``gridshift.io/managed: "true"``
(:data:`~orchestrator.api.common.MANAGED_LABEL`). Before it applies over or deletes an object by
name, it reads it: an object of that name without the label belongs to someone else, and
gridshift refuses with a :class:`ForeignObjectError` that names it, rather than take it over.
"""

from __future__ import annotations

from collections.abc import Mapping

from orchestrator.api.common import MANAGED_LABEL
from orchestrator.errors import ClusterError


class ForeignObjectError(ClusterError):
    """An object gridshift would write exists and is not gridshift's."""


def is_owned(obj: Mapping[str, object]) -> bool:
    """Whether the object (as JSON) carries gridshift's label."""
    metadata = obj.get("metadata")
    labels = metadata.get("labels") if isinstance(metadata, Mapping) else None
    return isinstance(labels, Mapping) and labels.get(MANAGED_LABEL) == "true"


def check_owned(found: Mapping[str, object] | None, *, kind: str, where: str, cluster: str) -> None:
    """Refuse to touch ``found`` (None: nothing there yet, fine) unless it is gridshift's."""
    if found is None or is_owned(found):
        return
    raise ForeignObjectError(
        f"{kind} {where} in cluster {cluster!r} exists and was not created by gridshift (no "
        f"{MANAGED_LABEL}=true label); gridshift never takes over another's object: rename "
        "the workload, or delete or rename that object"
    )
