"""Credentials never reach the logs."""

from __future__ import annotations

import logging

from app.logging import RedactTokens


def test_tokens_in_query_strings_are_redacted():
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "WebSocket %s" [accepted]',
        ("127.0.0.1:5000", "/ws/signaling?token=eyJhbGciOi.x.y&room=a"),
        None,
    )
    assert RedactTokens().filter(record)
    message = record.getMessage()
    assert "eyJhbGciOi" not in message
    assert "token=[redacted]&room=a" in message


def test_other_lines_are_untouched():
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, "GET %s", ("/health",), None)
    assert RedactTokens().filter(record)
    assert record.getMessage() == "GET /health"
