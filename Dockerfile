# The gridshift operator image, for people with Docker: `docker build -t gridshift/gridshift:0.1.0 .`
#
# It describes the image `make image` builds without Docker (orchestrator/devenv/images/), and
# tests/unit/test_dockerfile.py checks that the two agree: Debian bookworm with Debian's python3.11
# (the same four packages), gridshift's wheel and the dependencies locked in uv.lock installed into
# Debian's site directory for bookworm's glibc, the Alembic revisions where the ledger looks for
# them (the site directory's migrations/), uid and gid 10001, `gridshift run`, port 8080, the same
# environment and labels. Bytecode is compiled at build time, so the image runs on a read-only
# root file system; it needs no shell at run time (this one keeps debian:bookworm-slim's, the one
# `make image` builds has none).

FROM debian:bookworm-slim AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3.11 python3.11-venv ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && python3.11 -m venv /opt/uv \
    && /opt/uv/bin/pip install --no-cache-dir uv==0.13.9
ENV UV_PYTHON_DOWNLOADS=never \
    UV_NO_INSTALLER_METADATA=1 \
    UV_LINK_MODE=copy
WORKDIR /src
# the locked dependencies first: this layer is reused until uv.lock changes
COPY pyproject.toml uv.lock README.md ./
RUN /opt/uv/bin/uv export --frozen --no-dev --no-emit-project --no-header -o /tmp/requirements.txt \
    && /opt/uv/bin/uv pip install --target /site --no-deps --require-hashes \
       --python-version 3.11 --python-platform x86_64-manylinux_2_36 -r /tmp/requirements.txt
COPY orchestrator ./orchestrator
COPY migrations ./migrations
RUN /opt/uv/bin/uv build --wheel --out-dir /tmp/wheel \
    && /opt/uv/bin/uv pip install --target /site --no-deps \
       --python-version 3.11 --python-platform x86_64-manylinux_2_36 /tmp/wheel/gridshift-*.whl \
    && rm -rf /site/bin \
    && cp -r migrations /site/migrations \
    && find /site -name __pycache__ -prune -exec rm -rf {} +

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
       python3.11-minimal libpython3.11-stdlib ca-certificates tzdata \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 10001 gridshift \
    && useradd --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home \
       --shell /usr/sbin/nologin gridshift
COPY --from=build /site /usr/local/lib/python3.11/dist-packages
# the launcher `make image` writes from [project.scripts]; the last RUN removes the shells (the
# image `make image` builds has none: nothing runs one at run time, and no RUN may follow this one)
RUN printf '%s\n' '#!/usr/bin/python3.11' \
       '"""The `gridshift` command, as [project.scripts] names it."""' 'import sys' '' \
       'from orchestrator.cli import app' '' 'sys.exit(app())' > /usr/local/bin/gridshift \
    && chmod 0755 /usr/local/bin/gridshift \
    && python3.11 -m compileall -q --invalidation-mode checked-hash \
       /usr/lib/python3.11 /usr/local/lib/python3.11/dist-packages \
    && rm -f /usr/bin/sh /usr/bin/dash /usr/bin/bash /usr/bin/rbash
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    GRIDSHIFT_WEBHOOK_HOST=0.0.0.0
LABEL org.opencontainers.image.description="gridshift: inference capacity that follows the grid." \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.title="gridshift" \
      org.opencontainers.image.version="0.1.0"
WORKDIR /
USER 10001:10001
EXPOSE 8080/tcp
ENTRYPOINT ["/usr/local/bin/gridshift"]
CMD ["run"]
