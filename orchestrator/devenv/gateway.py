"""The Gateway API CRDs in a cluster of the local fleet, for the ``gateway-api`` traffic router.

``hack/gateway-api-crds.sh`` fetches the standard-channel CRDs from the Go module
``sigs.k8s.io/gateway-api`` at a pinned version and caches them under ``$HOME/.cache/gridshift``;
this module finds them (fetching on first use) and installs them with the fleet's kubectl.
Installing is idempotent: server-side apply under the devenv field manager, so any test may do it.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from orchestrator.devenv.kubectl import FIELD_MANAGER, Kubectl
from orchestrator.errors import ConfigError, DevEnvError

CRDS_SCRIPT = Path(__file__).resolve().parents[2] / "hack" / "gateway-api-crds.sh"
FETCH_TIMEOUT_SECONDS = 300


def gateway_api_crds_dir() -> Path:
    """The directory of the pinned Gateway API CRD files, fetched once and cached."""
    if not CRDS_SCRIPT.is_file():
        raise ConfigError(
            f"hack/{CRDS_SCRIPT.name} is not beside this package; the Gateway API CRDs are "
            "fetched by it from the Go module proxy"
        )
    try:
        done = subprocess.run(
            ["bash", str(CRDS_SCRIPT)],
            capture_output=True,
            text=True,
            timeout=FETCH_TIMEOUT_SECONDS,
            check=True,
        )
    except subprocess.CalledProcessError as exc:
        raise ConfigError(
            f"{CRDS_SCRIPT.name} failed ({exc.returncode}): {exc.stderr.strip()[-1500:]}"
        ) from exc
    except (OSError, subprocess.SubprocessError) as exc:
        raise ConfigError(f"could not run {CRDS_SCRIPT.name}: {exc}") from exc
    lines = done.stdout.strip().splitlines()
    directory = Path(lines[-1]) if lines else None
    if directory is None or not directory.is_dir():
        raise ConfigError(f"{CRDS_SCRIPT.name} printed {done.stdout!r}, not a CRD directory")
    return directory


def crd_names(directory: Path) -> list[str]:
    """Names of the CustomResourceDefinitions in the YAML files of ``directory``."""
    names: list[str] = []
    for path in sorted(directory.glob("*.yaml")):
        try:
            documents = list(yaml.safe_load_all(path.read_text()))
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"cannot read {path}: {exc}") from exc
        for doc in documents:
            if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition":
                names.append(str(doc["metadata"]["name"]))
    if not names:
        raise ConfigError(f"no CustomResourceDefinition in {directory}")
    return names


def install_gateway_api(
    kubectl: Kubectl, cluster: str, *, timeout_seconds: float = 90
) -> list[str]:
    """Apply the Gateway API CRDs to ``cluster`` and wait until each is Established.

    ``kubectl`` runs against ``cluster`` (e.g. ``Fleet.kubectl_on(cluster)``). Returns the
    names of the CRDs. Safe to call again and from several tests: the apply is
    server-side, under the devenv field manager, and takes over fields others may have set.
    """
    directory = gateway_api_crds_dir()
    names = crd_names(directory)
    kubectl(
        "apply",
        "--server-side",
        "--force-conflicts",
        f"--field-manager={FIELD_MANAGER}",
        "-f",
        str(directory),
        timeout=timeout_seconds,
    )
    try:
        kubectl(
            "wait",
            "--for=condition=Established",
            f"--timeout={int(timeout_seconds)}s",
            *(f"customresourcedefinition/{name}" for name in names),
            timeout=timeout_seconds + 10,
        )
    except DevEnvError as exc:
        raise DevEnvError(
            f"the Gateway API CRDs from {directory} were applied to {cluster!r} but not all "
            f"became Established within {timeout_seconds:.0f} s: {exc}"
        ) from exc
    return names
