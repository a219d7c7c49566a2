"""Logging setup for `hospital serve`: plain lines, and no credentials in the logs.

Browsers cannot set headers on a WebSocket, so signaling takes its token in the query string;
uvicorn would write that token into every access-log line. The filter masks it.
"""

from __future__ import annotations

import logging
import re

_SECRET_PARAMS = re.compile(r"((?:access_)?token=)[^&\s\"']+", re.IGNORECASE)


class RedactTokens(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = _SECRET_PARAMS.sub(r"\1[redacted]", message)
        if redacted != message:
            record.msg = redacted
            record.args = ()
        return True


def configure_logging(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactTokens())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
