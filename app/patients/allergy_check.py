"""The allergy check of a prescription: which recorded allergies a drug matches, and how
thoroughly it could be compared. Pure functions; the service refuses and audits.

A drug (and each of its ingredients) is compared with each active allergy

- by code: the same code, in the same system when both name one (RxNorm ingredient 7980 for a
  Penicillin G allergy coded RxNorm 7980);
- and by name, always: the allergy's substance words all appear among the drug's ("Penicillin G"
  in "Penicillin G benzathine 1200000 UNT/ML Injection", "Sulfamethoxazole" in
  "Sulfamethoxazole 400mg"), or the drug's among the allergy's ("Amoxicillin" against an
  "Amoxicillin / Clavulanate" allergy). Names are folded (case, accents), split into words;
  numbers, doses, units, forms ("500 MG Oral Tablet") and filler ("allergy to", "(substance)")
  are left out, a plural "s" is dropped; at least one word of four letters or more must match.

Either match refuses the prescription (``allergy_conflict``) unless it is overridden with a
reason. Classes and cross-reactivity (Amoxicillin for a Penicillin G allergy) are not known
here. When a drug allergy (or one without a category) could only be compared by name (the drug
or the allergy has no code, or they are coded in different systems), the check says so
(``names_only``): a name that matches nothing proves less than a code that matches nothing.
Food and environmental allergies are compared by name too, but not listed so (their codes are
never a drug's). The web's hint (``prescribing.ts``) uses
the same name rule; ``frontend/src/patients/allergy-name-cases.json`` holds the cases both test.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Literal, Protocol

from app.patients import names as naming

Status = Literal["no_allergies", "clear", "names_only", "overridden", "not_checked"]

_WORD = re.compile(r"[^\W_]+")
# Not substance names: filler of allergy wordings and SNOMED tags, doses, units and forms.
# fmt: off
_FILLER = frozenset({
    "allergy", "allergies", "allergic", "to", "intolerance", "of", "substance", "product",
    "medicinal", "containing", "finding", "disorder", "and", "with", "or", "the", "by",
    "mg", "mcg", "ug", "ml", "unt", "unit", "units", "iu", "meq", "mmol", "hr", "hour",
    "tablet", "tab", "capsule", "cap", "oral", "injection", "injectable", "solution", "suspension",
    "cream", "ointment", "topical", "extended", "release", "delayed", "chewable", "film", "coated",
    "prefilled", "syringe", "inhaler", "patch", "spray", "drop", "ophthalmic", "nasal", "actuat",
    "actuation", "dose", "metered", "powder", "for", "in", "per", "pack", "kit", "vial",
})
# fmt: on


class _Coded(Protocol):
    @property
    def system(self) -> str | None: ...
    @property
    def code(self) -> str | None: ...
    @property
    def display(self) -> str | None: ...


class _Allergy(Protocol):
    @property
    def id(self) -> Any: ...
    @property
    def code(self) -> Any: ...
    @property
    def criticality(self) -> str | None: ...
    @property
    def category(self) -> str | None: ...


# Allergies whose codes a drug's could share; foods and environmental substances (peanut,
# pollen: SNOMED) are compared by name, but a drug's code never could be compared with theirs.
_DRUG_LIKE = (None, "medication", "biologic")


def substance_words(text: str | None) -> frozenset[str]:
    """The words of a substance or drug name that name the substance (see the module docstring)."""
    words = set()
    for word in _WORD.findall(naming.fold(text or "")):
        if any(ch.isdigit() for ch in word) or word in _FILLER:
            continue
        if len(word) > 4 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        if word not in _FILLER:
            words.add(word)
    return frozenset(words)


def names_match(allergy: str | None, drug: str | None) -> bool:
    a, d = substance_words(allergy), substance_words(drug)
    if not a or not d:
        return False
    smaller = a if a <= d else d if d <= a else None
    return smaller is not None and any(len(w) >= 4 for w in smaller)


def _same_code(a: _Coded, d: _Coded) -> bool:
    return bool(a.code and d.code) and (a.code or "").strip().lower() == (d.code or "").strip().lower()


def _comparable_codes(a: _Coded, d: _Coded) -> bool:
    return bool(a.code and d.code) and (a.system is None or d.system is None or a.system == d.system)


def _allergy_ref(allergy: _Allergy) -> dict[str, Any]:
    a = allergy.code
    return {
        "id": str(allergy.id),
        "code": {"system": a.system, "code": a.code, "display": a.display},
        "criticality": allergy.criticality,
    }


def conflicts(
    allergies: Sequence[_Allergy], medication: _Coded, ingredients: Sequence[_Coded]
) -> list[dict[str, Any]]:
    """The recorded allergies the drug matches, each with what matched: a code if one matches
    (the drug's or an ingredient's), else the first name that does."""
    candidates = [("medication", medication)] + [("ingredient", c) for c in ingredients]
    found: list[dict[str, Any]] = []
    for allergy in allergies:
        match = next(
            (
                (on, "code", drug)
                for on, drug in candidates
                if _comparable_codes(allergy.code, drug) and _same_code(allergy.code, drug)
            ),
            None,
        ) or next(
            (
                (on, "display", drug)
                for on, drug in candidates
                if names_match(allergy.code.display, drug.display)
            ),
            None,
        )
        if match is not None:
            on, by, drug = match
            matched = {"on": on, "by": by, "system": drug.system, "code": drug.code, "display": drug.display}
            found.append({"allergy": _allergy_ref(allergy), "matched": matched})
    return found


def compared_by_name_only(
    allergies: Sequence[_Allergy], medication: _Coded, ingredients: Sequence[_Coded]
) -> list[dict[str, Any]]:
    """The drug (or uncategorised) allergies no code of the drug or its ingredients could be
    compared with."""
    candidates = [medication, *ingredients]
    return [
        _allergy_ref(a)
        for a in allergies
        if a.category in _DRUG_LIKE and not any(_comparable_codes(a.code, d) for d in candidates)
    ]


def _allergies(n: int) -> str:
    return f"{n} recorded allerg{'y' if n == 1 else 'ies'}"


def outcome(
    *,
    checked: bool,
    allergies: Sequence[_Allergy],
    medication: _Coded,
    ingredients: Sequence[_Coded],
    found: Sequence[dict[str, Any]],
) -> dict[str, Any]:
    """What the check did, for the prescriber (the response's ``allergy_check``) and the audit."""
    names_only = compared_by_name_only(allergies, medication, ingredients) if checked else []
    status: Status
    if not checked:
        status, message = "not_checked", "Not checked: the prescription is recorded as no longer open."
    elif not allergies:
        status, message = "no_allergies", "No active allergy is recorded for this patient."
    elif found:
        status = "overridden"
        message = f"Prescribed despite {_allergies(len(found))} it matches (overridden with a reason)."
    elif names_only:
        listed = ", ".join(str(a["code"]["display"] or a["code"]["code"]) for a in names_only)
        status = "names_only"
        message = (
            f"Compared by name only with: {listed} (no code in a common system). "
            "No name matched, which proves less than a code: check these allergies yourself."
        )
    else:
        status = "clear"
        message = f"Checked against {_allergies(len(allergies))} by code and by name: no match."
    return {"status": status, "message": message, "compared_by_name_only": names_only}
