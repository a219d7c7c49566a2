"""Name normalisation for search and sorting, and the MRN check digit.

Search tokens are computed in Python and stored (``patient_name_tokens``), so matching is a plain
indexed prefix comparison on any database: accents folded (NFKD, combining marks dropped, a few
letters that do not decompose mapped by hand), case folded, apostrophes dropped inside words
("O'Brien" -> "obrien"), other punctuation and hyphens separate tokens ("Smith-Jones" -> "smith",
"jones", plus the joined "smithjones"). Scripts without case or accents (Chinese, Arabic, ...)
pass through unchanged.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

TOKEN_MAX = 100
_APOSTROPHES = "'’ʼ`´‘"
_SPECIAL = str.maketrans(
    {"ø": "o", "Ø": "o", "ł": "l", "Ł": "l", "đ": "d", "Đ": "d", "æ": "ae", "Æ": "ae", "œ": "oe", "Œ": "oe",
     "ı": "i", "þ": "th", "ð": "d"}
)  # fmt: skip
_SEPARATORS = re.compile(r"[^\w]+|_")


def fold(text: str) -> str:
    """Accent- and case-folded text, apostrophes removed; other characters kept."""
    text = text.translate(_SPECIAL)
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    for a in _APOSTROPHES:
        stripped = stripped.replace(a, "")
    return unicodedata.normalize("NFC", stripped.casefold())


def tokens(text: str) -> list[str]:
    """The search tokens of one name part, in order, without duplicates."""
    out: list[str] = []
    for word in fold(text).split():
        parts = [p for p in _SEPARATORS.split(word) if p]
        candidates = [*parts, "".join(parts)] if len(parts) > 1 else parts
        for c in candidates:
            c = c[:TOKEN_MAX]
            if c and c not in out:
                out.append(c)
    return out


def name_tokens(parts: Iterable[str | None]) -> set[str]:
    found: set[str] = set()
    for part in parts:
        if part:
            found.update(tokens(part))
    return found


@dataclass(frozen=True)
class TokenParts:
    """Where a token occurs in a patient's names."""

    in_family: bool = False
    in_given: bool = False


def patient_tokens(
    names: Iterable[tuple[str | None, Sequence[str], str | None]],
) -> dict[str, TokenParts]:
    """The search tokens of a patient's names, given as (family, given, text) triples, with the
    parts each occurs in. ``text`` counts only for a name with neither family nor given names
    (a token of its own, of no part)."""
    found: dict[str, TokenParts] = {}
    for family, given, text in names:
        parts: list[tuple[str | None, TokenParts]] = [(family, TokenParts(in_family=True))]
        parts += [(g, TokenParts(in_given=True)) for g in given]
        if not (family or given):
            parts.append((text, TokenParts()))
        for part, where in parts:
            for token in tokens(part or ""):
                seen = found.get(token, TokenParts())
                found[token] = TokenParts(
                    in_family=seen.in_family or where.in_family, in_given=seen.in_given or where.in_given
                )
    return found


def token_pairs(found: Iterable[str]) -> set[tuple[str, str]]:
    """Every ordered pair of two distinct tokens (the index of searches of several words)."""
    distinct = sorted(set(found))
    return {(a, b) for a in distinct for b in distinct if a != b}


SearchPart = Literal["any", "family", "given"]


@dataclass(frozen=True, order=True)
class SearchTerm:
    """One word of a name search: a token prefix, and the name part it must occur in."""

    prefix: str
    part: SearchPart = "any"

    def implies(self, other: SearchTerm) -> bool:
        """Whatever matches this term matches ``other`` too."""
        return self.prefix.startswith(other.prefix) and other.part in ("any", self.part)


def search_terms(
    name: str | None = None, family: str | None = None, given: str | None = None
) -> list[SearchTerm]:
    """The words of a search as terms, sorted, without those another term implies ("mar maria":
    every token starting with "maria" starts with "mar", so only "maria" is left)."""
    words: tuple[tuple[str | None, SearchPart], ...] = ((name, "any"), (family, "family"), (given, "given"))
    terms = {SearchTerm(token, part) for text, part in words if text for token in tokens(text)}
    return sorted(t for t in terms if not any(o != t and o.implies(t) for o in terms))


def sort_key(text: str | None) -> str:
    return " ".join(tokens(text or ""))[:TOKEN_MAX]


# --- MRN -------------------------------------------------------------------------------
# Damm algorithm: one check digit that catches every single-digit error and every adjacent
# transposition (Luhn misses 09<->90), with digits only, so MRNs stay easy to read out.
_DAMM = (
    (0, 3, 1, 7, 5, 9, 8, 6, 4, 2),
    (7, 0, 9, 2, 1, 5, 4, 8, 6, 3),
    (4, 2, 0, 6, 8, 7, 1, 3, 5, 9),
    (1, 7, 5, 0, 9, 8, 3, 4, 2, 6),
    (6, 1, 2, 3, 0, 4, 5, 9, 7, 8),
    (3, 6, 7, 4, 2, 0, 9, 5, 8, 1),
    (5, 8, 6, 9, 7, 2, 0, 1, 3, 4),
    (8, 9, 4, 5, 3, 6, 2, 0, 1, 7),
    (9, 4, 3, 8, 6, 1, 7, 2, 0, 5),
    (2, 5, 8, 1, 4, 3, 6, 7, 9, 0),
)
MRN_DIGITS = 8  # 7-digit sequence + check digit; grows past 9,999,999 without breaking the check


def damm(digits: str) -> int:
    interim = 0
    for d in digits:
        interim = _DAMM[interim][int(d)]
    return interim


def format_mrn(sequence: int) -> str:
    body = f"{sequence:0{MRN_DIGITS - 1}d}"
    return f"{body}{damm(body)}"


def is_valid_mrn(value: str) -> bool:
    return value.isascii() and value.isdigit() and len(value) >= MRN_DIGITS and damm(value) == 0
