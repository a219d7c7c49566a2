"""Pydantic schemas of the clinical record: Create / Update / Read per resource.

Conventions: codes are ``Coding`` triples; quantities are ``Decimal`` and travel in JSON as
strings ("120.5"), never floats; datetimes must carry a timezone (naive ones are a 422); dates
are plain dates. Field names follow FHIR R4 where one exists, so the FHIR mapper stays thin.

Plausibility (422 ``validation_error``; each error's ``type`` says which rule): every instant and
date lies between 1900 and 2200 (``date_too_early`` / ``date_too_late``); what has happened (a
measurement, an onset, a recording, a death, a prescription) is not in the future beyond the
clock skew of ``app.kit.time`` (``date_in_future``), nor is a birth date (a date that is today
somewhere on Earth is allowed); a death is not before the birth (``deceased_before_birth``), an
end not before its start (``period_end_before_start``), a reference range not inverted
(``reference_range_inverted``); vital signs that cannot be negative are not (``negative_value``).
The same rules, checked against the stored values, answer partial updates with 400 and these
codes (see the service).
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Literal

import email_validator
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    Field,
    PlainSerializer,
    StringConstraints,
    model_validator,
)
from pydantic_core import PydanticCustomError

from app.kit import time as kit_time
from app.kit.text import no_control_characters, no_control_characters_but_line_breaks

# One-line text: trimmed, never empty, no control characters (NUL, tabs, line breaks, ...).
Str16 = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=16),
    AfterValidator(no_control_characters),
]
Str32 = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=32),
    AfterValidator(no_control_characters),
]
Str64 = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=64),
    AfterValidator(no_control_characters),
]
Str100 = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
    AfterValidator(no_control_characters),
]
Str190 = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=190),
    AfterValidator(no_control_characters),
]
Str200 = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(no_control_characters),
]
Str255 = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=255),
    AfterValidator(no_control_characters),
]
# Free text (notes): line breaks and tabs allowed, other control characters not.
LongText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=20_000),
    AfterValidator(no_control_characters_but_line_breaks),
]


def _decimal_str(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text


# Decimal quantities: accepted as JSON numbers or strings, always answered as strings.
Quantity = Annotated[
    Decimal,
    Field(max_digits=18, decimal_places=6, allow_inf_nan=False),
    PlainSerializer(_decimal_str, return_type=str, when_used="json"),
]
QuantityOut = Annotated[Decimal, PlainSerializer(_decimal_str, return_type=str, when_used="json")]


def _child_codes(values: object) -> object:
    # Child rows (encounter reasons, ingredients) hold one coding each: read it as the coding.
    if isinstance(values, list):
        return [v.code if hasattr(v, "code_code") else v for v in values]
    return values


# Answers are always in UTC, whatever offset the client wrote with.
UtcDatetime = Annotated[datetime, AfterValidator(lambda v: v.astimezone(UTC))]


# --- plausibility ----------------------------------------------------------------------


def _not_early(value: datetime) -> datetime:
    utc = kit_time.as_utc(value)
    if (utc is None and value.year <= 1) or (utc is not None and utc < kit_time.EARLIEST_INSTANT):
        raise PydanticCustomError("date_too_early", "must not be before 1900-01-01 (UTC)")
    return value


def _in_range(value: datetime) -> datetime:
    _not_early(value)
    if kit_time.within_bounds(value) is None:
        raise PydanticCustomError("date_too_late", "must be before 2200-01-01 (UTC)")
    return value


def _happened(value: datetime) -> datetime:
    _not_early(value)
    if kit_time.is_future(value):
        raise PydanticCustomError(
            "date_in_future",
            "must not be in the future (more than {minutes} minutes ahead of the server's clock)",
            {"minutes": int(kit_time.CLOCK_SKEW.total_seconds() // 60)},
        )
    return value


def _plan_date(value: date) -> date:
    if not kit_time.EARLIEST_DATE <= value < kit_time.LATEST_INSTANT.date():
        raise PydanticCustomError("date_out_of_range", "must be between 1900-01-01 and 2199-12-31")
    return value


def _birth_date(value: date) -> date:
    if value < kit_time.EARLIEST_DATE:
        raise PydanticCustomError("date_too_early", "must not be before 1900-01-01")
    if value > kit_time.latest_today():
        raise PydanticCustomError("date_in_future", "must not be in the future")
    return value


# An instant that has already happened: recorded, measured, diagnosed, given, died.
PastInstant = Annotated[AwareDatetime, AfterValidator(_happened)]
# An instant that may lie ahead (a planned encounter, a care plan's end): 1900 to 2200.
Instant = Annotated[AwareDatetime, AfterValidator(_in_range)]
PlanDate = Annotated[date, AfterValidator(_plan_date)]
BirthDate = Annotated[date, AfterValidator(_birth_date)]


def deceased_before_birth(birth_date: date | None, deceased_at: datetime | None) -> bool:
    """Whether a death lies before the birth. The birth date is a local date: a death is before
    it only when it lies before that date in every zone on Earth (the latest is UTC+14)."""
    if birth_date is None or deceased_at is None:
        return False
    return (stored_utc(deceased_at) + kit_time.LATEST_OFFSET).date() < birth_date


def stored_utc(value: datetime) -> datetime:
    """An instant as read back from the database (SQLite hands back naive UTC), made aware."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def period_inverted(start: datetime | None, end: datetime | None) -> bool:
    return start is not None and end is not None and stored_utc(end) < stored_utc(start)


def range_inverted(low: Decimal | None, high: Decimal | None) -> bool:
    return low is not None and high is not None and low > high


# LOINC vital signs (and the blood-pressure components) whose values cannot be negative; 0 may
# be real data (a sensor off, asystole) and is kept.
NON_NEGATIVE_CODES = frozenset(
    {
        "8867-4",  # heart rate
        "9279-1",  # respiratory rate
        "59408-5",  # SpO2 (pulse oximetry)
        "2708-6",  # SpO2 (arterial)
        "85354-9",  # blood pressure panel
        "8480-6",  # systolic blood pressure
        "8462-4",  # diastolic blood pressure
        "8310-5",  # body temperature
        "29463-7",  # body weight
        "8302-2",  # body height
        "39156-5",  # BMI
    }
)
LOINC = "http://loinc.org"


def negative_vital_sign(code: Coding | None, value: Decimal | None) -> bool:
    if code is None or value is None or value >= 0:
        return False
    return code.system in (None, LOINC) and code.code in NON_NEGATIVE_CODES


def _check_period(start: datetime | None, end: datetime | None, message: str) -> None:
    if period_inverted(start, end):
        raise PydanticCustomError("period_end_before_start", message)


def _check_range(low: Decimal | None, high: Decimal | None) -> None:
    if range_inverted(low, high):
        raise PydanticCustomError("reference_range_inverted", "reference_low is above reference_high")


def _check_vital_sign(code: Coding | None, value: Decimal | None) -> None:
    if negative_vital_sign(code, value):
        raise PydanticCustomError(
            "negative_value",
            "{what} cannot be negative",
            {"what": (code and code.display) or "this vital sign"},
        )


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Coding(BaseModel):
    """A code from a code system: SNOMED CT, ICD-10, LOINC, RxNorm, CVX, UCUM, ..."""

    model_config = ConfigDict(extra="forbid", from_attributes=True)

    system: Str190 | None = None
    code: Str64 | None = None
    display: Str255 | None = None

    @model_validator(mode="after")
    def _something(self) -> Coding:
        if self.code is None and self.display is None:
            raise ValueError("a coding needs a code or a display")
        return self


def _none_if_empty(value: object) -> object:
    # A composite whose columns are all NULL reads back as an empty triple: no coding.
    empty = all(getattr(value, f, None) is None for f in ("system", "code", "display"))
    if value is not None and not isinstance(value, dict) and empty:
        return None
    return value


OptionalCoding = Annotated[Coding | None, BeforeValidator(_none_if_empty)]


class _Provenance(_In):
    """Where an imported resource came from (e.g. a Synthea id); unique per system."""

    source_system: Str190 | None = None
    source_id: Str190 | None = None

    @model_validator(mode="after")
    def _both_or_neither(self) -> _Provenance:
        if (self.source_system is None) != (self.source_id is None):
            raise ValueError("source_system and source_id go together")
        return self


class _ClinicalOut(_Out):
    id: uuid.UUID
    patient_id: uuid.UUID
    source_system: str | None
    source_id: str | None
    recorded_by: uuid.UUID | None
    created_at: UtcDatetime
    updated_at: UtcDatetime


# --- demographics ----------------------------------------------------------------------

Gender = Literal["male", "female", "other", "unknown"]
NameUse = Literal["usual", "official", "temp", "nickname", "anonymous", "old", "maiden"]


class HumanName(_In):
    use: NameUse | None = None
    text: Str255 | None = None
    family: Str100 | None = None
    given: Annotated[list[Str100], Field(max_length=10)] = []
    prefix: Annotated[list[Str32], Field(max_length=5)] = []
    suffix: Annotated[list[Str32], Field(max_length=5)] = []
    is_primary: bool = False

    @model_validator(mode="after")
    def _not_empty(self) -> HumanName:
        if not (self.family or self.given or self.text):
            raise ValueError("a name needs a family name, a given name or a text")
        return self


class HumanNameRead(_Out):
    use: str | None
    text: str | None
    family: str | None
    given: list[str]
    prefix: list[str]
    suffix: list[str]
    is_primary: bool


class Identifier(_In):
    system: Str190
    value: Str190
    use: Literal["usual", "official", "temp", "secondary", "old"] | None = None
    type: Coding | None = None  # v2-0203: SS, PPN, DL, MR, ...


class IdentifierRead(_Out):
    system: str
    value: str
    use: str | None
    type: OptionalCoding


class ContactPoint(_In):
    system: Literal["phone", "fax", "email", "pager", "url", "sms", "other"]
    value: Str255
    use: Literal["home", "work", "temp", "old", "mobile"] | None = None
    rank: Annotated[int, Field(ge=1, le=100, strict=True)] | None = None


class PatientContactPoint(ContactPoint):
    """A patient's contact point. An e-mail address must be one (we send confirmations to it);
    it is kept as written."""

    @model_validator(mode="after")
    def _email(self) -> PatientContactPoint:
        if self.system == "email":
            try:
                email_validator.validate_email(self.value, check_deliverability=False)
            except email_validator.EmailNotValidError as exc:
                raise PydanticCustomError(
                    "invalid_email", "not a valid e-mail address: {reason}", {"reason": str(exc)}
                ) from None
        return self


class ContactPointRead(_Out):
    system: str
    value: str
    use: str | None
    rank: int | None


class Address(_In):
    use: Literal["home", "work", "temp", "old", "billing"] | None = None
    text: Str255 | None = None
    line: Annotated[list[Str255], Field(max_length=4)] = []
    city: Str100 | None = None
    district: Str100 | None = None
    state: Str100 | None = None
    postal_code: (
        Annotated[
            str,
            StringConstraints(strip_whitespace=True, max_length=20),
            AfterValidator(no_control_characters),
        ]
        | None
    ) = None
    country: Str100 | None = None
    latitude: Annotated[Decimal, Field(ge=-90, le=90, max_digits=10, decimal_places=7)] | None = None
    longitude: Annotated[Decimal, Field(ge=-180, le=180, max_digits=10, decimal_places=7)] | None = None


class AddressRead(_Out):
    use: str | None
    text: str | None
    line: list[str]
    city: str | None
    district: str | None
    state: str | None
    postal_code: str | None
    country: str | None
    latitude: QuantityOut | None
    longitude: QuantityOut | None


class PatientContact(_In):
    """A contact person; relationship code ``C`` (v2-0131) marks the emergency contact."""

    relationship: Coding | None = None
    name: Str200
    phone: Str64 | None = None
    email: EmailStr | None = None


class PatientContactRead(_Out):
    relationship: OptionalCoding
    name: str
    phone: str | None
    email: str | None


class _PatientFields(_In):
    @model_validator(mode="after")
    def _consistent(self) -> _PatientFields:
        names: list[HumanName] | None = getattr(self, "names", None)
        if names is not None and sum(n.is_primary for n in names) > 1:
            raise ValueError("at most one name can be primary")
        identifiers: list[Identifier] | None = getattr(self, "identifiers", None)
        if identifiers is not None:
            pairs = [(i.system, i.value) for i in identifiers]
            if len(pairs) != len(set(pairs)):
                raise ValueError("the same identifier is listed twice")
        if getattr(self, "deceased_at", None) is not None and getattr(self, "deceased", None) is False:
            raise ValueError("deceased_at requires deceased to be true")
        if deceased_before_birth(getattr(self, "birth_date", None), getattr(self, "deceased_at", None)):
            raise PydanticCustomError("deceased_before_birth", "deceased_at is before the birth date")
        return self


class PatientCreate(_PatientFields):
    names: Annotated[list[HumanName], Field(min_length=1, max_length=20)]
    identifiers: Annotated[list[Identifier], Field(max_length=20)] = []
    gender: Gender = "unknown"
    birth_date: BirthDate | None = None
    deceased: bool = False
    deceased_at: PastInstant | None = None
    preferred_language: (
        Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")] | None
    ) = None
    marital_status: Coding | None = None
    telecoms: Annotated[list[PatientContactPoint], Field(max_length=20)] = []
    addresses: Annotated[list[Address], Field(max_length=10)] = []
    contacts: Annotated[list[PatientContact], Field(max_length=10)] = []
    active: bool = True


class PatientUpdate(_PatientFields):
    """Partial update; a list given replaces the stored list."""

    names: Annotated[list[HumanName], Field(min_length=1, max_length=20)] | None = None
    identifiers: Annotated[list[Identifier], Field(max_length=20)] | None = None
    gender: Gender | None = None
    birth_date: BirthDate | None = None
    deceased: bool | None = None
    deceased_at: PastInstant | None = None
    preferred_language: (
        Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")] | None
    ) = None
    marital_status: Coding | None = None
    telecoms: Annotated[list[PatientContactPoint], Field(max_length=20)] | None = None
    addresses: Annotated[list[Address], Field(max_length=10)] | None = None
    contacts: Annotated[list[PatientContact], Field(max_length=10)] | None = None
    active: bool | None = None


class PatientRead(_Out):
    id: uuid.UUID
    mrn: str
    active: bool
    names: list[HumanNameRead]
    identifiers: list[IdentifierRead]
    gender: str
    birth_date: date | None
    deceased: bool
    deceased_at: UtcDatetime | None
    preferred_language: str | None
    marital_status: OptionalCoding
    telecoms: list[ContactPointRead]
    addresses: list[AddressRead]
    contacts: list[PatientContactRead]
    created_at: UtcDatetime
    updated_at: UtcDatetime


# --- conditions ------------------------------------------------------------------------

ConditionClinicalStatus = Literal["active", "recurrence", "relapse", "inactive", "remission", "resolved"]
VerificationStatus = Literal[
    "unconfirmed", "provisional", "differential", "confirmed", "refuted", "entered-in-error"
]


class ConditionCreate(_Provenance):
    code: Coding
    clinical_status: ConditionClinicalStatus = "active"
    verification_status: VerificationStatus = "confirmed"
    category: Literal["problem-list-item", "encounter-diagnosis"] = "problem-list-item"
    onset_at: PastInstant | None = None
    abatement_at: PastInstant | None = None
    recorded_at: PastInstant | None = None
    note: LongText | None = None
    encounter_id: uuid.UUID | None = None

    @model_validator(mode="after")
    def _period(self) -> ConditionCreate:
        _check_period(self.onset_at, self.abatement_at, "abatement_at is before onset_at")
        return self


class ConditionUpdate(_In):
    clinical_status: ConditionClinicalStatus | None = None
    verification_status: VerificationStatus | None = None
    abatement_at: PastInstant | None = None
    note: LongText | None = None


class ConditionRead(_ClinicalOut):
    code: Coding
    clinical_status: str
    verification_status: str
    category: str
    onset_at: UtcDatetime | None
    abatement_at: UtcDatetime | None
    recorded_at: UtcDatetime
    note: str | None
    encounter_id: uuid.UUID | None


# --- allergies -------------------------------------------------------------------------

AllergyClinicalStatus = Literal["active", "inactive", "resolved"]


class AllergyReaction(_In):
    manifestation: Coding
    severity: Literal["mild", "moderate", "severe"] | None = None
    description: LongText | None = None
    onset_at: PastInstant | None = None


class AllergyReactionRead(_Out):
    manifestation: Coding
    severity: str | None
    description: str | None
    onset_at: UtcDatetime | None


class AllergyCreate(_Provenance):
    code: Coding  # the substance: RxNorm / SNOMED CT
    clinical_status: AllergyClinicalStatus = "active"
    verification_status: VerificationStatus = "confirmed"
    type: Literal["allergy", "intolerance"] | None = None
    category: Literal["food", "medication", "environment", "biologic"] | None = None
    criticality: Literal["low", "high", "unable-to-assess"] | None = None
    onset_at: PastInstant | None = None
    recorded_at: PastInstant | None = None
    note: LongText | None = None
    reactions: Annotated[list[AllergyReaction], Field(max_length=20)] = []
    encounter_id: uuid.UUID | None = None


class AllergyUpdate(_In):
    clinical_status: AllergyClinicalStatus | None = None
    verification_status: VerificationStatus | None = None
    criticality: Literal["low", "high", "unable-to-assess"] | None = None
    note: LongText | None = None
    reactions: Annotated[list[AllergyReaction], Field(max_length=20)] | None = None


class AllergyRead(_ClinicalOut):
    code: Coding
    clinical_status: str
    verification_status: str
    type: str | None
    category: str | None
    criticality: str | None
    onset_at: UtcDatetime | None
    recorded_at: UtcDatetime
    note: str | None
    reactions: list[AllergyReactionRead]
    encounter_id: uuid.UUID | None


# --- immunizations, procedures ---------------------------------------------------------


class ImmunizationCreate(_Provenance):
    vaccine: Coding  # CVX
    status: Literal["completed", "entered-in-error", "not-done"] = "completed"
    occurrence_at: PastInstant
    lot_number: Str64 | None = None
    note: LongText | None = None
    encounter_id: uuid.UUID | None = None


class ImmunizationRead(_ClinicalOut):
    vaccine: Coding
    status: str
    occurrence_at: UtcDatetime
    lot_number: str | None
    note: str | None
    encounter_id: uuid.UUID | None


class ProcedureCreate(_Provenance):
    code: Coding
    status: Literal[
        "preparation",
        "in-progress",
        "not-done",
        "on-hold",
        "stopped",
        "completed",
        "entered-in-error",
        "unknown",
    ] = "completed"
    performed_start: PastInstant | None = None
    performed_end: PastInstant | None = None
    note: LongText | None = None
    encounter_id: uuid.UUID | None = None

    @model_validator(mode="after")
    def _period(self) -> ProcedureCreate:
        _check_period(self.performed_start, self.performed_end, "performed_end is before performed_start")
        return self


class ProcedureRead(_ClinicalOut):
    code: Coding
    status: str
    performed_start: UtcDatetime | None
    performed_end: UtcDatetime | None
    note: str | None
    encounter_id: uuid.UUID | None


# --- encounters ------------------------------------------------------------------------

EncounterStatus = Literal[
    "planned", "arrived", "triaged", "in-progress", "onleave", "finished", "cancelled", "entered-in-error"
]


class EncounterCreate(_Provenance):
    status: EncounterStatus = "in-progress"
    # v3 ActCode: AMB ambulatory, EMER emergency, IMP inpatient, VR virtual, HH home health, ...
    class_code: Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z_-]{2,16}$")]
    type: Coding | None = None
    period_start: Instant | None = None
    period_end: Instant | None = None
    practitioner_identifier: Str190 | None = None
    practitioner_display: Str200 | None = None
    location_display: Str200 | None = None
    reasons: Annotated[list[Coding], Field(max_length=20)] = []

    @model_validator(mode="after")
    def _period(self) -> EncounterCreate:
        _check_period(self.period_start, self.period_end, "period_end is before period_start")
        return self


class EncounterUpdate(_In):
    status: EncounterStatus | None = None
    period_end: Instant | None = None


class EncounterNoteCreate(_In):
    text: LongText


class EncounterNoteRead(_Out):
    id: uuid.UUID
    encounter_id: uuid.UUID
    author_id: uuid.UUID | None
    author_display: str | None
    text: str
    created_at: UtcDatetime


class EncounterRead(_ClinicalOut):
    status: str
    class_code: str
    type: OptionalCoding
    period_start: UtcDatetime | None
    period_end: UtcDatetime | None
    practitioner_identifier: str | None
    practitioner_display: str | None
    location_display: str | None
    reasons: Annotated[list[Coding], BeforeValidator(_child_codes)]
    notes: list[EncounterNoteRead]


# --- observations ----------------------------------------------------------------------

ObservationStatus = Literal[
    "registered", "preliminary", "final", "amended", "corrected", "cancelled", "entered-in-error", "unknown"
]
Ucum = Str64


class _Value(_In):
    value_quantity: Quantity | None = None
    value_unit: Ucum | None = None  # UCUM
    value_code: Coding | None = None
    value_string: LongText | None = None

    @model_validator(mode="after")
    def _one_value(self) -> _Value:
        given = [v for v in (self.value_quantity, self.value_code, self.value_string) if v is not None]
        if len(given) > 1:
            raise ValueError("give one of value_quantity, value_code or value_string")
        if self.value_unit is not None and self.value_quantity is None:
            raise ValueError("value_unit needs value_quantity")
        return self


class ObservationComponent(_Value):
    code: Coding

    @model_validator(mode="after")
    def _plausible(self) -> ObservationComponent:
        _check_vital_sign(self.code, self.value_quantity)
        return self


class ObservationComponentRead(_Out):
    code: Coding
    value_quantity: QuantityOut | None
    value_unit: str | None
    value_code: OptionalCoding
    value_string: str | None


class ObservationCreate(_Value):
    source_system: Str190 | None = None
    source_id: Str190 | None = None
    status: ObservationStatus = "final"
    category: Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[a-z-]{2,32}$")] | None = (
        None
    )
    code: Coding  # LOINC
    effective_at: PastInstant | None = None
    reference_low: Quantity | None = None
    reference_high: Quantity | None = None
    interpretation: Coding | None = None
    components: Annotated[list[ObservationComponent], Field(max_length=20)] = []
    note: LongText | None = None
    encounter_id: uuid.UUID | None = None

    @model_validator(mode="after")
    def _provenance(self) -> ObservationCreate:
        if (self.source_system is None) != (self.source_id is None):
            raise ValueError("source_system and source_id go together")
        _check_range(self.reference_low, self.reference_high)
        _check_vital_sign(self.code, self.value_quantity)
        return self


class ObservationUpdate(_Value):
    """A correction: status (final -> amended / corrected / entered-in-error, ...), the value,
    reference range, interpretation, components and note. Any value field given replaces the
    whole value (the others are cleared); null clears a field. ``code`` may be repeated but not
    changed (a different code is a different observation: record a new one)."""

    status: ObservationStatus | None = None
    code: Coding | None = None
    reference_low: Quantity | None = None
    reference_high: Quantity | None = None
    interpretation: Coding | None = None
    components: Annotated[list[ObservationComponent], Field(max_length=20)] | None = None
    note: LongText | None = None

    @model_validator(mode="after")
    def _plausible(self) -> ObservationUpdate:
        # The stored values complete a partial update: the service checks the result again.
        _check_range(self.reference_low, self.reference_high)
        _check_vital_sign(self.code, self.value_quantity)
        return self


class ObservationRead(_ClinicalOut):
    status: str
    category: str | None
    code: Coding
    effective_at: UtcDatetime | None
    value_quantity: QuantityOut | None
    value_unit: str | None
    value_code: OptionalCoding
    value_string: str | None
    reference_low: QuantityOut | None
    reference_high: QuantityOut | None
    interpretation: OptionalCoding
    components: list[ObservationComponentRead]
    note: str | None
    encounter_id: uuid.UUID | None


# --- care plans ------------------------------------------------------------------------


class CarePlanGoal(_In):
    description: LongText
    lifecycle_status: Literal[
        "proposed", "planned", "accepted", "active", "on-hold", "completed", "cancelled", "rejected"
    ] = "active"
    code: Coding | None = None
    target_date: PlanDate | None = None


class CarePlanGoalRead(_Out):
    description: str
    lifecycle_status: str
    code: OptionalCoding
    target_date: date | None


class CarePlanActivity(_In):
    code: Coding | None = None
    status: Literal[
        "not-started", "scheduled", "in-progress", "on-hold", "completed", "cancelled", "stopped", "unknown"
    ] = "not-started"
    description: LongText | None = None


class CarePlanActivityRead(_Out):
    code: OptionalCoding
    status: str
    description: str | None


class CarePlanCreate(_Provenance):
    status: Literal["draft", "active", "on-hold", "revoked", "completed", "entered-in-error", "unknown"] = (
        "active"
    )
    intent: Literal["proposal", "plan", "order", "option"] = "plan"
    category: Coding | None = None
    title: Str255 | None = None
    description: LongText | None = None
    period_start: Instant | None = None
    period_end: Instant | None = None
    author_identifier: Str190 | None = None
    author_display: Str200 | None = None
    goals: Annotated[list[CarePlanGoal], Field(max_length=50)] = []
    activities: Annotated[list[CarePlanActivity], Field(max_length=100)] = []
    encounter_id: uuid.UUID | None = None

    @model_validator(mode="after")
    def _period(self) -> CarePlanCreate:
        _check_period(self.period_start, self.period_end, "period_end is before period_start")
        return self


class CarePlanRead(_ClinicalOut):
    status: str
    intent: str
    category: OptionalCoding
    title: str | None
    description: str | None
    period_start: UtcDatetime | None
    period_end: UtcDatetime | None
    author_identifier: str | None
    author_display: str | None
    goals: list[CarePlanGoalRead]
    activities: list[CarePlanActivityRead]
    encounter_id: uuid.UUID | None


# --- medication requests ---------------------------------------------------------------

MedicationRequestStatus = Literal[
    "active", "on-hold", "completed", "stopped", "cancelled", "draft", "entered-in-error"
]


class MedicationRequestCreate(_Provenance):
    medication: Coding  # RxNorm
    ingredients: Annotated[list[Coding], Field(max_length=20)] = []
    status: MedicationRequestStatus = "active"
    status_reason: LongText | None = None
    intent: Literal["proposal", "plan", "order", "original-order", "instance-order"] = "order"
    dose_value: Annotated[Quantity, Field(gt=0)] | None = None
    dose_unit: Ucum | None = None
    route: Coding | None = None
    frequency: Str64 | None = None
    duration_value: Annotated[Quantity, Field(gt=0)] | None = None
    duration_unit: Literal["h", "d", "wk", "mo", "a"] | None = None
    quantity_value: Annotated[Quantity, Field(gt=0)] | None = None
    quantity_unit: Ucum | None = None
    refills: Annotated[int, Field(ge=0, le=99, strict=True)] = 0
    instructions: LongText | None = None
    authored_at: PastInstant | None = None
    encounter_id: uuid.UUID | None = None
    requester_identifier: Str190 | None = Field(
        default=None, description="Who ordered it in the source record: a practitioner's system|value"
    )
    requester_display: Str200 | None = None
    override_reason: LongText | None = Field(
        default=None, description="Prescribe despite a recorded allergy to this drug or an ingredient"
    )

    @model_validator(mode="after")
    def _units(self) -> MedicationRequestCreate:
        if (self.dose_value is None) != (self.dose_unit is None):
            raise ValueError("dose_value and dose_unit go together")
        if (self.duration_value is None) != (self.duration_unit is None):
            raise ValueError("duration_value and duration_unit go together")
        return self


class MedicationRequestStatusChange(_In):
    """Stop, cancel or complete a prescription. Stopping and cancelling need a reason."""

    status: Literal["stopped", "cancelled", "completed"]
    reason: LongText | None = None

    @model_validator(mode="after")
    def _reason(self) -> MedicationRequestStatusChange:
        if self.status in ("stopped", "cancelled") and not self.reason:
            raise ValueError(f"a reason is required to mark a prescription {self.status}")
        return self


class MedicationRequestRead(_ClinicalOut):
    medication: Coding
    ingredients: Annotated[list[Coding], BeforeValidator(_child_codes)]
    status: str
    status_reason: str | None
    intent: str
    dose_value: QuantityOut | None
    dose_unit: str | None
    route: OptionalCoding
    frequency: str | None
    duration_value: QuantityOut | None
    duration_unit: str | None
    quantity_value: QuantityOut | None
    quantity_unit: str | None
    refills: int
    instructions: str | None
    prescriber_id: uuid.UUID | None
    prescriber_display: str | None
    requester_identifier: str | None
    requester_display: str | None
    authored_at: UtcDatetime
    allergy_override_reason: str | None
    encounter_id: uuid.UUID | None


class AllergyRef(BaseModel):
    id: uuid.UUID
    code: Coding
    criticality: str | None


class AllergyCheck(BaseModel):
    """What the allergy check did for this prescription. ``names_only``: some active allergies
    could be compared by name only (the drug or the allergy has no code in a common system):
    no name matched, which proves less than a code; the prescriber should look at them."""

    status: Literal["no_allergies", "clear", "names_only", "overridden", "not_checked"]
    message: str
    compared_by_name_only: list[AllergyRef] = Field(
        description="The active allergies no code of the drug or its ingredients could be compared with"
    )


class MedicationRequestCreated(MedicationRequestRead):
    """The answer to a prescription: the request, and what the allergy check did."""

    allergy_check: AllergyCheck


# --- chart -----------------------------------------------------------------------------


class HistoryCounts(BaseModel):
    encounters: int
    conditions: int
    allergies: int
    immunizations: int
    procedures: int
    observations: int
    care_plans: int
    medication_requests: int


class PatientChart(BaseModel):
    """The summary a clinician opens first; each history list has its own paged endpoint."""

    patient: PatientRead
    active_problems: list[ConditionRead]
    allergies: list[AllergyRead]
    active_medications: list[MedicationRequestRead]
    latest_vitals: list[ObservationRead] = Field(description="The latest observation per vital-sign code")
    counts: HistoryCounts
    summary_limit: int = Field(description="Each summary list holds at most this many entries")
