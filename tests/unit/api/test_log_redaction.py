"""The live stream's ``?api_key=`` never reaches uvicorn's access log."""

from __future__ import annotations

import logging

from api.log_redaction import RedactApiKeys


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
    from api.log_redaction import install

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
