"""The clinical record: demographics, identifiers, history, care plans and prescriptions.

Codes are kept as (system, code, display) triples, mapped to :class:`Code` composites, so the
FHIR facade can round-trip any coding. Clinical rows keep the identifier they were imported with
(``source_system``/``source_id``, unique together) so re-importing a bundle is idempotent.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, composite, mapped_column, relationship

from app.db import Base, Timestamps, UUIDPk
from app.kit.time import utcnow

# Lengths: anything unique or indexed stays <= 190 characters (utf8mb4 index limits on MariaDB).
SYSTEM_LEN = 190
CODE_LEN = 64
DISPLAY_LEN = 255
QUANTITY = Numeric(18, 6)  # clinical quantities: never float


@dataclasses.dataclass
class Code:
    """A coding: the FHIR (system, code, display) triple. Any part may be absent."""

    system: str | None
    code: str | None
    display: str | None


def _load_list(raw: str | None) -> list[str]:
    return list(json.loads(raw)) if raw else []


def _dump_list(values: list[str] | None) -> str | None:
    return json.dumps(list(values), ensure_ascii=False) if values else None


PATIENT_FK = "patients.id"


# --- demographics ----------------------------------------------------------------------


class MrnCounter(Base):
    """One row (id=1): the last medical record number handed out. Registrations increment it
    with a conditional UPDATE, so the database serialises them and no number is given twice."""

    __tablename__ = "patient_mrn_counter"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    last_value: Mapped[int] = mapped_column(BigInteger, default=0)


class Patient(UUIDPk, Timestamps, Base):
    __tablename__ = "patients"
    __table_args__ = (
        # Stable result order of searches: family, given, birth date, id.
        Index("ix_patients_sort", "sort_family", "sort_given", "birth_date", "id"),
        Index("ix_patients_birth_date", "birth_date"),
    )

    mrn: Mapped[str] = mapped_column(String(16), unique=True)
    active: Mapped[bool] = mapped_column(default=True)
    gender: Mapped[str] = mapped_column(String(16), default="unknown")  # FHIR administrative gender
    birth_date: Mapped[date | None] = mapped_column(Date)
    deceased: Mapped[bool] = mapped_column(default=False)
    deceased_at: Mapped[datetime | None]
    preferred_language: Mapped[str | None] = mapped_column(String(35))  # BCP-47
    marital_status_system: Mapped[str | None] = mapped_column(String(SYSTEM_LEN))
    marital_status_code: Mapped[str | None] = mapped_column(String(CODE_LEN))
    marital_status_display: Mapped[str | None] = mapped_column(String(DISPLAY_LEN))
    marital_status: Mapped[Code | None] = composite(
        Code, "marital_status_system", "marital_status_code", "marital_status_display"
    )
    # The primary name, normalised (accents folded, lower case): the sort keys of searches.
    sort_family: Mapped[str] = mapped_column(String(100), default="")
    sort_given: Mapped[str] = mapped_column(String(100), default="")

    names: Mapped[list[PatientName]] = relationship(
        lazy="raise", cascade="all, delete-orphan", order_by="PatientName.position"
    )
    identifiers: Mapped[list[PatientIdentifier]] = relationship(
        lazy="raise", cascade="all, delete-orphan", order_by="PatientIdentifier.position"
    )
    telecoms: Mapped[list[PatientTelecom]] = relationship(
        lazy="raise", cascade="all, delete-orphan", order_by="PatientTelecom.position"
    )
    addresses: Mapped[list[PatientAddress]] = relationship(
        lazy="raise", cascade="all, delete-orphan", order_by="PatientAddress.position"
    )
    contacts: Mapped[list[PatientContact]] = relationship(
        lazy="raise", cascade="all, delete-orphan", order_by="PatientContact.position"
    )
    name_tokens: Mapped[list[PatientNameToken]] = relationship(lazy="raise", cascade="all, delete-orphan")
    name_token_pairs: Mapped[list[PatientNameTokenPair]] = relationship(
        lazy="raise", cascade="all, delete-orphan"
    )


class PatientName(UUIDPk, Base):
    __tablename__ = "patient_names"
    __table_args__ = (Index("ix_patient_names_patient_id", "patient_id", "position"),)

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(PATIENT_FK, ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(default=0)
    use: Mapped[str | None] = mapped_column(String(16))  # usual | official | nickname | maiden | ...
    is_primary: Mapped[bool] = mapped_column(default=False)
    text: Mapped[str | None] = mapped_column(String(DISPLAY_LEN))
    family: Mapped[str | None] = mapped_column(String(100))
    given_json: Mapped[str | None] = mapped_column(Text)
    prefix_json: Mapped[str | None] = mapped_column(Text)
    suffix_json: Mapped[str | None] = mapped_column(Text)

    @property
    def given(self) -> list[str]:
        return _load_list(self.given_json)

    @given.setter
    def given(self, values: list[str]) -> None:
        self.given_json = _dump_list(values)

    @property
    def prefix(self) -> list[str]:
        return _load_list(self.prefix_json)

    @prefix.setter
    def prefix(self, values: list[str]) -> None:
        self.prefix_json = _dump_list(values)

    @property
    def suffix(self) -> list[str]:
        return _load_list(self.suffix_json)

    @suffix.setter
    def suffix(self, values: list[str]) -> None:
        self.suffix_json = _dump_list(values)


class PatientNameToken(Base):
    """Normalised name tokens (accents folded, lower case, apostrophes dropped) for prefix search
    with a plain indexed range/LIKE: portable, no database-specific functions.

    Each row carries a copy of its patient's sort key (``sort_family``, ``sort_given``,
    ``birth_date``; kept in sync by the service wherever names or the birth date are written), so
    a name search walks ``ix_patient_name_tokens_token`` in result order and stops after the
    page, whatever the number of matches.

    ``in_family`` / ``in_given``: the token occurs in a family name / a given name of the patient
    (both, when it occurs in both; neither, for a token of a name given only as text), for FHIR's
    ``family=`` and ``given=`` searches."""

    __tablename__ = "patient_name_tokens"
    __table_args__ = (
        Index(
            "ix_patient_name_tokens_token", "token", "sort_family", "sort_given", "birth_date", "patient_id"
        ),
    )

    patient_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(PATIENT_FK, ondelete="CASCADE"), primary_key=True
    )
    token: Mapped[str] = mapped_column(String(100), primary_key=True)
    sort_family: Mapped[str] = mapped_column(String(100), default="")
    sort_given: Mapped[str] = mapped_column(String(100), default="")
    birth_date: Mapped[date | None] = mapped_column(Date)
    in_family: Mapped[bool] = mapped_column(default=False)
    in_given: Mapped[bool] = mapped_column(default=False)


class PatientNameTokenPair(Base):
    """Every ordered pair of two distinct name tokens of a patient, (``anchor``, ``token``), with
    the patient's sort key: the index of searches of two or more words.

    "maria gar" fixes ``anchor`` to one token starting with "gar" (there are few distinct ones:
    garcia, garcialopez, ...) and walks ``token`` over the range of "maria" in result order (the
    matched token, then family, given, birth date, id), so that the walk reads the page and not
    every "maria" whose family name sorts before the García. Written with the tokens, by the
    service, wherever names or the birth date change."""

    __tablename__ = "patient_name_token_pairs"
    __table_args__ = (
        Index(
            "ix_patient_name_token_pairs_anchor",
            "anchor",
            "token",
            "sort_family",
            "sort_given",
            "birth_date",
            "patient_id",
        ),
    )

    patient_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(PATIENT_FK, ondelete="CASCADE"), primary_key=True
    )
    anchor: Mapped[str] = mapped_column(String(100), primary_key=True)
    token: Mapped[str] = mapped_column(String(100), primary_key=True)
    sort_family: Mapped[str] = mapped_column(String(100), default="")
    sort_given: Mapped[str] = mapped_column(String(100), default="")
    birth_date: Mapped[date | None] = mapped_column(Date)


class PatientIdentifier(UUIDPk, Base):
    __tablename__ = "patient_identifiers"
    __table_args__ = (
        UniqueConstraint("system", "value"),
        Index("ix_patient_identifiers_patient_id", "patient_id"),
        Index("ix_patient_identifiers_value", "value"),
    )

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(PATIENT_FK, ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(default=0)
    system: Mapped[str] = mapped_column(String(SYSTEM_LEN))
    value: Mapped[str] = mapped_column(String(SYSTEM_LEN))
    use: Mapped[str | None] = mapped_column(String(16))
    type_system: Mapped[str | None] = mapped_column(String(SYSTEM_LEN))
    type_code: Mapped[str | None] = mapped_column(String(CODE_LEN))  # SS, PPN, DL, MR, ...
    type_display: Mapped[str | None] = mapped_column(String(DISPLAY_LEN))
    type: Mapped[Code | None] = composite(Code, "type_system", "type_code", "type_display")


class PatientTelecom(UUIDPk, Base):
    __tablename__ = "patient_telecoms"
    __table_args__ = (Index("ix_patient_telecoms_patient_id", "patient_id"),)

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(PATIENT_FK, ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(default=0)
    system: Mapped[str] = mapped_column(String(16))  # phone | email | fax | sms | url | other
    value: Mapped[str] = mapped_column(String(DISPLAY_LEN))
    use: Mapped[str | None] = mapped_column(String(16))  # home | work | mobile | temp | old
    rank: Mapped[int | None]


class PatientAddress(UUIDPk, Base):
    __tablename__ = "patient_addresses"
    __table_args__ = (Index("ix_patient_addresses_patient_id", "patient_id"),)

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(PATIENT_FK, ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(default=0)
    use: Mapped[str | None] = mapped_column(String(16))
    text: Mapped[str | None] = mapped_column(String(DISPLAY_LEN))
    line_json: Mapped[str | None] = mapped_column(Text)
    city: Mapped[str | None] = mapped_column(String(100))
    district: Mapped[str | None] = mapped_column(String(100))
    state: Mapped[str | None] = mapped_column(String(100))
    postal_code: Mapped[str | None] = mapped_column(String(20))
    country: Mapped[str | None] = mapped_column(String(100))
    latitude: Mapped[Decimal | None] = mapped_column(Numeric(10, 7))
    longitude: Mapped[Decimal | None] = mapped_column(Numeric(10, 7))

    @property
    def line(self) -> list[str]:
        return _load_list(self.line_json)

    @line.setter
    def line(self, values: list[str]) -> None:
        self.line_json = _dump_list(values)


class PatientContact(UUIDPk, Base):
    """A contact person (FHIR Patient.contact); relationship code C = emergency contact."""

    __tablename__ = "patient_contacts"
    __table_args__ = (Index("ix_patient_contacts_patient_id", "patient_id"),)

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(PATIENT_FK, ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(default=0)
    relationship_system: Mapped[str | None] = mapped_column(String(SYSTEM_LEN))
    relationship_code: Mapped[str | None] = mapped_column(String(CODE_LEN))
    relationship_display: Mapped[str | None] = mapped_column(String(DISPLAY_LEN))
    relationship: Mapped[Code | None] = composite(
        Code, "relationship_system", "relationship_code", "relationship_display"
    )
    name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(64))
    email: Mapped[str | None] = mapped_column(String(254))


# --- clinical --------------------------------------------------------------------------


class ClinicalRow(UUIDPk, Timestamps):
    """Columns every clinical resource shares: its patient, provenance and import identity."""

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(PATIENT_FK, ondelete="CASCADE"))
    source_system: Mapped[str | None] = mapped_column(String(SYSTEM_LEN))
    source_id: Mapped[str | None] = mapped_column(String(SYSTEM_LEN))
    recorded_by: Mapped[uuid.UUID | None]  # the user who entered it (None: imported)


class Encounter(ClinicalRow, Base):
    __tablename__ = "encounters"
    __table_args__ = (
        UniqueConstraint("source_system", "source_id"),
        Index("ix_encounters_patient_id_period_start", "patient_id", "period_start"),
    )

    # planned | arrived | triaged | in-progress | onleave | finished | cancelled | entered-in-error
    status: Mapped[str] = mapped_column(String(24))
    class_code: Mapped[str] = mapped_column(String(16))  # v3 ActCode: AMB, EMER, IMP, VR, HH, ...
    type_system: Mapped[str | None] = mapped_column(String(SYSTEM_LEN))
    type_code: Mapped[str | None] = mapped_column(String(CODE_LEN))
    type_display: Mapped[str | None] = mapped_column(String(DISPLAY_LEN))
    type: Mapped[Code | None] = composite(Code, "type_system", "type_code", "type_display")
    period_start: Mapped[datetime | None]
    period_end: Mapped[datetime | None]
    # The staff module comes later: keep a reference (identifier + display), not a foreign key.
    practitioner_identifier: Mapped[str | None] = mapped_column(String(SYSTEM_LEN))
    practitioner_display: Mapped[str | None] = mapped_column(String(200))
    location_display: Mapped[str | None] = mapped_column(String(200))

    reasons: Mapped[list[EncounterReason]] = relationship(
        lazy="raise", cascade="all, delete-orphan", order_by="EncounterReason.position"
    )
    notes: Mapped[list[EncounterNote]] = relationship(
        lazy="raise", cascade="all, delete-orphan", order_by="EncounterNote.created_at"
    )


class EncounterReason(UUIDPk, Base):
    __tablename__ = "encounter_reasons"
    __table_args__ = (Index("ix_encounter_reasons_encounter_id", "encounter_id"),)

    encounter_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("encounters.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(default=0)
    code_system: Mapped[str | None] = mapped_column(String(SYSTEM_LEN))
    code_code: Mapped[str | None] = mapped_column(String(CODE_LEN))
    code_display: Mapped[str | None] = mapped_column(String(DISPLAY_LEN))
    code: Mapped[Code] = composite(Code, "code_system", "code_code", "code_display")


class EncounterNote(UUIDPk, Base):
    __tablename__ = "encounter_notes"
    __table_args__ = (Index("ix_encounter_notes_encounter_id", "encounter_id", "created_at"),)

    encounter_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("encounters.id", ondelete="CASCADE"))
    author_id: Mapped[uuid.UUID | None]
    author_display: Mapped[str | None] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


def _encounter_fk() -> Mapped[uuid.UUID | None]:
    return mapped_column(ForeignKey("encounters.id", ondelete="SET NULL"), index=True)


class Condition(ClinicalRow, Base):
    __tablename__ = "conditions"
    __table_args__ = (
        UniqueConstraint("source_system", "source_id"),
        Index("ix_conditions_patient_id_onset_at", "patient_id", "onset_at"),
        Index("ix_conditions_patient_id_clinical_status", "patient_id", "clinical_status"),
        Index("ix_conditions_code", "code_code"),
    )

    encounter_id: Mapped[uuid.UUID | None] = _encounter_fk()
    code_system: Mapped[str | None] = mapped_column(String(SYSTEM_LEN))  # SNOMED CT / ICD-10
    code_code: Mapped[str | None] = mapped_column(String(CODE_LEN))
    code_display: Mapped[str | None] = mapped_column(String(DISPLAY_LEN))
    code: Mapped[Code] = composite(Code, "code_system", "code_code", "code_display")
    # active | recurrence | relapse | inactive | remission | resolved
    clinical_status: Mapped[str] = mapped_column(String(16))
    # unconfirmed | provisional | differential | confirmed | refuted | entered-in-error
    verification_status: Mapped[str] = mapped_column(String(24))
    category: Mapped[str] = mapped_column(String(32))  # problem-list-item | encounter-diagnosis
    onset_at: Mapped[datetime | None]
    abatement_at: Mapped[datetime | None]
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    note: Mapped[str | None] = mapped_column(Text)


class Allergy(ClinicalRow, Base):
    __tablename__ = "allergies"
    __table_args__ = (
        UniqueConstraint("source_system", "source_id"),
        Index("ix_allergies_patient_id_clinical_status", "patient_id", "clinical_status"),
    )

    encounter_id: Mapped[uuid.UUID | None] = _encounter_fk()
    code_system: Mapped[str | None] = mapped_column(String(SYSTEM_LEN))  # RxNorm / SNOMED CT
    code_code: Mapped[str | None] = mapped_column(String(CODE_LEN))
    code_display: Mapped[str | None] = mapped_column(String(DISPLAY_LEN))
    code: Mapped[Code] = composite(Code, "code_system", "code_code", "code_display")
    clinical_status: Mapped[str] = mapped_column(String(16))  # active | inactive | resolved
    verification_status: Mapped[str] = mapped_column(String(24))
    type: Mapped[str | None] = mapped_column(String(16))  # allergy | intolerance
    category: Mapped[str | None] = mapped_column(String(16))  # food | medication | environment | biologic
    criticality: Mapped[str | None] = mapped_column(String(24))  # low | high | unable-to-assess
    onset_at: Mapped[datetime | None]
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    note: Mapped[str | None] = mapped_column(Text)

    reactions: Mapped[list[AllergyReaction]] = relationship(
        lazy="raise", cascade="all, delete-orphan", order_by="AllergyReaction.position"
    )


class AllergyReaction(UUIDPk, Base):
    __tablename__ = "allergy_reactions"
    __table_args__ = (Index("ix_allergy_reactions_allergy_id", "allergy_id"),)

    allergy_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("allergies.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(default=0)
    manifestation_system: Mapped[str | None] = mapped_column(String(SYSTEM_LEN))
    manifestation_code: Mapped[str | None] = mapped_column(String(CODE_LEN))
    manifestation_display: Mapped[str | None] = mapped_column(String(DISPLAY_LEN))
    manifestation: Mapped[Code] = composite(
        Code, "manifestation_system", "manifestation_code", "manifestation_display"
    )
    severity: Mapped[str | None] = mapped_column(String(16))  # mild | moderate | severe
    description: Mapped[str | None] = mapped_column(Text)
    onset_at: Mapped[datetime | None]


class Immunization(ClinicalRow, Base):
    __tablename__ = "immunizations"
    __table_args__ = (
        UniqueConstraint("source_system", "source_id"),
        Index("ix_immunizations_patient_id_occurrence_at", "patient_id", "occurrence_at"),
    )

    encounter_id: Mapped[uuid.UUID | None] = _encounter_fk()
    vaccine_system: Mapped[str | None] = mapped_column(String(SYSTEM_LEN))  # CVX
    vaccine_code: Mapped[str | None] = mapped_column(String(CODE_LEN))
    vaccine_display: Mapped[str | None] = mapped_column(String(DISPLAY_LEN))
    vaccine: Mapped[Code] = composite(Code, "vaccine_system", "vaccine_code", "vaccine_display")
    status: Mapped[str] = mapped_column(String(24))  # completed | entered-in-error | not-done
    occurrence_at: Mapped[datetime]
    lot_number: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)


class Procedure(ClinicalRow, Base):
    __tablename__ = "procedures"
    __table_args__ = (
        UniqueConstraint("source_system", "source_id"),
        Index("ix_procedures_patient_id_performed_start", "patient_id", "performed_start"),
    )

    encounter_id: Mapped[uuid.UUID | None] = _encounter_fk()
    code_system: Mapped[str | None] = mapped_column(String(SYSTEM_LEN))
    code_code: Mapped[str | None] = mapped_column(String(CODE_LEN))
    code_display: Mapped[str | None] = mapped_column(String(DISPLAY_LEN))
    code: Mapped[Code] = composite(Code, "code_system", "code_code", "code_display")
    # preparation | in-progress | not-done | on-hold | stopped | completed | entered-in-error | unknown
    status: Mapped[str] = mapped_column(String(24))
    performed_start: Mapped[datetime | None]
    performed_end: Mapped[datetime | None]
    note: Mapped[str | None] = mapped_column(Text)


class Observation(ClinicalRow, Base):
    __tablename__ = "observations"
    __table_args__ = (
        UniqueConstraint("source_system", "source_id"),
        Index("ix_observations_patient_id_code_code", "patient_id", "code_code", "effective_at"),
        Index("ix_observations_patient_id_category", "patient_id", "category", "effective_at"),
        Index("ix_observations_patient_id_effective_at", "patient_id", "effective_at"),
    )

    encounter_id: Mapped[uuid.UUID | None] = _encounter_fk()
    status: Mapped[str] = mapped_column(String(24))  # registered | preliminary | final | amended | ...
    category: Mapped[str | None] = mapped_column(String(32))  # vital-signs | laboratory | survey | ...
    code_system: Mapped[str | None] = mapped_column(String(SYSTEM_LEN))  # LOINC
    code_code: Mapped[str | None] = mapped_column(String(CODE_LEN))
    code_display: Mapped[str | None] = mapped_column(String(DISPLAY_LEN))
    code: Mapped[Code] = composite(Code, "code_system", "code_code", "code_display")
    effective_at: Mapped[datetime | None]
    value_quantity: Mapped[Decimal | None] = mapped_column(QUANTITY)
    value_unit: Mapped[str | None] = mapped_column(String(CODE_LEN))  # UCUM
    value_code_system: Mapped[str | None] = mapped_column(String(SYSTEM_LEN))
    value_code_code: Mapped[str | None] = mapped_column(String(CODE_LEN))
    value_code_display: Mapped[str | None] = mapped_column(String(DISPLAY_LEN))
    value_code: Mapped[Code | None] = composite(
        Code, "value_code_system", "value_code_code", "value_code_display"
    )
    value_string: Mapped[str | None] = mapped_column(Text)
    reference_low: Mapped[Decimal | None] = mapped_column(QUANTITY)
    reference_high: Mapped[Decimal | None] = mapped_column(QUANTITY)
    interpretation_system: Mapped[str | None] = mapped_column(String(SYSTEM_LEN))
    interpretation_code: Mapped[str | None] = mapped_column(String(CODE_LEN))  # H | L | N | A | ...
    interpretation_display: Mapped[str | None] = mapped_column(String(DISPLAY_LEN))
    interpretation: Mapped[Code | None] = composite(
        Code, "interpretation_system", "interpretation_code", "interpretation_display"
    )

    note: Mapped[str | None] = mapped_column(Text)

    components: Mapped[list[ObservationComponent]] = relationship(
        lazy="raise", cascade="all, delete-orphan", order_by="ObservationComponent.position"
    )


class ObservationComponent(UUIDPk, Base):
    __tablename__ = "observation_components"
    __table_args__ = (Index("ix_observation_components_observation_id", "observation_id"),)

    observation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("observations.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(default=0)
    code_system: Mapped[str | None] = mapped_column(String(SYSTEM_LEN))
    code_code: Mapped[str | None] = mapped_column(String(CODE_LEN))
    code_display: Mapped[str | None] = mapped_column(String(DISPLAY_LEN))
    code: Mapped[Code] = composite(Code, "code_system", "code_code", "code_display")
    value_quantity: Mapped[Decimal | None] = mapped_column(QUANTITY)
    value_unit: Mapped[str | None] = mapped_column(String(CODE_LEN))
    value_code_system: Mapped[str | None] = mapped_column(String(SYSTEM_LEN))
    value_code_code: Mapped[str | None] = mapped_column(String(CODE_LEN))
    value_code_display: Mapped[str | None] = mapped_column(String(DISPLAY_LEN))
    value_code: Mapped[Code | None] = composite(
        Code, "value_code_system", "value_code_code", "value_code_display"
    )
    value_string: Mapped[str | None] = mapped_column(Text)


class CarePlan(ClinicalRow, Base):
    __tablename__ = "care_plans"
    __table_args__ = (
        UniqueConstraint("source_system", "source_id"),
        Index("ix_care_plans_patient_id_period_start", "patient_id", "period_start"),
    )

    encounter_id: Mapped[uuid.UUID | None] = _encounter_fk()
    status: Mapped[str] = mapped_column(String(24))  # draft | active | on-hold | revoked | completed | ...
    intent: Mapped[str] = mapped_column(String(24))  # proposal | plan | order | option
    category_system: Mapped[str | None] = mapped_column(String(SYSTEM_LEN))
    category_code: Mapped[str | None] = mapped_column(String(CODE_LEN))
    category_display: Mapped[str | None] = mapped_column(String(DISPLAY_LEN))
    category: Mapped[Code | None] = composite(Code, "category_system", "category_code", "category_display")
    title: Mapped[str | None] = mapped_column(String(DISPLAY_LEN))
    description: Mapped[str | None] = mapped_column(Text)
    period_start: Mapped[datetime | None]
    period_end: Mapped[datetime | None]
    author_identifier: Mapped[str | None] = mapped_column(String(SYSTEM_LEN))
    author_display: Mapped[str | None] = mapped_column(String(200))

    goals: Mapped[list[CarePlanGoal]] = relationship(
        lazy="raise", cascade="all, delete-orphan", order_by="CarePlanGoal.position"
    )
    activities: Mapped[list[CarePlanActivity]] = relationship(
        lazy="raise", cascade="all, delete-orphan", order_by="CarePlanActivity.position"
    )


class CarePlanGoal(UUIDPk, Base):
    __tablename__ = "care_plan_goals"
    __table_args__ = (Index("ix_care_plan_goals_care_plan_id", "care_plan_id"),)

    care_plan_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("care_plans.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(default=0)
    description: Mapped[str] = mapped_column(Text)
    lifecycle_status: Mapped[str] = mapped_column(String(24))  # proposed | active | completed | ...
    code_system: Mapped[str | None] = mapped_column(String(SYSTEM_LEN))
    code_code: Mapped[str | None] = mapped_column(String(CODE_LEN))
    code_display: Mapped[str | None] = mapped_column(String(DISPLAY_LEN))
    code: Mapped[Code | None] = composite(Code, "code_system", "code_code", "code_display")
    target_date: Mapped[date | None] = mapped_column(Date)


class CarePlanActivity(UUIDPk, Base):
    __tablename__ = "care_plan_activities"
    __table_args__ = (Index("ix_care_plan_activities_care_plan_id", "care_plan_id"),)

    care_plan_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("care_plans.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(default=0)
    code_system: Mapped[str | None] = mapped_column(String(SYSTEM_LEN))
    code_code: Mapped[str | None] = mapped_column(String(CODE_LEN))
    code_display: Mapped[str | None] = mapped_column(String(DISPLAY_LEN))
    code: Mapped[Code | None] = composite(Code, "code_system", "code_code", "code_display")
    # not-started | scheduled | in-progress | on-hold | completed | cancelled | stopped | unknown
    status: Mapped[str] = mapped_column(String(24))
    description: Mapped[str | None] = mapped_column(Text)


class MedicationRequest(ClinicalRow, Base):
    __tablename__ = "medication_requests"
    __table_args__ = (
        UniqueConstraint("source_system", "source_id"),
        Index("ix_medication_requests_patient_id_status", "patient_id", "status", "authored_at"),
        Index("ix_medication_requests_patient_id_authored_at", "patient_id", "authored_at"),
    )

    encounter_id: Mapped[uuid.UUID | None] = _encounter_fk()
    medication_system: Mapped[str | None] = mapped_column(String(SYSTEM_LEN))  # RxNorm
    medication_code: Mapped[str | None] = mapped_column(String(CODE_LEN))
    medication_display: Mapped[str | None] = mapped_column(String(DISPLAY_LEN))
    medication: Mapped[Code] = composite(Code, "medication_system", "medication_code", "medication_display")
    # active | on-hold | completed | stopped | cancelled | draft | entered-in-error
    status: Mapped[str] = mapped_column(String(24))
    status_reason: Mapped[str | None] = mapped_column(Text)
    intent: Mapped[str] = mapped_column(String(24), default="order")
    dose_value: Mapped[Decimal | None] = mapped_column(QUANTITY)
    dose_unit: Mapped[str | None] = mapped_column(String(CODE_LEN))
    route_system: Mapped[str | None] = mapped_column(String(SYSTEM_LEN))
    route_code: Mapped[str | None] = mapped_column(String(CODE_LEN))
    route_display: Mapped[str | None] = mapped_column(String(DISPLAY_LEN))
    route: Mapped[Code | None] = composite(Code, "route_system", "route_code", "route_display")
    frequency: Mapped[str | None] = mapped_column(String(64))  # e.g. "BID", "every 8 h"
    duration_value: Mapped[Decimal | None] = mapped_column(QUANTITY)
    duration_unit: Mapped[str | None] = mapped_column(String(16))  # UCUM time unit: d, wk, mo
    quantity_value: Mapped[Decimal | None] = mapped_column(QUANTITY)
    quantity_unit: Mapped[str | None] = mapped_column(String(CODE_LEN))
    refills: Mapped[int] = mapped_column(Integer, default=0)
    instructions: Mapped[str | None] = mapped_column(Text)
    prescriber_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    prescriber_display: Mapped[str | None] = mapped_column(String(200))
    # Who ordered it in the source record (imports): a practitioner reference (identifier as
    # ``system|value`` + display), not a user; ``prescriber_id`` stays the acting user.
    requester_identifier: Mapped[str | None] = mapped_column(String(SYSTEM_LEN))
    requester_display: Mapped[str | None] = mapped_column(String(200))
    authored_at: Mapped[datetime] = mapped_column(default=utcnow)
    allergy_override_reason: Mapped[str | None] = mapped_column(Text)

    ingredients: Mapped[list[MedicationIngredient]] = relationship(
        lazy="raise", cascade="all, delete-orphan", order_by="MedicationIngredient.position"
    )


class MedicationIngredient(UUIDPk, Base):
    __tablename__ = "medication_request_ingredients"
    __table_args__ = (Index("ix_medication_request_ingredients_request_id", "medication_request_id"),)

    medication_request_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("medication_requests.id", ondelete="CASCADE")
    )
    position: Mapped[int] = mapped_column(default=0)
    code_system: Mapped[str | None] = mapped_column(String(SYSTEM_LEN))
    code_code: Mapped[str | None] = mapped_column(String(CODE_LEN))
    code_display: Mapped[str | None] = mapped_column(String(DISPLAY_LEN))
    code: Mapped[Code] = composite(Code, "code_system", "code_code", "code_display")
