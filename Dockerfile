# One image for the API, the workers and the migration job (docker-compose.yml).
# Built in two stages: the wheel from the source, then an image that installs the wheel
# alone (not -e), so it runs what `pip install sojourn` gives, as tests/test_packaging.py
# checks on every run.
FROM python:3.11-slim AS build
WORKDIR /src
ENV PIP_NO_CACHE_DIR=1
COPY pyproject.toml README.md ./
COPY sojourn sojourn
COPY workflows workflows
COPY activities activities
COPY api api
COPY worker.py ./
RUN pip wheel --no-deps --wheel-dir /dist .

FROM python:3.11-slim
WORKDIR /app
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
COPY --from=build /dist /dist
RUN pip install /dist/*.whl && rm -rf /dist
# An installed Sojourn reads these from the directory it runs in (sojourn/ground/settings.py).
COPY migrations migrations
COPY templates templates
# `python worker.py` (docker-compose.yml); the module itself comes from the wheel too.
COPY worker.py ./
USER nobody
