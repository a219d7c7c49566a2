"""Text helpers shared by the modules."""

from __future__ import annotations

import unicodedata

_LINE_BREAKS = frozenset("\t\n\r")


def no_control_characters(value: str) -> str:
    """Refuse NUL and other control characters (tabs and newlines included) in one-line fields,
    and halves of surrogate pairs (a JSON ``\\ud800`` escape: no character, no database stores it)."""
    if any(unicodedata.category(ch) in ("Cc", "Cs") for ch in value):
        raise ValueError("must not contain control characters")
    return value


def no_control_characters_but_line_breaks(value: str) -> str:
    """The same for free text (notes, instructions): tabs and line breaks are allowed there."""
    if any(unicodedata.category(ch) in ("Cc", "Cs") and ch not in _LINE_BREAKS for ch in value):
        raise ValueError("must not contain control characters (other than tabs and line breaks)")
    return value


def escape_like(value: str, escape: str = "\\") -> str:
    """Make user input literal inside a SQL LIKE pattern (use with ``escape="\\\\"``)."""
    return value.replace(escape, escape * 2).replace("%", escape + "%").replace("_", escape + "_")
