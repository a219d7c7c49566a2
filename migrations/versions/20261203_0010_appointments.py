"""appointment types, availability, appointments, waitlist

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 19:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('appointment_types',
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('duration_minutes', sa.Integer(), nullable=False),
    sa.Column('mode', sa.String(length=16), nullable=False),
    sa.Column('department_id', sa.Uuid(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', app.db.UTCDateTime(), nullable=False),
    sa.Column('updated_at', app.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['department_id'], ['departments.id'], name=op.f('fk_appointment_types_department_id_departments'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_appointment_types')),
    sa.UniqueConstraint('code', name=op.f('uq_appointment_types_code'))
    )
    op.create_index(op.f('ix_appointment_types_department_id'), 'appointment_types', ['department_id'], unique=False)
    op.create_table('appointment_hours',
    sa.Column('staff_id', sa.Uuid(), nullable=False),
    sa.Column('weekday', sa.SmallInteger(), nullable=False),
    sa.Column('start_time', sa.Time(), nullable=False),
    sa.Column('end_time', sa.Time(), nullable=False),
    sa.Column('valid_from', sa.Date(), nullable=False),
    sa.Column('valid_to', sa.Date(), nullable=True),
    sa.Column('type_ids_json', sa.Text(), nullable=True),
    sa.Column('note', sa.String(length=200), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', app.db.UTCDateTime(), nullable=False),
    sa.Column('updated_at', app.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['staff_id'], ['staff_members.id'], name=op.f('fk_appointment_hours_staff_id_staff_members'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_appointment_hours'))
    )
    op.create_index('ix_appointment_hours_staff_id', 'appointment_hours', ['staff_id', 'weekday'], unique=False)
    op.create_table('appointment_waitlist',
    sa.Column('patient_id', sa.Uuid(), nullable=False),
    sa.Column('type_id', sa.Uuid(), nullable=False),
    sa.Column('staff_id', sa.Uuid(), nullable=True),
    sa.Column('department_id', sa.Uuid(), nullable=True),
    sa.Column('earliest', sa.Date(), nullable=False),
    sa.Column('latest', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('note', sa.String(length=500), nullable=True),
    sa.Column('created_by', sa.Uuid(), nullable=True),
    sa.Column('replaces_appointment_id', sa.Uuid(), nullable=True),
    sa.Column('live_key', sa.String(length=64), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', app.db.UTCDateTime(), nullable=False),
    sa.Column('updated_at', app.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_appointment_waitlist_created_by_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['department_id'], ['departments.id'], name=op.f('fk_appointment_waitlist_department_id_departments'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_appointment_waitlist_patient_id_patients'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['staff_id'], ['staff_members.id'], name=op.f('fk_appointment_waitlist_staff_id_staff_members'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['type_id'], ['appointment_types.id'], name=op.f('fk_appointment_waitlist_type_id_appointment_types')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_appointment_waitlist')),
    sa.UniqueConstraint('live_key', name=op.f('uq_appointment_waitlist_live_key'))
    )
    op.create_index(op.f('ix_appointment_waitlist_department_id'), 'appointment_waitlist', ['department_id'], unique=False)
    op.create_index('ix_appointment_waitlist_patient_id', 'appointment_waitlist', ['patient_id'], unique=False)
    op.create_index('ix_appointment_waitlist_queue', 'appointment_waitlist', ['status', 'created_at', 'id'], unique=False)
    op.create_index(op.f('ix_appointment_waitlist_staff_id'), 'appointment_waitlist', ['staff_id'], unique=False)
    op.create_index(op.f('ix_appointment_waitlist_type_id'), 'appointment_waitlist', ['type_id'], unique=False)
    op.create_table('appointments',
    sa.Column('type_id', sa.Uuid(), nullable=False),
    sa.Column('staff_id', sa.Uuid(), nullable=False),
    sa.Column('patient_id', sa.Uuid(), nullable=False),
    sa.Column('start_at', app.db.UTCDateTime(), nullable=False),
    sa.Column('end_at', app.db.UTCDateTime(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('mode', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=True),
    sa.Column('room_id', sa.String(length=64), nullable=True),
    sa.Column('booked_by', sa.Uuid(), nullable=True),
    sa.Column('booked_online', sa.Boolean(), nullable=False),
    sa.Column('offer_expires_at', app.db.UTCDateTime(), nullable=True),
    sa.Column('waitlist_entry_id', sa.Uuid(), nullable=True),
    sa.Column('checked_in_at', app.db.UTCDateTime(), nullable=True),
    sa.Column('completed_at', app.db.UTCDateTime(), nullable=True),
    sa.Column('cancelled_at', app.db.UTCDateTime(), nullable=True),
    sa.Column('cancelled_by', sa.Uuid(), nullable=True),
    sa.Column('cancel_reason', sa.String(length=500), nullable=True),
    sa.Column('sequence', sa.Integer(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', app.db.UTCDateTime(), nullable=False),
    sa.Column('updated_at', app.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['booked_by'], ['users.id'], name=op.f('fk_appointments_booked_by_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['cancelled_by'], ['users.id'], name=op.f('fk_appointments_cancelled_by_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_appointments_patient_id_patients')),
    sa.ForeignKeyConstraint(['staff_id'], ['staff_members.id'], name=op.f('fk_appointments_staff_id_staff_members')),
    sa.ForeignKeyConstraint(['type_id'], ['appointment_types.id'], name=op.f('fk_appointments_type_id_appointment_types')),
    sa.ForeignKeyConstraint(['waitlist_entry_id'], ['appointment_waitlist.id'], name=op.f('fk_appointments_waitlist_entry_id_appointment_waitlist'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_appointments')),
    sa.UniqueConstraint('room_id', name=op.f('uq_appointments_room_id'))
    )
    op.create_index('ix_appointments_offers', 'appointments', ['status', 'offer_expires_at'], unique=False)
    op.create_index('ix_appointments_patient_id_start_at', 'appointments', ['patient_id', 'start_at'], unique=False)
    op.create_index('ix_appointments_staff_id_start_at', 'appointments', ['staff_id', 'start_at'], unique=False)
    op.create_index('ix_appointments_start_at', 'appointments', ['start_at'], unique=False)
    op.create_index(op.f('ix_appointments_type_id'), 'appointments', ['type_id'], unique=False)
    op.create_index(op.f('ix_appointments_waitlist_entry_id'), 'appointments', ['waitlist_entry_id'], unique=False)
    # The waitlist and the appointments refer to each other: this key comes after both tables.
    with op.batch_alter_table('appointment_waitlist', schema=None) as batch_op:
        batch_op.create_foreign_key(batch_op.f('fk_appointment_waitlist_replaces_appointment_id_appointments'), 'appointments', ['replaces_appointment_id'], ['id'], ondelete='SET NULL')
    op.create_table('appointment_locks',
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('resource_id', sa.Uuid(), nullable=False),
    sa.Column('granule_start', app.db.UTCDateTime(), nullable=False),
    sa.Column('appointment_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['appointment_id'], ['appointments.id'], name=op.f('fk_appointment_locks_appointment_id_appointments'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('kind', 'resource_id', 'granule_start', name=op.f('pk_appointment_locks'))
    )
    op.create_index('ix_appointment_locks_appointment_id', 'appointment_locks', ['appointment_id'], unique=False)


def downgrade() -> None:
    # Dropping a table drops its indexes; dropping an index a foreign key still uses first is
    # refused by MariaDB, so the tables go in reverse dependency order and nothing else.
    op.drop_table("appointment_locks")
    # The waitlist and the appointments refer to each other: undo the later key first.
    with op.batch_alter_table("appointment_waitlist", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_appointment_waitlist_replaces_appointment_id_appointments"), type_="foreignkey"
        )
    op.drop_table("appointments")
    op.drop_table("appointment_waitlist")
    op.drop_table("appointment_hours")
    op.drop_table("appointment_types")
