"""One Settings object for the whole process, read from HOSPITAL_* environment variables."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent
DEV_SECRET_KEY = "dev-insecure-secret-key-change-me-0000000000"  # noqa: S105 - refused in production


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HOSPITAL_", env_file=".env", extra="ignore")

    env: Literal["development", "test", "production"] = "development"
    database_url: str = f"sqlite+aiosqlite:///{ROOT / 'var' / 'hospital.db'}"
    redis_url: str | None = None
    secret_key: str = DEV_SECRET_KEY
    # HMAC key of the audit chain. Unset: derived from the secret key. Set it explicitly before
    # rotating HOSPITAL_SECRET_KEY, or the existing chain no longer verifies.
    audit_key: str | None = None
    sample_data: Path = ROOT.parent / "shared" / "data"
    # The facility's clock: weekly clinic hours, rotas and displayed times are in this zone.
    facility_timezone: str = "Europe/London"
    # Rota rules: minimum rest between one person's shifts; weekly hours above this warn.
    min_rest_hours: int = Field(default=8, ge=0, le=48)
    weekly_hours_warning: int = Field(default=48, ge=1, le=168)
    # Patients may not cancel or reschedule online later than this before the start.
    cancellation_cutoff_hours: int = Field(default=24, ge=0, le=24 * 14)
    # Appointment reminders go out this long before the start.
    reminder_hours_before: int = Field(default=24, ge=1, le=24 * 14)
    # How long a freed slot stays offered to a waitlisted patient before the next one gets it.
    waitlist_offer_minutes: int = Field(default=120, ge=5, le=24 * 60)

    # Notifications: "file" writes each message as an .eml under notifications_dir (embedded
    # default); "smtp" sends through the SMTP server below. Failures are retried with backoff.
    notifications_adapter: Literal["file", "smtp"] = "file"
    notifications_dir: Path = ROOT / "var" / "outbox"
    notifications_from: str = "Hospital Hub <no-reply@hospital-hub.local>"
    notifications_max_attempts: int = Field(default=8, ge=1, le=50)
    # The API process runs the dispatcher in the background (off: run `hospital notifications
    # dispatch` from a timer instead). It polls this often, and wakes early after an enqueue.
    notifications_worker: bool = True
    notifications_poll_seconds: float = Field(default=5.0, gt=0, le=3600)
    # A message being sent is leased for this long; past it, another dispatcher may send it again.
    notifications_lease_seconds: int = Field(default=300, ge=10, le=86400)
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    smtp_timeout_seconds: float = 10.0

    # Video consultations. Join is open from this many minutes before the start until the end
    # plus the grace; join tokens (for the signaling WebSocket) live this many seconds.
    telehealth_join_early_minutes: int = Field(default=15, ge=0, le=240)
    telehealth_join_grace_minutes: int = Field(default=30, ge=0, le=24 * 60)
    telehealth_join_token_seconds: int = Field(default=300, ge=10, le=3600)
    # Where browsers reach signaling: unset, the same origin's /ws/signaling (embedded default).
    signaling_url: str | None = None
    # ICE servers handed to every participant. TURN credentials follow the TURN REST API
    # convention (coturn use-auth-secret): username "expiry:user", HMAC-SHA1 with turn_secret.
    stun_urls: list[str] = []
    turn_urls: list[str] = []
    turn_secret: str | None = None
    turn_credential_seconds: int = Field(default=4 * 3600, ge=60, le=48 * 3600)
    # Recordings (Matroska files) and how recorders are started: "subprocess" runs
    # `python -m media.recorder` beside the API (embedded default); "broker" asks the media
    # service (`python -m media.worker`) over the broker.
    recordings_dir: Path = ROOT / "var" / "recordings"
    media_launcher: Literal["subprocess", "broker"] = "subprocess"
    # The signaling WebSocket as the recorder reaches it; unset: derived from the API's own address.
    media_signaling_url: str | None = None
    # Remote monitoring. Raw numerics (one row per reading) are kept this many days; the
    # per-minute min/max/mean rollups that long-range charts read are kept for good. Raw ECG
    # (sampled data, the bulk of the volume) is kept this many hours.
    monitoring_raw_retention_days: int = Field(default=30, ge=1, le=3650)
    monitoring_ecg_retention_hours: int = Field(default=72, ge=1, le=24 * 365)
    # The live-feed log that dashboards replay from after a reconnect.
    monitoring_event_retention_hours: int = Field(default=48, ge=1, le=24 * 90)
    # An alarm not acknowledged within this many minutes is escalated to the next role in
    # monitoring_escalation_roles (the first role is notified when it is raised).
    monitoring_escalation_minutes: int = Field(default=5, ge=1, le=240)
    monitoring_escalation_roles: list[str] = ["nurse", "doctor"]
    # NEWS2 uses each parameter's latest value no older than this.
    monitoring_news2_window_minutes: int = Field(default=240, ge=5, le=24 * 60)
    # Ingestion: at most this many messages per database transaction.
    monitoring_batch_max: int = Field(default=2000, ge=1, le=50_000)
    # Run the escalation and retention sweeps inside the API process.
    monitoring_worker: bool = True

    access_token_minutes: int = Field(default=15, ge=1, le=120)
    refresh_token_days: int = Field(default=14, ge=1, le=90)

    # Login throttling: after this many failures inside the window, the account (or the client
    # address) is locked out until the window has passed since the last failure.
    login_max_failures_per_account: int = 5
    login_max_failures_per_address: int = 20
    login_failure_window_seconds: int = 900

    max_body_bytes: int = 1_048_576
    # FHIR transaction bundles (POST /fhir) carry a whole patient history: Synthea's run to MBs.
    max_bundle_bytes: int = 64 * 1_048_576
    web_dist: Path = ROOT / "frontend" / "dist"
    cors_origins: list[str] = []

    @model_validator(mode="after")
    def _refuse_placeholder_secret(self) -> Settings:
        if self.env == "production" and (self.secret_key == DEV_SECRET_KEY or len(self.secret_key) < 32):
            raise ValueError(
                "HOSPITAL_SECRET_KEY must be set to a random value of at least 32 characters in production"
            )
        return self

    @property
    def audit_hmac_key(self) -> bytes:
        if self.audit_key:
            return self.audit_key.encode()
        return hashlib.sha256(b"hospital-hub/audit-chain/v1:" + self.secret_key.encode()).digest()

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    return Settings()
