# syntax=docker/dockerfile:1
# The stream worker, alerting, API and demo service: one image, the command picks
# the process (`failstream stream|alerting|api|demo-app`; the API by default).
#
# Two stages: the builder turns the source into wheels, the project's and every
# dependency's at the versions requirements.lock pins; the runtime installs those
# wheels into a slim image with no compiler, no source tree and no pip cache.

FROM python:3.11.13-bookworm AS builder
WORKDIR /src
# .dockerignore lets in only the packaging files and the packages (no .env, no
# certificates/, no .venv or .infra/), so the package layout is stated once, in
# pyproject.toml: moving a package needs no change here.
COPY . .
# The server extra: the processes, without `[local]` (the SMTP sink on aiosmtpd is
# for machines without Docker; compose runs Mailpit, production a real relay).
RUN pip wheel --no-cache-dir --wheel-dir /wheels -c requirements.lock '.[server]'

FROM python:3.11.13-slim-bookworm
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# The wheels are bind-mounted, not copied: they stay out of the image's layers.
# The import check fails the build if a mail server slipped back in.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --no-deps /wheels/*.whl \
    && python -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('aiosmtpd') is not None)" \
    && groupadd --system --gid 10001 failstream \
    && useradd --system --uid 10001 --gid failstream --no-create-home --shell /usr/sbin/nologin failstream \
    && mkdir -p /data /certificates && chown failstream:failstream /data
# Writable state (producer spool, Faust's worker files) lives in one volume;
# Aiven's ca.pem / service.cert / service.key are mounted into /certificates.
ENV FAILSTREAM_PRODUCER_SPOOL_DIR=/data/spool \
    FAILSTREAM_STREAM_DATA_DIR=/data/stream \
    FAILSTREAM_KAFKA_SSL_CAFILE=/certificates/ca.pem \
    FAILSTREAM_KAFKA_SSL_CERTFILE=/certificates/service.cert \
    FAILSTREAM_KAFKA_SSL_KEYFILE=/certificates/service.key
# A container's loopback is unreachable from outside it. Off loopback the API
# refuses to start without FAILSTREAM_API_READ_KEYS and FAILSTREAM_API_ADMIN_KEYS.
ENV FAILSTREAM_API_HOST=0.0.0.0 \
    FAILSTREAM_METRICS_HOST=0.0.0.0
VOLUME /data
WORKDIR /app
# numeric, so an orchestrator's runAsNonRoot can verify it without reading /etc/passwd
USER 10001:10001
EXPOSE 8000
# The default command's readiness (MongoDB and Kafka answer); python, because the
# slim image has no curl. Other commands get their own check (docker-compose.yml).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=4)"]
CMD ["failstream", "api"]
