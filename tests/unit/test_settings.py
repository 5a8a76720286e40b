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


def test_lease_timing_defaults_renew_well_inside_the_lease() -> None:
    """Defaults: 15 s lease, renewed every 5 s, retried every 2 s, election on."""
    settings = Settings()
    assert settings.leader_election is True
    assert (settings.lease_duration_seconds, settings.lease_renew_seconds) == (15, 5)
    assert settings.lease_retry_seconds == 2
    assert settings.lease_name == "gridshift-leader"


@pytest.mark.parametrize(
    ("duration", "renew", "retry"),
    [("15", "10", "2"), ("15", "15", "2"), ("10", "2", "3")],
)
def test_lease_timing_that_cannot_renew_in_time_is_refused(
    monkeypatch: pytest.MonkeyPatch, duration: str, renew: str, retry: str
) -> None:
    """A renewal that could not be retried before the renew deadline stops the start."""
    monkeypatch.setenv("GRIDSHIFT_LEASE_DURATION_SECONDS", duration)
    monkeypatch.setenv("GRIDSHIFT_LEASE_RENEW_SECONDS", renew)
    monkeypatch.setenv("GRIDSHIFT_LEASE_RETRY_SECONDS", retry)
    with pytest.raises(ValidationError, match="lease_re"):
        Settings()


def test_pod_name_and_election_switch_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """GRIDSHIFT_POD_NAME (downward API) names the replica; election can be turned off."""
    monkeypatch.setenv("GRIDSHIFT_POD_NAME", "gridshift-7d9f-abcde")
    monkeypatch.setenv("GRIDSHIFT_LEADER_ELECTION", "false")
    settings = Settings()
    assert settings.pod_name == "gridshift-7d9f-abcde"
    assert settings.leader_election is False
    monkeypatch.setenv("GRIDSHIFT_POD_NAME", "Not_A_Pod")
    with pytest.raises(ValidationError, match="pod_name"):
        Settings()
