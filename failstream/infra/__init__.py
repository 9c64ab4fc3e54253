"""Local infrastructure for machines without Docker: Kafka, FerretDB, SMTP sink.

Each service is built from the package registries on first use (Maven Central
for the broker jars, the Go module proxy for FerretDB, PyPI for aiosmtpd),
started as a detached process with its pid and log under ``.infra/``, and
stopped only if Failstream started it.
"""
