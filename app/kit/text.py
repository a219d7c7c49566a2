"""Text helpers shared by the modules."""

from __future__ import annotations

import unicodedata


def no_control_characters(value: str) -> str:
    """Refuse NUL and other control characters (tabs and newlines included) in one-line fields."""
    if any(unicodedata.category(ch) == "Cc" for ch in value):
        raise ValueError("must not contain control characters")
    return value


def escape_like(value: str, escape: str = "\\") -> str:
    """Make user input literal inside a SQL LIKE pattern (use with ``escape="\\\\"``)."""
    return value.replace(escape, escape * 2).replace("%", escape + "%").replace("_", escape + "_")
