"""gridshift: inference capacity that follows the grid.

The package is layered (see DESIGN.md and the import contracts in pyproject.toml):

- ``api``        the custom resources as pydantic models, and CRD generation
- ``controller`` kopf handlers: gather a snapshot, call a pure decision, apply it
- ``planner``    pure: (snapshot, now) -> plan; no I/O of any kind
- ``migration``  the make-before-break state machine and traffic routers
- ``clusters``   the only package that talks to Kubernetes APIs
- ``signals``    webhook, OpenADR 3 and price-feed pollers
- ``ledger``     the only package that talks to PostgreSQL
- ``devenv``     the local fleet of real control planes for the demo and the tests
"""

from __future__ import annotations

__version__ = "0.1.0"
