"""The hub kubeconfig's ``tokenFile``, which kopf's own kubeconfig login ignores."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from orchestrator.clusters.kube import token_file
from orchestrator.errors import ClusterError


def _kubeconfig(tmp_path: Path, users: list[dict[str, object]], current: str = "hub") -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "hub", "cluster": {"server": "https://kubernetes.default.svc"}}],
        "users": users,
        "contexts": [
            {"name": "hub", "context": {"cluster": "hub", "user": "gridshift"}},
            {"name": "other", "context": {"cluster": "hub", "user": "admin"}},
        ],
        "current-context": current,
    }
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path


def test_the_current_users_token_file_is_found(tmp_path: Path) -> None:
    """The chart's kubeconfig: an absolute tokenFile of the current context's user."""
    token = "/var/run/secrets/kubernetes.io/serviceaccount/token"
    users = [{"name": "gridshift", "user": {"tokenFile": token}}, {"name": "admin", "user": {}}]
    assert token_file(_kubeconfig(tmp_path, users)) == Path(token)


def test_a_relative_token_file_is_relative_to_the_kubeconfig(tmp_path: Path) -> None:
    users = [{"name": "gridshift", "user": {"tokenFile": "token"}}]
    assert token_file(_kubeconfig(tmp_path, users)) == tmp_path / "token"


def test_no_token_file_for_another_context_or_an_inline_token(tmp_path: Path) -> None:
    """Only the current context's user counts; a user with a token has no file to read."""
    users = [
        {"name": "gridshift", "user": {"tokenFile": "/token"}},
        {"name": "admin", "user": {"token": "abc"}},
    ]
    assert token_file(_kubeconfig(tmp_path, users, current="other")) is None


def test_an_unreadable_kubeconfig_is_a_cluster_error(tmp_path: Path) -> None:
    with pytest.raises(ClusterError, match="cannot read kubeconfig"):
        token_file(tmp_path / "missing")
