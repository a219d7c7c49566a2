"""Sign-in, tokens, refresh rotation, logout, throttling and the error shape, over HTTP."""

from __future__ import annotations

from datetime import timedelta

import jwt
import pytest
from sqlalchemy import func, select

from app.audit.models import AuditEvent
from app.auth.models import AuthSession
from app.auth.tokens import issue_access_token
from app.kit.time import utcnow
from tests.conftest import PASSWORD, TEST_SECRET, bearer, login, make_user


def assert_error(resp, status: int, code: str) -> dict:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    return body["error"]


async def audit_rows(db, action: str) -> list[AuditEvent]:
    async with db.sessionmaker() as s:
        return list((await s.execute(select(AuditEvent).where(AuditEvent.action == action))).scalars())


async def test_login_returns_tokens_and_me_describes_the_user(client, db):
    uid = await make_user(db, role="doctor", username="dr.who", full_name="Dr Who")
    tokens = await login(client, "Dr.Who")  # usernames are case-insensitive
    assert tokens["token_type"] == "bearer"
    assert tokens["expires_in"] == 15 * 60
    me = await client.get("/api/auth/me", headers=bearer(tokens))
    assert me.status_code == 200
    body = me.json()
    assert body["id"] == str(uid)
    assert body["username"] == "dr.who"
    assert body["roles"] == ["doctor"]
    assert "clinical:prescribe" in body["permissions"]
    assert "admin:users" not in body["permissions"]
    [event] = await audit_rows(db, "login.success")
    assert event.actor_id == uid and event.client_address == "203.0.113.7"


async def test_wrong_password_is_401_in_the_error_shape_and_audited(client, db):
    await make_user(db, username="nurse1", role="nurse")
    r = await client.post("/api/auth/token", data={"username": "nurse1", "password": "wrong password!"})
    assert_error(r, 401, "invalid_credentials")
    r = await client.post("/api/auth/token", data={"username": "ghost", "password": "wrong password!"})
    assert_error(r, 401, "invalid_credentials")  # unknown users look the same
    failures = await audit_rows(db, "login.failure")
    assert [f.actor_username for f in failures] == ["nurse1", "ghost"]
    assert all(f.outcome == "failure" for f in failures)


async def test_missing_forged_and_expired_tokens_are_rejected(client, db, settings):
    uid = await make_user(db, username="rx1", role="pharmacist")
    assert_error(await client.get("/api/auth/me"), 401, "not_authenticated")
    tokens = await login(client, "rx1")
    header, payload, sig = tokens["access_token"].split(".")
    forged = f"{header}.{payload}.{sig[:-4]}AAAA"
    assert_error(
        await client.get("/api/auth/me", headers={"Authorization": f"Bearer {forged}"}), 401, "invalid_token"
    )
    other_key = jwt.encode(jwt.decode(tokens["access_token"], options={"verify_signature": False}), "x" * 40)
    assert_error(
        await client.get("/api/auth/me", headers={"Authorization": f"Bearer {other_key}"}),
        401,
        "invalid_token",
    )
    claims = jwt.decode(
        tokens["access_token"], TEST_SECRET, algorithms=["HS256"], audience="hospital-hub:api"
    )
    expired, _ = issue_access_token(
        settings, uid, __import__("uuid").UUID(claims["sid"]), ["pharmacist"], utcnow() - timedelta(hours=1)
    )
    err = assert_error(
        await client.get("/api/auth/me", headers=bearer({"access_token": expired})), 401, "token_expired"
    )
    assert "expired" in err["message"]
    assert len(await audit_rows(db, "token.invalid")) == 2


async def test_refresh_rotates_and_reuse_revokes_the_family(client, db):
    await make_user(db, username="recep", role="receptionist")
    first = await login(client, "recep")
    r = await client.post("/api/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert r.status_code == 200, r.text
    second = r.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert (await client.get("/api/auth/me", headers=bearer(second))).status_code == 200

    # The old token again: a leak. The whole family dies, including the newest tokens.
    reuse = await client.post("/api/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert_error(reuse, 401, "refresh_token_reused")
    assert_error(await client.get("/api/auth/me", headers=bearer(second)), 401, "session_revoked")
    again = await client.post("/api/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert_error(again, 401, "session_revoked")
    assert len(await audit_rows(db, "token.reuse_detected")) == 1


async def test_unknown_refresh_token_and_bad_bodies(client):
    assert_error(
        await client.post("/api/auth/refresh", json={"refresh_token": "nope"}), 401, "invalid_refresh_token"
    )
    assert_error(await client.post("/api/auth/refresh", json={}), 422, "validation_error")
    r = await client.post(
        "/api/auth/refresh", content=b'{"refresh_token": ', headers={"content-type": "application/json"}
    )
    assert_error(r, 400, "malformed_json")


async def test_logout_revokes_access_and_refresh(client, db):
    await make_user(db, username="bill", role="billing")
    tokens = await login(client, "bill")
    r = await client.post(
        "/api/auth/logout", headers=bearer(tokens), json={"refresh_token": tokens["refresh_token"]}
    )
    assert r.status_code == 204
    assert_error(await client.get("/api/auth/me", headers=bearer(tokens)), 401, "session_revoked")
    assert_error(
        await client.post("/api/auth/refresh", json={"refresh_token": tokens["refresh_token"]}),
        401,
        "session_revoked",
    )
    async with db.sessionmaker() as s:
        sess = (await s.execute(select(AuthSession))).scalars().one()
        assert sess.revoked_reason == "logout"


async def test_failed_logins_are_throttled_per_account(client, db, settings):
    await make_user(db, username="target", role="doctor")
    for _ in range(settings.login_max_failures_per_account):
        assert_error(
            await client.post("/api/auth/token", data={"username": "target", "password": "guess-guess-1"}),
            401,
            "invalid_credentials",
        )
    # Now even the right password is refused until the window passes: guessing is pointless.
    r = await client.post("/api/auth/token", data={"username": "target", "password": PASSWORD})
    err = assert_error(r, 429, "too_many_requests")
    assert int(r.headers["Retry-After"]) > 0
    assert err["details"]["retry_after"] > 0
    assert len(await audit_rows(db, "login.throttled")) == 1
    # An administrator can lift the lock-out at once.
    await make_user(db, username="helpdesk", role="admin")
    helpdesk = await login(client, "helpdesk")
    target = (await client.get("/api/users", headers=bearer(helpdesk), params={"q": "target"})).json()[
        "items"
    ][0]
    assert (
        await client.post(f"/api/users/{target['id']}/unlock", headers=bearer(helpdesk))
    ).status_code == 200
    assert len(await audit_rows(db, "user.unlock")) == 1
    await login(client, "target")
    # Another account from the same address is not locked by this one.
    await make_user(db, username="bystander", role="nurse")
    assert (
        await client.post("/api/auth/token", data={"username": "bystander", "password": PASSWORD})
    ).status_code == 200


async def test_failed_logins_are_throttled_per_address(app, db):
    import httpx

    app.state.settings.login_max_failures_per_address = 3
    await make_user(db, username="victim", role="doctor")
    transport = httpx.ASGITransport(app=app, client=("198.51.100.9", 1234))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        for i in range(3):
            await c.post("/api/auth/token", data={"username": f"spray{i}", "password": "guess-guess-1"})
        r = await c.post("/api/auth/token", data={"username": "victim", "password": PASSWORD})
        assert_error(r, 429, "too_many_requests")


async def test_successful_login_resets_the_account_counter(client, db, settings):
    await make_user(db, username="forgetful", role="nurse")
    for _ in range(settings.login_max_failures_per_account - 1):
        await client.post("/api/auth/token", data={"username": "forgetful", "password": "guess-guess-1"})
    await login(client, "forgetful")
    for _ in range(settings.login_max_failures_per_account - 1):
        await client.post("/api/auth/token", data={"username": "forgetful", "password": "guess-guess-1"})
    await login(client, "forgetful")


async def test_deactivated_user_loses_access_immediately(client, db):
    admin_id = await make_user(db, username="root1", role="admin")
    uid = await make_user(db, username="leaver", role="nurse")
    admin = await login(client, "root1")
    leaver = await login(client, "leaver")
    r = await client.patch(f"/api/users/{uid}", headers=bearer(admin), json={"is_active": False})
    assert r.status_code == 200 and r.json()["is_active"] is False
    assert_error(await client.get("/api/auth/me", headers=bearer(leaver)), 401, "session_revoked")
    assert_error(
        await client.post("/api/auth/token", data={"username": "leaver", "password": PASSWORD}),
        401,
        "invalid_credentials",
    )
    # Nor can an admin lock themselves out.
    r = await client.patch(f"/api/users/{admin_id}", headers=bearer(admin), json={"roles": ["nurse"]})
    assert_error(r, 409, "self_lockout")


async def test_user_admin_requires_permission_and_is_audited(client, db):
    await make_user(db, username="root2", role="admin")
    await make_user(db, username="doc2", role="doctor")
    admin, doc = await login(client, "root2"), await login(client, "doc2")
    new = {
        "username": "newnurse",
        "password": "a-long-password",
        "full_name": "New Nurse",
        "roles": ["nurse"],
    }
    denied = await client.post("/api/users", headers=bearer(doc), json=new)
    assert_error(denied, 403, "forbidden")
    [d] = await audit_rows(db, "access_denied")
    assert d.outcome == "denied" and d.actor_username == "doc2"

    created = await client.post("/api/users", headers=bearer(admin), json=new)
    assert created.status_code == 201, created.text
    uid = created.json()["id"]
    assert_error(await client.post("/api/users", headers=bearer(admin), json=new), 409, "user_exists")
    bad_role = await client.post(
        "/api/users", headers=bearer(admin), json={**new, "username": "x-1", "roles": ["wizard"]}
    )
    assert_error(bad_role, 422, "validation_error")
    short = await client.post(
        "/api/users", headers=bearer(admin), json={**new, "username": "x-2", "password": "pw-Zq9"}
    )
    err = assert_error(short, 422, "validation_error")
    assert "pw-Zq9" not in str(err["details"])  # submitted passwords are never echoed back

    r = await client.patch(
        f"/api/users/{uid}", headers=bearer(admin), json={"roles": ["nurse", "pharmacist"]}
    )
    assert r.status_code == 200 and r.json()["roles"] == ["nurse", "pharmacist"]
    [change] = await audit_rows(db, "user.roles_change")
    assert '"to":["nurse","pharmacist"]' in (change.details or "")
    listing = await client.get("/api/users", headers=bearer(admin), params={"role": "nurse"})
    assert [u["username"] for u in listing.json()["items"]] == ["newnurse"]


@pytest.mark.parametrize("size", [2_000_000])
async def test_oversized_body_is_413_and_writes_nothing(client, db, size):
    r = await client.post(
        "/api/auth/refresh", content=b"x" * size, headers={"content-type": "application/json"}
    )
    assert_error(r, 413, "payload_too_large")
    async with db.sessionmaker() as s:
        assert (await s.execute(select(func.count()).select_from(AuditEvent))).scalar_one() == 0


async def test_user_fields_are_normalised_and_search_is_literal(client, db):
    await make_user(db, username="root3", role="admin")
    admin = await login(client, "root3")
    base = {"password": "a-long-password", "roles": ["nurse"]}
    r = await client.post(
        "/api/users",
        headers=bearer(admin),
        json={**base, "username": "ann", "full_name": "Ann", "email": "Ann@Example.com"},
    )
    assert r.status_code == 201 and r.json()["email"] == "ann@example.com"
    dup = await client.post(
        "/api/users",
        headers=bearer(admin),
        json={**base, "username": "ann2", "full_name": "Ann", "email": "ANN@example.com"},
    )
    assert_error(dup, 409, "user_exists")
    nul = await client.post(
        "/api/users", headers=bearer(admin), json={**base, "username": "nul", "full_name": "a\u0000b"}
    )
    assert_error(nul, 422, "validation_error")
    await client.post(
        "/api/users", headers=bearer(admin), json={**base, "username": "pct", "full_name": "100% Sure_Thing"}
    )
    for q, expected in (("%", ["pct"]), ("_", ["pct"]), ("ann", ["ann"]), ("zzz", [])):
        found = await client.get("/api/users", headers=bearer(admin), params={"q": q})
        assert [u["username"] for u in found.json()["items"]] == expected, q
    bad_id = await client.get("/api/users/not-a-uuid", headers=bearer(admin))
    assert bad_id.json()["error"]["message"] == "The request is invalid"


async def test_portal_accounts_link_to_one_patient_record(client, db):
    from tests.patients.helpers import register

    await make_user(db, username="root4", role="admin")
    nurse_id = await make_user(db, username="nurse4", role="nurse")
    portal_id = await make_user(db, username="portal4", role="patient")
    admin = await login(client, "root4")
    missing = "00000000-0000-4000-8000-000000000000"
    r = await client.patch(f"/api/users/{nurse_id}", headers=bearer(admin), json={"patient_id": missing})
    assert_error(r, 400, "not_a_patient")
    r = await client.patch(f"/api/users/{portal_id}", headers=bearer(admin), json={"patient_id": missing})
    assert_error(r, 409, "user_conflict")  # no such patient record: the foreign key refuses
    chart = await register(client, bearer(admin))
    r = await client.patch(f"/api/users/{portal_id}", headers=bearer(admin), json={"patient_id": chart["id"]})
    assert r.status_code == 200 and r.json()["patient_id"] == chart["id"]
    portal = await login(client, "portal4")
    assert (await client.get("/api/auth/me", headers=bearer(portal))).json()["patient_id"] == chart["id"]
    other_id = await make_user(db, username="portal5", role="patient")
    r = await client.patch(f"/api/users/{other_id}", headers=bearer(admin), json={"patient_id": chart["id"]})
    assert_error(r, 409, "user_conflict")  # one record, one portal account
