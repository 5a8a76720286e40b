"""``python -m modelserver`` (in the image) or ``python -m orchestrator.devenv.modelserver``."""

from __future__ import annotations

from .server import main

raise SystemExit(main())
