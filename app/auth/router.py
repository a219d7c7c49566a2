from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.security import OAuth2PasswordRequestForm

from app.auth import service
from app.auth.models import User
from app.auth.permissions import Perm, Role
from app.auth.schemas import (
    LogoutRequest,
    Me,
    RefreshRequest,
    TokenResponse,
    UserCreate,
    UserRead,
    UserUpdate,
)
from app.deps import Principal, PrincipalDep, SessionDep, SettingsDep, require
from app.errors import AppError
from app.kit.pagination import Page, PageParams, page_params

router = APIRouter(prefix="/api/auth", tags=["auth"])
users_router = APIRouter(prefix="/api/users", tags=["users"])

UsersAdmin = Annotated[Principal, Depends(require(Perm.USERS_ADMIN))]


def _tokens(pair: service.TokenPair) -> TokenResponse:
    return TokenResponse(
        access_token=pair.access_token, refresh_token=pair.refresh_token, expires_in=pair.expires_in
    )


@router.post("/token", response_model=TokenResponse, summary="Sign in (OAuth2 password flow)")
async def token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
) -> TokenResponse:
    try:
        pair = await service.login(
            session,
            settings,
            username=form.username,
            password=form.password,
            client_address=request.client.host if request.client else None,
            user_agent=request.headers.get("user-agent"),
        )
    except AppError:
        # Failed attempts must count even though the answer is an error: keep the throttle
        # counters and the audit entry.
        await session.commit()
        raise
    return _tokens(pair)


@router.post("/refresh", response_model=TokenResponse, summary="Rotate a refresh token")
async def refresh(body: RefreshRequest, session: SessionDep, settings: SettingsDep) -> TokenResponse:
    try:
        pair = await service.refresh(session, settings, body.refresh_token)
    except AppError:
        await session.commit()  # a detected reuse revokes the family; that must stick
        raise
    return _tokens(pair)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, summary="Sign out: revoke this session")
async def logout(principal: PrincipalDep, session: SessionDep, body: LogoutRequest | None = None) -> Response:
    await service.logout(session, principal)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/me", response_model=Me)
async def me(principal: PrincipalDep) -> Me:
    return Me(
        id=principal.user_id,
        username=principal.username,
        email=principal.email,
        full_name=principal.full_name,
        roles=[Role(r) for r in principal.roles],
        permissions=sorted(p.value for p in principal.permissions),
        patient_id=principal.patient_id,
    )


def user_read(user: User) -> UserRead:
    return UserRead(
        id=user.id,
        username=user.username,
        email=user.email,
        full_name=user.full_name,
        roles=[Role(r) for r in user.role_names],
        is_active=user.is_active,
        patient_id=user.patient_id,
        created_at=user.created_at,
    )


@users_router.get("", response_model=Page[UserRead])
async def list_users(
    _: UsersAdmin,
    session: SessionDep,
    page: Annotated[PageParams, Depends(page_params)],
    q: Annotated[str | None, Query(max_length=100)] = None,
    role: Role | None = None,
) -> Page[UserRead]:
    users, total = await service.list_users(session, limit=page.limit, offset=page.offset, q=q, role=role)
    return Page(items=[user_read(u) for u in users], total=total, limit=page.limit, offset=page.offset)


@users_router.post("", response_model=UserRead, status_code=status.HTTP_201_CREATED)
async def create_user(body: UserCreate, _: UsersAdmin, session: SessionDep) -> UserRead:
    return user_read(await service.create_user(session, body))


@users_router.get("/{user_id}", response_model=UserRead)
async def get_user(user_id: uuid.UUID, _: UsersAdmin, session: SessionDep) -> UserRead:
    return user_read(await service.get_user(session, user_id))


@users_router.patch("/{user_id}", response_model=UserRead)
async def update_user(
    user_id: uuid.UUID, body: UserUpdate, admin: UsersAdmin, session: SessionDep
) -> UserRead:
    return user_read(await service.update_user(session, user_id, body, acting_user_id=admin.user_id))


@users_router.post("/{user_id}/unlock", response_model=UserRead, summary="Lift a sign-in lock-out")
async def unlock_user(user_id: uuid.UUID, _: UsersAdmin, session: SessionDep) -> UserRead:
    return user_read(await service.unlock_user(session, user_id))
