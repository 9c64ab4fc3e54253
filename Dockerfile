FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml requirements.lock README.md ./
COPY failstream failstream
COPY producer producer
COPY stream_app stream_app
COPY alerting alerting
COPY api api
RUN pip install --no-cache-dir -c requirements.lock .
USER nobody
