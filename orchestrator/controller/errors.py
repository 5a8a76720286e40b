"""The one place gridshift's errors become kopf's: temporary (retry) or permanent."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import kopf

from orchestrator.errors import ClusterError, ConfigError, GridshiftError, LedgerError


@contextlib.contextmanager
def handled(delay: float = 10.0) -> Iterator[None]:
    """Map GridshiftError to kopf: bad configuration is permanent, the rest is retried."""
    try:
        yield
    except ConfigError as exc:
        raise kopf.PermanentError(str(exc)) from exc
    except (ClusterError, LedgerError) as exc:
        raise kopf.TemporaryError(str(exc), delay=delay) from exc
    except GridshiftError as exc:
        raise kopf.TemporaryError(str(exc), delay=delay) from exc
