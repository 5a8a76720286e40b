"""The one exception tree of gridshift.

Every error gridshift raises on purpose is a ``GridshiftError``::

    GridshiftError
    ├── ConfigError      settings, files or binaries are missing or wrong; fix the setup and retry
    ├── SignalError      a grid signal was malformed, unauthenticated, replayed, oversized or stale
    ├── ClusterError     a member cluster is unreachable, forbids us, or conflicts
    ├── MigrationError   a move missed its deadline or had to roll back
    ├── LedgerError      PostgreSQL refused or could not be reached, or a record was refused
    │   ├── LedgerInputError  a value the ledger refuses before any SQL (also a ValueError:
    │   │                     the caller's bug, never retried into success)
    │   ├── LedgerNotFound    the row a write or a question names is not in the ledger
    │   └── LedgerConflict    a write contradicts what the ledger holds (a second outcome)
    └── DevEnvError      the local fleet (real control planes, PostgreSQL) failed to start or stop

Handlers map these once, at their boundary (for kopf: ``kopf.TemporaryError`` or
``kopf.PermanentError``). Causes are chained with ``raise ... from``.
"""

from __future__ import annotations


class GridshiftError(Exception):
    """Base of every error gridshift raises on purpose."""


class ConfigError(GridshiftError):
    """Settings, files or binaries are missing or invalid."""


class SignalError(GridshiftError):
    """A grid signal could not be accepted."""


class ClusterError(GridshiftError):
    """A Kubernetes cluster could not be reached or refused a request."""


class MigrationError(GridshiftError):
    """A migration could not proceed and was rolled back or failed."""


class LedgerError(GridshiftError):
    """The ledger (PostgreSQL) could not be written or read."""


class LedgerInputError(LedgerError, ValueError):
    """A value the ledger refuses (wrong type, out of bounds, not one of a closed set).

    Raised before any SQL is sent and naming the argument; it is also a ``ValueError``, since
    repeating the same call can never succeed.
    """


class LedgerNotFound(LedgerError):
    """The row a write or a question names is not in the ledger."""


class LedgerConflict(LedgerError):
    """A write contradicts what the ledger already holds."""


class DevEnvError(GridshiftError):
    """The local development fleet failed to start, stop or answer."""
