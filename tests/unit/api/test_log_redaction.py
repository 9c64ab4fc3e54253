"""The live stream's ``?api_key=`` never reaches uvicorn's access log."""

from __future__ import annotations

import logging

import pytest

from failstream.api.log_redaction import RedactApiKeys, redact


def test_access_log_line_masks_the_query_key_and_keeps_the_rest() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/api/v1/live/stream?since=5&api_key=s3cret&x=1", "1.1", 200),
        None,
    )
    assert RedactApiKeys().filter(record)
    line = record.getMessage()
    assert "s3cret" not in line
    assert "/api/v1/live/stream?since=5&api_key=***&x=1" in line


def test_websocket_handshake_line_on_the_error_logger_is_masked_too() -> None:
    from failstream.api.log_redaction import install

    install()
    record = logging.LogRecord(
        "uvicorn.error",
        logging.INFO,
        __file__,
        1,
        '%s - "WebSocket %s" [accepted]',
        ("127.0.0.1:5000", "/api/v1/live?api_key=s3cret"),
        None,
    )
    assert logging.getLogger("uvicorn.error").filter(record)
    assert "s3cret" not in record.getMessage()


@pytest.mark.parametrize(
    "query",
    [
        "api_key=s3cret",
        "API_KEY=s3cret",
        "Api_Key=s3cret",
        "api%5Fkey=s3cret",
        "api%5fkey=s3cret",
        "API%5FKEY=s3cret",
        "%61pi_key=s3cret",
        "%61%70%69%5f%6b%65%79=s3cret",
        "api%255Fkey=s3cret",
        "api_key+=s3cret",
        "since=5&api_key=s3cret",
        "since=5;api_key=s3cret",
        "x=1&api_key=s3cret&api%5Fkey=s3cret",
    ],
)
def test_the_key_is_masked_however_its_name_is_spelled(query: str) -> None:
    line = redact(f'127.0.0.1:5000 - "GET /api/v1/live/stream?{query} HTTP/1.1" 200')
    assert "s3cret" not in line
    assert "***" in line


@pytest.mark.parametrize(
    "query", ["api_keys=visible", "my_api_key=visible", "key=visible", "api-key=visible"]
)
def test_other_parameters_are_kept(query: str) -> None:
    assert redact(f"/api/v1/failures?{query}") == f"/api/v1/failures?{query}"


def test_each_starlette_spelling_that_reaches_the_app_as_api_key_is_masked() -> None:
    from starlette.datastructures import QueryParams

    for query in ("api%5Fkey=s3cret", "%61pi_key=s3cret", "api_key=s3cret"):
        assert QueryParams(query)["api_key"] == "s3cret"  # the app reads it as the key
        assert "s3cret" not in redact(f"/api/v1/live/stream?{query}")
