"""Every module's models, imported once so the metadata is complete (Alembic, tests)."""

from app.appointments import models as appointment_models
from app.audit import models as audit_models
from app.auth import models as auth_models
from app.db import Base
from app.facilities import models as facility_models
from app.fhir import bookkeeping as fhir_models
from app.kit import idempotency as idempotency_models
from app.monitoring import models as monitoring_models
from app.notifications import models as notification_models
from app.patients import models as patient_models
from app.staff import models as staff_models
from app.telehealth import models as telehealth_models

__all__ = [
    "Base",
    "appointment_models",
    "audit_models",
    "auth_models",
    "facility_models",
    "fhir_models",
    "idempotency_models",
    "monitoring_models",
    "notification_models",
    "patient_models",
    "staff_models",
    "telehealth_models",
]
