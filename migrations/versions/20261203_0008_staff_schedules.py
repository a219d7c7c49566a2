"""staff departments, positions, employment, shifts, leave, calendar feeds

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 19:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _timestamps() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", app.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", app.db.UTCDateTime(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "departments",
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_departments")),
        sa.UniqueConstraint("code", name=op.f("uq_departments_code")),
    )
    op.create_table(
        "shift_definitions",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("start_time", sa.Time(), nullable=False),
        sa.Column("end_time", sa.Time(), nullable=False),
        sa.Column("clinical", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shift_definitions")),
        sa.UniqueConstraint("name", name=op.f("uq_shift_definitions_name")),
    )
    op.create_table(
        "staff_calendar_feeds",
        sa.Column("staff_id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("last_read_at", app.db.UTCDateTime(), nullable=True),
        *_timestamps(),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["staff_members.id"],
            name=op.f("fk_staff_calendar_feeds_staff_id_staff_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_calendar_feeds")),
        sa.UniqueConstraint("staff_id", name=op.f("uq_staff_calendar_feeds_staff_id")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_staff_calendar_feeds_token_hash")),
    )
    op.create_table(
        "staff_leave",
        sa.Column("staff_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("starts_at", app.db.UTCDateTime(), nullable=False),
        sa.Column("ends_at", app.db.UTCDateTime(), nullable=False),
        sa.Column("all_day", sa.Boolean(), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=True),
        *_timestamps(),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["staff_members.id"],
            name=op.f("fk_staff_leave_staff_id_staff_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_leave")),
    )
    with op.batch_alter_table("staff_leave", schema=None) as batch_op:
        batch_op.create_index("ix_staff_leave_staff_id_starts_at", ["staff_id", "starts_at"], unique=False)

    op.create_table(
        "staff_positions",
        sa.Column("staff_id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("department_id", sa.Uuid(), nullable=True),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=True),
        *_timestamps(),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
            name=op.f("fk_staff_positions_department_id_departments"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["staff_members.id"],
            name=op.f("fk_staff_positions_staff_id_staff_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_positions")),
    )
    with op.batch_alter_table("staff_positions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_staff_positions_department_id"), ["department_id"], unique=False)
        batch_op.create_index("ix_staff_positions_staff_id", ["staff_id", "start_date"], unique=False)

    op.create_table(
        "staff_shifts",
        sa.Column("staff_id", sa.Uuid(), nullable=False),
        sa.Column("department_id", sa.Uuid(), nullable=False),
        sa.Column("definition_id", sa.Uuid(), nullable=True),
        sa.Column("local_date", sa.Date(), nullable=False),
        sa.Column("starts_at", app.db.UTCDateTime(), nullable=False),
        sa.Column("ends_at", app.db.UTCDateTime(), nullable=False),
        sa.Column("clinical", sa.Boolean(), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=True),
        *_timestamps(),
        sa.ForeignKeyConstraint(
            ["definition_id"],
            ["shift_definitions.id"],
            name=op.f("fk_staff_shifts_definition_id_shift_definitions"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
            name=op.f("fk_staff_shifts_department_id_departments"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["staff_members.id"],
            name=op.f("fk_staff_shifts_staff_id_staff_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_shifts")),
    )
    with op.batch_alter_table("staff_shifts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_staff_shifts_definition_id"), ["definition_id"], unique=False)
        batch_op.create_index(
            "ix_staff_shifts_department_id_local_date", ["department_id", "local_date"], unique=False
        )
        batch_op.create_index("ix_staff_shifts_staff_id_starts_at", ["staff_id", "starts_at"], unique=False)

    with op.batch_alter_table("staff_members", schema=None) as batch_op:
        batch_op.add_column(sa.Column("department_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("position", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("clinical", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.create_index(batch_op.f("ix_staff_members_department_id"), ["department_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_staff_members_department_id_departments"),
            "departments",
            ["department_id"],
            ["id"],
            ondelete="SET NULL",
        )

    with op.batch_alter_table("staff_qualifications", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=16), server_default="qualification", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("staff_qualifications", schema=None) as batch_op:
        batch_op.drop_column("kind")

    with op.batch_alter_table("staff_members", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_staff_members_department_id_departments"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_staff_members_department_id"))
        batch_op.drop_column("clinical")
        batch_op.drop_column("position")
        batch_op.drop_column("department_id")

    op.drop_table("staff_shifts")
    op.drop_table("staff_positions")
    op.drop_table("staff_leave")
    op.drop_table("staff_calendar_feeds")
    op.drop_table("shift_definitions")
    op.drop_table("departments")
