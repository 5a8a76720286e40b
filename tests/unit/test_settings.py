"""The settings object fails fast on bad input."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from orchestrator.settings import Settings


def test_kubeconfigs_parse_from_name_path_pairs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRIDSHIFT_KUBECONFIGS", "shanghai=/k/sh.yaml, hubei=/k/hb.yaml")
    assert Settings().kubeconfigs == {
        "shanghai": Path("/k/sh.yaml"),
        "hubei": Path("/k/hb.yaml"),
    }


@pytest.mark.parametrize("value", ["shanghai", "=/k/x.yaml", "a=/x,a=/y", "a="])
def test_malformed_kubeconfigs_are_refused(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("GRIDSHIFT_KUBECONFIGS", value)
    with pytest.raises(ValidationError, match="kubeconfigs"):
        Settings()


def test_unknown_log_level_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRIDSHIFT_LOG_LEVEL", "LOUD")
    with pytest.raises(ValidationError, match="log_level"):
        Settings()


def test_database_url_is_never_printed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRIDSHIFT_DATABASE_URL", "postgresql+psycopg://u:hunter2@127.0.0.1/db")
    settings = Settings()
    assert "hunter2" not in repr(settings)
    assert settings.database_url is not None
    assert "hunter2" in settings.database_url.get_secret_value()
