"""How the local fleet's code talks to one of its clusters: the fleet's kubectl, as a function.

Everything the devenv applies goes through kubectl with server-side apply under one field
manager, :data:`FIELD_MANAGER`, so every step is idempotent.
"""

from __future__ import annotations

from collections.abc import Callable

FIELD_MANAGER = "gridshift-devenv"

Kubectl = Callable[..., str]
"""``kubectl(*args, stdin=None, timeout=60) -> output``: the fleet's kubectl against one cluster
(see ``Fleet.kubectl_on``)."""
