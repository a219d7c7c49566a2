"""The entry points into the pipeline that every transport shares: device-token checks, parsing a
message for its sender, submitting it. FHIR REST, the device WebSocket and the WebRTC data
channel (``media.vitals``) all call ``ingest_message``."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import State

from app.db import Database
from app.errors import Unauthorized
from app.monitoring import parse
from app.monitoring import service as svc
from app.monitoring.pipeline import ItemResult, Pipeline, Source

DEVICE_CACHE_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class DeviceAuth:
    device_id: uuid.UUID
    patient_id: uuid.UUID
    label: str

    def source(self) -> Source:
        return Source(
            patient_id=self.patient_id,
            key=f"device:{self.device_id}",
            actor_name=f"device:{self.label}"[:150],
            device_id=self.device_id,
        )


_cache: dict[str, tuple[float, DeviceAuth]] = {}


def is_device_token(token: str | None) -> bool:
    return bool(token) and str(token).startswith(svc.TOKEN_PREFIX)


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


async def authenticate_device(database: Database, token: str) -> DeviceAuth:
    """The device behind ``token``; cached briefly (the writer re-checks revocation on every
    batch, so a revoked token stops writing at once even while it is cached here)."""
    key = svc.hash_token(token)
    hit = _cache.get(key)
    now = time.monotonic()
    if hit is not None and now - hit[0] < DEVICE_CACHE_SECONDS:
        return hit[1]
    async with database.sessionmaker() as session:
        device = await svc.authenticate_device(session, token)
        auth = DeviceAuth(device.id, device.patient_id, device.label)
    if len(_cache) > 100_000:
        _cache.clear()
    _cache[key] = (now, auth)
    return auth


def forget_device(device_id: uuid.UUID) -> None:
    for key, (_, auth) in list(_cache.items()):
        if auth.device_id == device_id:
            del _cache[key]


def pipeline_of(state: State) -> Pipeline:
    pipeline: Pipeline | None = getattr(state, "monitoring", None)
    if pipeline is None:
        raise RuntimeError("the monitoring pipeline is not running in this process")
    return pipeline


async def ingest_message(
    pipeline: Pipeline, device: DeviceAuth, body: Any, *, fresh: bool = False
) -> list[ItemResult]:
    """Parse one device message (Observation or Bundle) and store it; raises ``MessageError``
    (400) for bad input and ``Unauthorized`` for a revoked device. ``fresh``: the steady
    stream of a connection (see ``Pipeline.submit``)."""
    items = parse.parse_message(body, device.patient_id)
    return await pipeline.submit(device.source(), items, fresh=fresh)


def summary(results: list[ItemResult]) -> dict[str, Any]:
    return {
        "stored": sum(r.status == "stored" for r in results),
        "duplicates": sum(r.status == "duplicate" for r in results),
        "results": [
            {"identifier": r.identifier, "status": r.status, "id": r.id, "kind": r.kind} for r in results
        ],
    }


__all__ = [
    "DeviceAuth",
    "Unauthorized",
    "authenticate_device",
    "ingest_message",
    "is_device_token",
    "summary",
]
