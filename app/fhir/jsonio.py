"""Reading FHIR JSON (request bodies, import files and NDJSON lines) without surprises.

``loads`` accepts what ``json.loads`` accepts (and a leading UTF-8 byte order mark, as Windows
exporters write it), and turns everything else into ``JsonError`` (a ``ValueError`` with a
message and, when known, a line and column): malformed text, text that is not UTF-8, numbers
too long to convert, ``\\ud800``-style escapes of half a surrogate pair (no character: no
database stores it), and nesting deeper than ``MAX_DEPTH`` levels (no FHIR resource comes near
it; the code that walks a resource, ours and the validators', recurses, and must not run out of
stack on a hostile document).
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_DEPTH = 100
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


class JsonError(ValueError):
    def __init__(self, message: str, line: int | None = None, column: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column

    @property
    def position(self) -> str | None:
        return f"line {self.line} column {self.column}" if self.line is not None else None


def _check_depth(value: Any) -> None:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise JsonError(f"nested deeper than {MAX_DEPTH} levels")
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values() if isinstance(v, (dict, list)))
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item if isinstance(v, (dict, list)))


def loads(data: bytes | str) -> Any:
    """Parse one JSON document (see the module docstring)."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise JsonError(f"not UTF-8 text (byte {exc.start})") from None
    data = data.removeprefix("\ufeff")  # a UTF-8 byte order mark (Windows exporters) is no JSON
    try:
        value = json.loads(data)
    except json.JSONDecodeError as exc:
        raise JsonError(exc.msg, exc.lineno, exc.colno) from None
    except RecursionError:
        raise JsonError(f"nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:  # e.g. an integer of more than 4,300 digits
        raise JsonError(str(exc)[:200]) from None
    _check_depth(value)
    if _SURROGATE_ESCAPE.search(data):  # a pair is fine; half of one cannot be stored as text
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise JsonError("a \\u escape encodes half of a surrogate pair (no character)") from None
    return value
