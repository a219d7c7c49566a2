"""Facilities: hospitals, clinics, practices and other organisations (FHIR Organization).

Identifiers are unique per (system, value); the importer finds organisations by them (Synthea's
``Organization?identifier=https://github.com/synthetichealth/synthea|...`` references).
Telecoms and addresses are JSON lists: displayed, not searched.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base, Timestamps, UUIDPk
from app.staff.models import load_json_list

SYSTEM_LEN = 190
CODE_LEN = 64
DISPLAY_LEN = 255


class Facility(UUIDPk, Timestamps, Base):
    __tablename__ = "facilities"
    __table_args__ = (Index("ix_facilities_sort", "sort_name", "id"),)

    active: Mapped[bool] = mapped_column(default=True)
    name: Mapped[str] = mapped_column(String(DISPLAY_LEN))
    sort_name: Mapped[str] = mapped_column(String(DISPLAY_LEN), default="")  # folded, for search
    # FHIR organization-type: prov | dept | team | govt | ins | pay | edu | reli | crs | cg | bus | other
    type_system: Mapped[str | None] = mapped_column(String(SYSTEM_LEN))
    type_code: Mapped[str | None] = mapped_column(String(CODE_LEN))
    type_display: Mapped[str | None] = mapped_column(String(DISPLAY_LEN))
    telecoms_json: Mapped[str | None] = mapped_column(Text)
    addresses_json: Mapped[str | None] = mapped_column(Text)
    part_of_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("facilities.id", ondelete="SET NULL"), index=True
    )

    identifiers: Mapped[list[FacilityIdentifier]] = relationship(
        lazy="raise", cascade="all, delete-orphan", order_by="FacilityIdentifier.position"
    )

    @property
    def type(self) -> dict[str, str | None] | None:
        if self.type_code is None and self.type_display is None:
            return None
        return {"system": self.type_system, "code": self.type_code, "display": self.type_display}

    @property
    def telecoms(self) -> list[dict[str, Any]]:
        return load_json_list(self.telecoms_json)

    @property
    def addresses(self) -> list[dict[str, Any]]:
        return load_json_list(self.addresses_json)


class FacilityIdentifier(UUIDPk, Base):
    __tablename__ = "facility_identifiers"
    __table_args__ = (
        UniqueConstraint("system", "value"),
        Index("ix_facility_identifiers_facility_id", "facility_id"),
        Index("ix_facility_identifiers_value", "value"),
    )

    facility_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("facilities.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(default=0)
    system: Mapped[str] = mapped_column(String(SYSTEM_LEN))
    value: Mapped[str] = mapped_column(String(SYSTEM_LEN))
    use: Mapped[str | None] = mapped_column(String(16))
