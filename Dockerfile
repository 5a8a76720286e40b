# The gridshift operator image: `docker build -t gridshift/gridshift:0.1.0 .`
# Dependencies come from uv.lock exactly (uv sync --frozen); the project is installed in place
# (editable) under /app because the ledger's Alembic revisions are read from /app/migrations.
# The image runs `gridshift run` as an unprivileged user (uid 10001, as the Helm chart expects).

FROM python:3.11-slim AS build
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
RUN pip install --no-cache-dir uv==0.13.9
WORKDIR /app
# dependencies first: this layer is reused until uv.lock changes
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY orchestrator ./orchestrator
COPY migrations ./migrations
RUN uv sync --frozen --no-dev

FROM python:3.11-slim
RUN groupadd --system --gid 10001 gridshift \
    && useradd --system --uid 10001 --gid 10001 --home-dir /app --shell /usr/sbin/nologin gridshift
COPY --from=build --chown=root:root /app /app
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    GRIDSHIFT_WEBHOOK_HOST=0.0.0.0
WORKDIR /app
USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["gridshift"]
CMD ["run"]
