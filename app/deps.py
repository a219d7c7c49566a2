"""Request dependencies: the unit of work, the authenticated principal, permission checks."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit
from app.auth.permissions import Perm
from app.config import Settings
from app.context import current_context
from app.db import Database
from app.errors import AppError, Forbidden, Unauthorized


def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_database(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


async def _session(request: Request) -> AsyncIterator[AsyncSession]:
    db = get_database(request)
    async with db.sessionmaker() as session:
        try:
            yield session
            await session.commit()
        except BaseException as exc:
            pending = audit.take_pending(session)
            await session.rollback()
            if pending:
                status = exc.status_code if isinstance(exc, AppError) else 500
                outcome = "denied" if status in (401, 403) else "failure"
                code = exc.code if isinstance(exc, AppError) else type(exc).__name__
                await audit.write_failed(db.sessionmaker, pending, outcome, code)
            raise


# scope="function": commit before the response is sent, so a failed commit becomes an error
# response instead of a success the database never kept.
SessionDep = Annotated[AsyncSession, Depends(_session, scope="function")]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/auth/token", auto_error=False)


@dataclass(frozen=True)
class Principal:
    user_id: uuid.UUID
    username: str
    full_name: str
    email: str | None
    roles: tuple[str, ...]
    permissions: frozenset[Perm]
    patient_id: uuid.UUID | None
    session_id: uuid.UUID

    def has(self, perm: Perm) -> bool:
        return perm in self.permissions


async def get_principal(
    session: SessionDep, settings: SettingsDep, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> Principal:
    # Imported here: auth.service imports this module's Principal type.
    from app.auth import service as auth_service

    if not token:
        raise Unauthorized()
    principal = await auth_service.authenticate_access_token(session, settings, token)
    ctx = current_context()
    ctx.actor_id = principal.user_id
    ctx.actor_username = principal.username
    ctx.actor_roles = principal.roles
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def require(*perms: Perm) -> Callable[..., Coroutine[Any, Any, Principal]]:
    """A dependency that admits a principal holding every one of ``perms``."""

    async def _check(principal: PrincipalDep, session: SessionDep, request: Request) -> Principal:
        missing = [p.value for p in perms if p not in principal.permissions]
        if missing:
            audit.record(
                session,
                action="access_denied",
                resource_type="endpoint",
                outcome="denied",
                details={"method": request.method, "path": request.url.path, "missing": missing},
            )
            raise Forbidden("You do not have permission for this action", details={"missing": missing})
        return principal

    return _check
