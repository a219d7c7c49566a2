"""Import bookkeeping, the only table the FHIR facade owns: resources we read but do not map.

Claims and ExplanationOfBenefits (and every other type without a home module yet: CareTeam,
DiagnosticReport, DocumentReference, Provenance, Location, PractitionerRole, ...) are kept here
verbatim, so billing/insurance can adopt them later and nothing imported is lost silently.
Unique per (resource_type, source_system, source_id): re-importing keeps one copy.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UUIDPk
from app.kit.time import utcnow

# MySQL TEXT stops at 64 KB; a Synthea Provenance is larger.
LongJson = Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")


class FhirRawResource(UUIDPk, Base):
    __tablename__ = "fhir_raw_resources"
    __table_args__ = (
        UniqueConstraint("resource_type", "source_system", "source_id"),
        Index("ix_fhir_raw_resources_patient_id_resource_type", "patient_id", "resource_type"),
    )

    resource_type: Mapped[str] = mapped_column(String(64))
    source_system: Mapped[str] = mapped_column(String(190))
    source_id: Mapped[str] = mapped_column(String(190))
    patient_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    resource_json: Mapped[str] = mapped_column(LongJson)
    reason: Mapped[str] = mapped_column(String(200))  # why it was kept rather than mapped
    imported_by: Mapped[uuid.UUID | None]
    imported_at: Mapped[datetime] = mapped_column(default=utcnow)
