"""Users, roles, login, token rotation and logout: the only entry other modules use for auth."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload, selectinload

from app.audit import service as audit
from app.auth import passwords, tokens
from app.auth.models import AuthSession, LoginThrottle, RefreshToken, User, UserRole
from app.auth.permissions import Role, permissions_for
from app.auth.schemas import UserCreate, UserUpdate
from app.config import Settings
from app.deps import Principal
from app.errors import BadRequest, Conflict, NotFound, TooManyRequests, Unauthorized
from app.kit.text import escape_like

USER = "User"


class InvalidCredentials(Unauthorized):
    code = "invalid_credentials"

    def __init__(self) -> None:
        super().__init__("Incorrect username or password")


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int


# --- users -----------------------------------------------------------------------------


def _roles(values: list[Role] | list[str]) -> list[str]:
    try:
        return sorted({Role(v).value for v in values})
    except ValueError as exc:
        raise BadRequest(
            f"Unknown role; known roles: {', '.join(r.value for r in Role)}", code="unknown_role"
        ) from exc


async def get_user(session: AsyncSession, user_id: uuid.UUID) -> User:
    user = (
        await session.execute(select(User).where(User.id == user_id).options(selectinload(User.roles)))
    ).scalar_one_or_none()
    if user is None:
        raise NotFound("User not found")
    return user


async def find_user(session: AsyncSession, username: str) -> User | None:
    """The user with this login name (names are stored lower-case), roles loaded."""
    return (
        await session.execute(
            select(User).where(User.username == username.strip().lower()).options(selectinload(User.roles))
        )
    ).scalar_one_or_none()


async def list_users(
    session: AsyncSession, *, limit: int, offset: int, q: str | None = None, role: Role | None = None
) -> tuple[list[User], int]:
    query = select(User)
    if q:
        like = f"%{escape_like(q.lower())}%"
        query = query.where(
            or_(User.username.like(like, escape="\\"), func.lower(User.full_name).like(like, escape="\\"))
        )
    if role is not None:
        query = query.where(User.id.in_(select(UserRole.user_id).where(UserRole.role == role.value)))
    total = (await session.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
    rows = await session.execute(
        query.options(selectinload(User.roles)).order_by(User.username, User.id).limit(limit).offset(offset)
    )
    return list(rows.scalars()), total


async def create_user(session: AsyncSession, data: UserCreate) -> User:
    roles = _roles(data.roles)
    if Role.PATIENT.value in roles and len(roles) > 1:
        raise BadRequest("A patient account cannot also hold staff roles", code="patient_role_exclusive")
    exists = await session.execute(
        select(User.id).where(or_(User.username == data.username, User.email == data.email))
        if data.email
        else select(User.id).where(User.username == data.username)
    )
    if exists.first() is not None:
        raise Conflict("A user with this username or email already exists", code="user_exists")
    user = User(
        username=data.username,
        email=data.email,
        full_name=data.full_name,
        password_hash=await passwords.hash_password(data.password),
        patient_id=data.patient_id,
        roles=[UserRole(role=r) for r in roles],
    )
    session.add(user)
    try:
        await session.flush()
    except IntegrityError as exc:  # a concurrent create won the unique constraint
        raise Conflict("A user with this username or email already exists", code="user_exists") from exc
    audit.record(
        session,
        action="user.create",
        resource_type=USER,
        resource_id=user.id,
        details={"username": user.username, "roles": roles},
    )
    return user


async def update_user(
    session: AsyncSession, user_id: uuid.UUID, data: UserUpdate, *, acting_user_id: uuid.UUID | None
) -> User:
    user = await get_user(session, user_id)
    changes: dict[str, object] = {}
    if data.full_name is not None and data.full_name != user.full_name:
        changes["full_name"] = {"from": user.full_name, "to": data.full_name}
        user.full_name = data.full_name
    if data.email is not None and data.email != user.email:
        changes["email"] = {"from": user.email, "to": data.email}
        user.email = data.email
    if data.roles is not None:
        new_roles = _roles(data.roles)
        old_roles = user.role_names
        if new_roles != old_roles:
            if (
                acting_user_id == user.id
                and Role.ADMIN.value in old_roles
                and Role.ADMIN.value not in new_roles
            ):
                raise Conflict("You cannot remove your own admin role", code="self_lockout")
            if Role.PATIENT.value in new_roles and len(new_roles) > 1:
                raise BadRequest(
                    "A patient account cannot also hold staff roles", code="patient_role_exclusive"
                )
            keep = [r for r in user.roles if r.role in new_roles]
            user.roles = keep + [UserRole(role=r) for r in new_roles if r not in old_roles]
            changes["roles"] = {"from": old_roles, "to": new_roles}
    if data.is_active is not None and data.is_active != user.is_active:
        if acting_user_id == user.id and not data.is_active:
            raise Conflict("You cannot deactivate your own account", code="self_lockout")
        changes["is_active"] = {"from": user.is_active, "to": data.is_active}
        user.is_active = data.is_active
        if not data.is_active:
            await _revoke_all_sessions(session, user.id, "user_deactivated")
    if "patient_id" in data.model_fields_set and data.patient_id != user.patient_id:
        if data.patient_id is not None and Role.PATIENT.value not in user.role_names:
            raise BadRequest("Only a patient account can be linked to a patient record", code="not_a_patient")
        changes["patient_id"] = {"from": str(user.patient_id), "to": str(data.patient_id)}
        user.patient_id = data.patient_id
    if data.password is not None:
        user.password_hash = await passwords.hash_password(data.password)
        user.password_changed_at = _now()
        changes["password"] = "changed"  # noqa: S105
        await _revoke_all_sessions(session, user.id, "password_changed")
    if changes:
        try:
            await session.flush()
        except IntegrityError as exc:
            raise Conflict(
                "That email is in use, or that patient record is missing or linked to another account",
                code="user_conflict",
            ) from exc
        action = "user.roles_change" if "roles" in changes else "user.update"
        audit.record(session, action=action, resource_type=USER, resource_id=user.id, details=changes)
    return user


async def unlock_user(session: AsyncSession, user_id: uuid.UUID) -> User:
    """Lift a sign-in lock-out (the account's failed-login counter) before its window ends."""
    user = await get_user(session, user_id)
    result = await session.execute(
        delete(LoginThrottle).where(LoginThrottle.scope == "account", LoginThrottle.key == user.username)
    )
    audit.record(
        session,
        action="user.unlock",
        resource_type=USER,
        resource_id=user.id,
        details={"cleared": bool(result.rowcount)},  # type: ignore[attr-defined]
    )
    return user


# --- login and tokens ------------------------------------------------------------------


def _now() -> datetime:
    from app.kit.time import utcnow

    return utcnow()


async def _throttle_row(session: AsyncSession, scope: str, key: str) -> LoginThrottle | None:
    return (
        await session.execute(
            select(LoginThrottle).where(LoginThrottle.scope == scope, LoginThrottle.key == key)
        )
    ).scalar_one_or_none()


async def _retry_after(
    session: AsyncSession, scope: str, key: str, limit: int, window: timedelta, now: datetime
) -> int | None:
    row = await _throttle_row(session, scope, key)
    if row is None or row.failures < limit:
        return None
    elapsed = now - row.last_failure_at
    if elapsed >= window:
        return None
    return max(1, int((window - elapsed).total_seconds()))


async def _note_failure(
    session: AsyncSession, scope: str, key: str, window: timedelta, now: datetime
) -> None:
    row = await _throttle_row(session, scope, key)
    if row is None:
        try:
            async with session.begin_nested():
                session.add(
                    LoginThrottle(scope=scope, key=key, failures=1, first_failure_at=now, last_failure_at=now)
                )
            return
        except IntegrityError:  # another request inserted it first: count on its row
            row = await _throttle_row(session, scope, key)
            if row is None:
                raise
    if now - row.last_failure_at >= window:
        row.failures = 1
        row.first_failure_at = now
    else:
        row.failures += 1
    row.last_failure_at = now
    await session.flush()


async def login(
    session: AsyncSession,
    settings: Settings,
    *,
    username: str,
    password: str,
    client_address: str | None,
    user_agent: str | None,
) -> TokenPair:
    """Check throttles, then the password. Failures are recorded on the session: the caller
    must commit them even though it then answers with an error."""
    now = _now()
    name = username.strip().lower()[:150]
    window = timedelta(seconds=settings.login_failure_window_seconds)
    checks = [("account", name, settings.login_max_failures_per_account)]
    if client_address:
        checks.append(("address", client_address, settings.login_max_failures_per_address))
    for scope, key, limit in checks:
        wait = await _retry_after(session, scope, key, limit, window, now)
        if wait is not None:
            audit.record(
                session,
                action="login.throttled",
                resource_type=USER,
                outcome="denied",
                actor_username=name,
                details={"scope": scope},
            )
            raise TooManyRequests(
                "Too many failed sign-in attempts; try again later",
                details={"retry_after": wait},
                headers={"Retry-After": str(wait)},
            )

    user = await find_user(session, name)
    ok = await passwords.verify_password(user.password_hash if user else None, password)
    if user is None or not ok or not user.is_active:
        for scope, key, _ in checks:
            await _note_failure(session, scope, key, window, now)
        audit.record(
            session,
            action="login.failure",
            resource_type=USER,
            resource_id=user.id if user else None,
            outcome="failure",
            actor_username=name,
            details={"reason": "inactive" if user is not None and ok else "bad_credentials"},
        )
        raise InvalidCredentials()

    await session.execute(
        delete(LoginThrottle).where(LoginThrottle.scope == "account", LoginThrottle.key == name)
    )
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = await passwords.hash_password(password)
    auth_session = AuthSession(
        user_id=user.id,
        created_at=now,
        last_used_at=now,
        expires_at=now + timedelta(days=settings.refresh_token_days),
        client_address=client_address,
        user_agent=(user_agent or "")[:255] or None,
    )
    session.add(auth_session)
    await session.flush()
    pair = await _issue(session, settings, user, auth_session, now)
    audit.record(
        session,
        action="login.success",
        resource_type=USER,
        resource_id=user.id,
        actor_id=user.id,
        actor_username=user.username,
        details={"session": str(auth_session.id)},
    )
    return pair


async def _issue(
    session: AsyncSession, settings: Settings, user: User, auth_session: AuthSession, now: datetime
) -> TokenPair:
    refresh = tokens.new_refresh_token()
    session.add(
        RefreshToken(
            session_id=auth_session.id,
            token_hash=tokens.hash_token(refresh),
            issued_at=now,
            expires_at=auth_session.expires_at,
        )
    )
    await session.flush()
    access, expires_in = tokens.issue_access_token(settings, user.id, auth_session.id, user.role_names, now)
    return TokenPair(access_token=access, refresh_token=refresh, expires_in=expires_in)


async def refresh(session: AsyncSession, settings: Settings, refresh_token: str) -> TokenPair:
    """Rotate: the presented token is spent and a new one issued in the same family. A token
    presented twice means it leaked; the whole family (login session) is revoked. Failures are
    recorded on the session: the caller commits them before answering with the error."""
    now = _now()
    token = (
        await session.execute(
            select(RefreshToken).where(RefreshToken.token_hash == tokens.hash_token(refresh_token))
        )
    ).scalar_one_or_none()
    if token is None:
        raise Unauthorized("The refresh token is invalid", code="invalid_refresh_token")
    auth_session = await session.get(AuthSession, token.session_id)
    if auth_session is None or auth_session.revoked_at is not None or auth_session.expires_at <= now:
        raise Unauthorized("This sign-in session has ended; please sign in again", code="session_revoked")
    # The conditional update decides between two concurrent uses of one token: one wins.
    spent = await session.execute(
        update(RefreshToken)
        .where(RefreshToken.id == token.id, RefreshToken.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if spent.rowcount != 1:  # type: ignore[attr-defined]
        await _revoke_session(session, auth_session, "refresh_token_reuse")
        audit.record(
            session,
            action="token.reuse_detected",
            resource_type="AuthSession",
            resource_id=auth_session.id,
            outcome="denied",
            actor_id=auth_session.user_id,
        )
        raise Unauthorized(
            "This refresh token was already used; the session has been revoked", code="refresh_token_reused"
        )
    user = await get_user(session, auth_session.user_id)
    if not user.is_active:
        await _revoke_session(session, auth_session, "user_deactivated")
        raise Unauthorized("This account is disabled", code="account_disabled")
    auth_session.last_used_at = now
    return await _issue(session, settings, user, auth_session, now)


async def _revoke_session(session: AsyncSession, auth_session: AuthSession, reason: str) -> None:
    if auth_session.revoked_at is None:
        auth_session.revoked_at = _now()
        auth_session.revoked_reason = reason
        await session.flush()


async def _revoke_all_sessions(session: AsyncSession, user_id: uuid.UUID, reason: str) -> None:
    await session.execute(
        update(AuthSession)
        .where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=_now(), revoked_reason=reason)
        .execution_options(synchronize_session=False)
    )


async def logout(session: AsyncSession, principal: Principal) -> None:
    auth_session = await session.get(AuthSession, principal.session_id)
    if auth_session is not None:
        await _revoke_session(session, auth_session, "logout")
    audit.record(session, action="logout", resource_type="AuthSession", resource_id=principal.session_id)


async def authenticate_access_token(session: AsyncSession, settings: Settings, token: str) -> Principal:
    try:
        claims = tokens.decode_access_token(settings, token)
    except Unauthorized as exc:
        if exc.code == "invalid_token":
            # Forged or mangled tokens are worth a trace; expired ones are routine (refresh).
            # The request fails, so the unit of work stores this with the failure outcome.
            audit.record(session, action="token.invalid", resource_type="AuthSession", outcome="denied")
        raise
    row = (
        (
            await session.execute(
                select(User, AuthSession.revoked_at, AuthSession.expires_at)
                .join(AuthSession, AuthSession.user_id == User.id)
                .where(AuthSession.id == claims.session_id, User.id == claims.user_id)
                .options(joinedload(User.roles))  # one round trip on every authenticated request
            )
        )
        .unique()
        .first()
    )
    if row is None:
        raise Unauthorized("The access token is invalid", code="invalid_token")
    user, revoked_at, expires_at = row
    if revoked_at is not None or expires_at <= _now():
        raise Unauthorized("This sign-in session has ended; please sign in again", code="session_revoked")
    return _principal(user, claims.session_id)


def _principal(user: User, session_id: uuid.UUID) -> Principal:
    if not user.is_active:
        raise Unauthorized("This account is disabled", code="account_disabled")
    roles = tuple(user.role_names)
    return Principal(
        user_id=user.id,
        username=user.username,
        full_name=user.full_name,
        email=user.email,
        roles=roles,
        permissions=permissions_for(list(roles)),
        patient_id=user.patient_id,
        session_id=session_id,
    )


async def principal_for_session(
    session: AsyncSession, user_id: uuid.UUID, session_id: uuid.UUID
) -> Principal:
    """The principal of a user's sign-in session, for work done on their behalf outside a request
    (telehealth signaling acting on a clinician's join token). Refused like a request would be
    when the session ended or the account is disabled."""
    row = (
        (
            await session.execute(
                select(User, AuthSession.revoked_at, AuthSession.expires_at)
                .join(AuthSession, AuthSession.user_id == User.id)
                .where(AuthSession.id == session_id, User.id == user_id)
                .options(joinedload(User.roles))
            )
        )
        .unique()
        .first()
    )
    if row is None:
        raise Unauthorized("The sign-in session is unknown", code="invalid_token")
    user, revoked_at, expires_at = row
    if revoked_at is not None or expires_at <= _now():
        raise Unauthorized("This sign-in session has ended; please sign in again", code="session_revoked")
    return _principal(user, session_id)
