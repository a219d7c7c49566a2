"""patient name search pairs

Two additions for name search:
- ``patient_name_tokens.in_family`` / ``in_given``: the name part(s) a token occurs in, for FHIR's
  ``family=`` and ``given=`` searches. Backfilled from ``patient_names`` with the app's own
  tokenizer (tokens it does not produce keep both flags false: found by ``name=`` only).
- ``patient_name_token_pairs``: every ordered pair of two distinct name tokens of a patient, with
  the patient's sort key, indexed (anchor, token, sort key, id), so that a search of two words
  walks one index range in result order. Backfilled from the tokens with one portable
  INSERT ... SELECT.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 19:00:00.000000
"""

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.patients.names import patient_tokens

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 5000


def _backfill_parts() -> None:
    conn = op.get_bind()
    names = sa.table(
        "patient_names",
        sa.column("patient_id", sa.Uuid()),
        sa.column("family", sa.String()),
        sa.column("given_json", sa.Text()),
        sa.column("text", sa.String()),
    )
    tokens = sa.table(
        "patient_name_tokens",
        sa.column("patient_id", sa.Uuid()),
        sa.column("token", sa.String()),
        sa.column("in_family", sa.Boolean()),
        sa.column("in_given", sa.Boolean()),
    )
    set_parts = (
        sa.update(tokens)
        .where(tokens.c.patient_id == sa.bindparam("pid"), tokens.c.token == sa.bindparam("tok"))
        .values(in_family=sa.bindparam("fam"), in_given=sa.bindparam("giv"))
    )
    patients = sa.table("patients", sa.column("id", sa.Uuid()))
    last = None
    while True:  # a page of patients at a time: bounded memory on a large registry
        page = sa.select(patients.c.id).order_by(patients.c.id).limit(_BATCH)
        if last is not None:
            page = page.where(patients.c.id > last)
        ids = list(conn.execute(page).scalars())
        if not ids:
            return
        last = ids[-1]
        by_patient: dict[object, list[tuple[str | None, list[str], str | None]]] = {}
        rows = conn.execute(
            sa.select(names.c.patient_id, names.c.family, names.c.given_json, names.c.text).where(
                names.c.patient_id.in_(ids)
            )
        )
        for pid, family, given_json, text in rows:
            given = list(json.loads(given_json)) if given_json else []
            by_patient.setdefault(pid, []).append((family, given, text))
        updates = [
            {"pid": pid, "tok": token, "fam": where.in_family, "giv": where.in_given}
            for pid, parts in by_patient.items()
            for token, where in patient_tokens(parts).items()
            if where.in_family or where.in_given
        ]
        if updates:
            conn.execute(set_parts, updates)


def upgrade() -> None:
    # A temporary server default fills existing rows (NOT NULL on both databases); the backfill
    # then sets the real values, and the default is dropped.
    with op.batch_alter_table("patient_name_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("in_family", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("in_given", sa.Boolean(), nullable=False, server_default=sa.false()))
    _backfill_parts()
    with op.batch_alter_table("patient_name_tokens", schema=None) as batch_op:
        batch_op.alter_column(
            "in_family", existing_type=sa.Boolean(), existing_nullable=False, server_default=None
        )
        batch_op.alter_column(
            "in_given", existing_type=sa.Boolean(), existing_nullable=False, server_default=None
        )

    op.create_table(
        "patient_name_token_pairs",
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("anchor", sa.String(length=100), nullable=False),
        sa.Column("token", sa.String(length=100), nullable=False),
        sa.Column("sort_family", sa.String(length=100), nullable=False),
        sa.Column("sort_given", sa.String(length=100), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
            name=op.f("fk_patient_name_token_pairs_patient_id_patients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("patient_id", "anchor", "token", name=op.f("pk_patient_name_token_pairs")),
    )
    op.execute(
        "INSERT INTO patient_name_token_pairs"
        " (patient_id, anchor, token, sort_family, sort_given, birth_date)"
        " SELECT a.patient_id, a.token, b.token, b.sort_family, b.sort_given, b.birth_date"
        " FROM patient_name_tokens a JOIN patient_name_tokens b"
        " ON b.patient_id = a.patient_id AND b.token <> a.token"
    )
    op.create_index(
        "ix_patient_name_token_pairs_anchor",
        "patient_name_token_pairs",
        ["anchor", "token", "sort_family", "sort_given", "birth_date", "patient_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_table("patient_name_token_pairs")
    with op.batch_alter_table("patient_name_tokens", schema=None) as batch_op:
        batch_op.drop_column("in_given")
        batch_op.drop_column("in_family")
