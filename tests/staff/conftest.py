"""Fixtures of the staff suites."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from app.db import Database
from tests.patients.helpers import headers_for
from tests.staff.helpers import api_definitions, api_department, api_staff


@pytest.fixture
async def ward(client: httpx.AsyncClient, db: Database) -> dict[str, Any]:
    admin = await headers_for(client, db, "admin")
    rota = await headers_for(client, db, "receptionist")
    dept = await api_department(client, admin, f"W{uuid.uuid4().hex[:6]}", "Ward 7")
    defs = await api_definitions(client, rota)
    ann = await api_staff(client, admin, "Ashby", department_id=dept["id"], position="Staff nurse")
    ben = await api_staff(client, admin, "Bello", department_id=dept["id"], position="Registrar")
    return {
        "admin": admin,
        "rota": rota,
        "dept": dept["id"],
        "defs": defs,
        "ann": ann["id"],
        "ben": ben["id"],
    }
