"""Every module's models, imported once so the metadata is complete (Alembic, tests)."""

from app.audit import models as audit_models
from app.auth import models as auth_models
from app.db import Base
from app.kit import idempotency as idempotency_models
from app.patients import models as patient_models

__all__ = ["Base", "audit_models", "auth_models", "idempotency_models", "patient_models"]
