"""gridshift's container images, built on this machine without Docker or a registry.

Three images (:mod:`.catalogue` says what is in each): ``pause`` (the pod sandbox),
``modelserver`` (the vLLM stand-in) and ``operator`` (gridshift). Each is assembled from Debian
bookworm packages (:mod:`.debian`, :mod:`.rootfs`) and the project's own files
(:mod:`.payloads`), written as an OCI image with umoci (:mod:`.oci`), and cached by a hash of
its inputs (:mod:`.build`): the same inputs give the same digest.

The API, for the local fleet and the tests::

    from orchestrator.devenv.images import ensure_image

    archive = ensure_image("modelserver")   # ImageArchive; built once, then from the cache
    archive.path          # .../images/modelserver-<key>/image.tar (an OCI layout, tarred)
    archive.ref           # localhost/gridshift/modelserver:<tag>, the name after the import
    archive.digest        # sha256:... of the image manifest
    archive.size_bytes
    subprocess.run(archive.import_command(address=containerd_socket), check=True)
    # = ctr --address SOCK --namespace k8s.io images import --base-name localhost/... PATH

Pods then use ``image: <archive.ref>`` with ``imagePullPolicy: Never``; containerd's CRI
``sandbox_image`` is ``ensure_image("pause").ref``. :func:`image_config` gives an image's OCI
config without building (the Dockerfile test compares against it). Building needs root, a
Debian bookworm machine with its apt sources, and the Debian packages umoci and dpkg
(``hack/install-deps.sh``); the operator also needs uv and the checkout.
"""

from __future__ import annotations

from orchestrator.devenv.images.build import ImageArchive, ensure_image
from orchestrator.devenv.images.catalogue import IMAGES, ImageConfig, image_config

__all__ = ["IMAGES", "ImageArchive", "ImageConfig", "ensure_image", "image_config"]
