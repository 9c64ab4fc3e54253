FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml requirements.lock README.md ./
COPY failstream failstream
COPY producer producer
COPY stream_app stream_app
COPY alerting alerting
COPY api api
RUN pip install --no-cache-dir -c requirements.lock . \
    && mkdir -p /data /certificates && chown nobody /data
# Writable state (producer spool, Faust's worker files) lives in one volume;
# Aiven's ca.pem / service.cert / service.key are mounted into /certificates.
ENV FAILSTREAM_PRODUCER_SPOOL_DIR=/data/spool \
    FAILSTREAM_STREAM_DATA_DIR=/data/stream \
    FAILSTREAM_KAFKA_SSL_CAFILE=/certificates/ca.pem \
    FAILSTREAM_KAFKA_SSL_CERTFILE=/certificates/service.cert \
    FAILSTREAM_KAFKA_SSL_KEYFILE=/certificates/service.key
VOLUME /data
USER nobody
