"""patient name token sort key

Each name token carries a copy of its patient's sort key, and the token index orders by it, so a
name search walks the index in result order and stops after the page (the benchmark's goal).
Existing rows are backfilled from patients with portable correlated subqueries.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 17:57:09.008166
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A temporary server default fills existing rows, so the NOT NULL columns can be added on
    # both databases; the backfill then copies the real values, and the default is dropped.
    with op.batch_alter_table("patient_name_tokens", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("sort_family", sa.String(length=100), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("sort_given", sa.String(length=100), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("birth_date", sa.Date(), nullable=True))

    op.execute(
        "UPDATE patient_name_tokens SET"
        " sort_family = (SELECT patients.sort_family FROM patients"
        " WHERE patients.id = patient_name_tokens.patient_id),"
        " sort_given = (SELECT patients.sort_given FROM patients"
        " WHERE patients.id = patient_name_tokens.patient_id),"
        " birth_date = (SELECT patients.birth_date FROM patients"
        " WHERE patients.id = patient_name_tokens.patient_id)"
    )

    with op.batch_alter_table("patient_name_tokens", schema=None) as batch_op:
        batch_op.alter_column(
            "sort_family", existing_type=sa.String(length=100), existing_nullable=False, server_default=None
        )
        batch_op.alter_column(
            "sort_given", existing_type=sa.String(length=100), existing_nullable=False, server_default=None
        )
        batch_op.drop_index("ix_patient_name_tokens_token")
        batch_op.create_index(
            "ix_patient_name_tokens_token",
            ["token", "sort_family", "sort_given", "birth_date", "patient_id"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("patient_name_tokens", schema=None) as batch_op:
        batch_op.drop_index("ix_patient_name_tokens_token")
        batch_op.create_index("ix_patient_name_tokens_token", ["token", "patient_id"], unique=False)
        batch_op.drop_column("birth_date")
        batch_op.drop_column("sort_given")
        batch_op.drop_column("sort_family")
