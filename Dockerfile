# One image for the API, the workers and the migration job (docker-compose.yml).
FROM python:3.11-slim
WORKDIR /app
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
COPY pyproject.toml README.md ./
COPY sojourn sojourn
COPY workflows workflows
COPY activities activities
COPY api api
COPY worker.py ./
COPY migrations migrations
COPY templates templates
# Editable, so the code, migrations/ and templates/ are read from /app as in a checkout.
RUN pip install -e .
USER nobody
