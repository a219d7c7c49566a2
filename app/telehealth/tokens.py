"""Join tokens for the signaling WebSocket, and TURN REST API credentials.

A join token is a short-lived JWT (HS256, the service's secret key) with its own audience, so an
API access token is never accepted by signaling nor a join token by the API. It binds one
participant (its ``peer_id``) of one consultation (its room) in one role; signaling trusts what
it says and checks nothing else against the database before relaying.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from app.config import Settings
from app.errors import Unauthorized

ALGORITHM = "HS256"
ISSUER = "hospital-hub"
JOIN_AUDIENCE = "hospital-hub:signaling"


@dataclass(frozen=True, slots=True)
class JoinClaims:
    consultation_id: uuid.UUID
    room: str
    participant_id: uuid.UUID
    peer_id: str
    role: str  # patient | clinician | guest | media
    display_name: str
    user_id: uuid.UUID | None  # None for guests and the media peer
    session_id: uuid.UUID | None  # the user's sign-in session (clinicians act as themselves)
    expires_at: datetime


def issue_join_token(
    settings: Settings,
    *,
    consultation_id: uuid.UUID,
    room: str,
    participant_id: uuid.UUID,
    peer_id: str,
    role: str,
    display_name: str,
    user_id: uuid.UUID | None,
    session_id: uuid.UUID | None,
    now: datetime,
    lifetime: timedelta | None = None,
) -> tuple[str, datetime]:
    expires = now + (lifetime or timedelta(seconds=settings.telehealth_join_token_seconds))
    payload: dict[str, Any] = {
        "iss": ISSUER,
        "aud": JOIN_AUDIENCE,
        "sub": str(user_id) if user_id else f"participant:{participant_id}",
        "cid": str(consultation_id),
        "room": room,
        "pid": str(participant_id),
        "peer": peer_id,
        "role": role,
        "name": display_name,
        "sid": str(session_id) if session_id else None,
        "iat": int(now.timestamp()),
        "exp": int(expires.timestamp()),
        "jti": secrets.token_hex(8),
    }
    return jwt.encode(payload, settings.secret_key, algorithm=ALGORITHM), expires


def decode_join_token(settings: Settings, token: str) -> JoinClaims:
    """Verify signature, audience and expiry; raise ``Unauthorized`` (token_expired, invalid_token)."""
    try:
        payload = jwt.decode(
            token,
            settings.secret_key,
            algorithms=[ALGORITHM],
            audience=JOIN_AUDIENCE,
            issuer=ISSUER,
            options={"require": ["exp", "iat", "cid", "room", "pid", "peer", "role"]},
        )
        sub = str(payload["sub"])
        return JoinClaims(
            consultation_id=uuid.UUID(payload["cid"]),
            room=str(payload["room"]),
            participant_id=uuid.UUID(payload["pid"]),
            peer_id=str(payload["peer"]),
            role=str(payload["role"]),
            display_name=str(payload.get("name") or ""),
            user_id=None if sub.startswith("participant:") else uuid.UUID(sub),
            session_id=uuid.UUID(payload["sid"]) if payload.get("sid") else None,
            expires_at=datetime.fromtimestamp(payload["exp"], tz=UTC),
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("The join token has expired; ask for a new one", code="token_expired") from exc
    except (jwt.InvalidTokenError, ValueError, KeyError, TypeError) as exc:
        raise Unauthorized("The join token is invalid", code="invalid_token") from exc


def turn_credentials(secret: str, user: str, now: datetime, lifetime: timedelta) -> tuple[str, str]:
    """TURN REST API credentials (draft-uberti-behave-turn-rest, coturn ``use-auth-secret``):
    username ``<expiry unix time>:<user>``, password base64(HMAC-SHA1(secret, username))."""
    username = f"{int((now + lifetime).timestamp())}:{user}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode()


def ice_servers(settings: Settings, user: str, now: datetime) -> list[dict[str, Any]]:
    """The RTCIceServer list for one participant (an empty list on loopback-only installs)."""
    servers: list[dict[str, Any]] = []
    if settings.stun_urls:
        servers.append({"urls": list(settings.stun_urls)})
    if settings.turn_urls and settings.turn_secret:
        username, credential = turn_credentials(
            settings.turn_secret, user, now, timedelta(seconds=settings.turn_credential_seconds)
        )
        servers.append({"urls": list(settings.turn_urls), "username": username, "credential": credential})
    return servers


def secret_hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()
