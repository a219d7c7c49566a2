"""monitoring: devices, readings, rollups, ECG, live-feed events, profiles, thresholds, alarms

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 09:44:49.079493
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('monitoring_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('patient_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('created_at', app.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_monitoring_events_patient_id_patients'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_monitoring_events'))
    )
    op.create_index('ix_monitoring_events_created_at', 'monitoring_events', ['created_at'], unique=False)
    op.create_index('ix_monitoring_events_patient_id', 'monitoring_events', ['patient_id', 'id'], unique=False)
    op.create_table('monitoring_rollups',
    sa.Column('patient_id', sa.Uuid(), nullable=False),
    sa.Column('series', sa.String(length=8), nullable=False),
    sa.Column('minute', app.db.UTCDateTime(), nullable=False),
    sa.Column('min_value', sa.Numeric(precision=10, scale=3), nullable=False),
    sa.Column('max_value', sa.Numeric(precision=10, scale=3), nullable=False),
    sa.Column('sum_value', sa.Numeric(precision=16, scale=3), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_monitoring_rollups_patient_id_patients'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('patient_id', 'series', 'minute', name=op.f('pk_monitoring_rollups'))
    )
    op.create_table('monitoring_devices',
    sa.Column('patient_id', sa.Uuid(), nullable=False),
    sa.Column('label', sa.String(length=120), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('token_hint', sa.String(length=16), nullable=False),
    sa.Column('registered_by', sa.Uuid(), nullable=True),
    sa.Column('revoked_at', app.db.UTCDateTime(), nullable=True),
    sa.Column('revoked_by', sa.Uuid(), nullable=True),
    sa.Column('last_seen_at', app.db.UTCDateTime(), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', app.db.UTCDateTime(), nullable=False),
    sa.Column('updated_at', app.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_monitoring_devices_patient_id_patients'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['registered_by'], ['users.id'], name=op.f('fk_monitoring_devices_registered_by_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['revoked_by'], ['users.id'], name=op.f('fk_monitoring_devices_revoked_by_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_monitoring_devices')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_monitoring_devices_token_hash'))
    )
    op.create_index('ix_monitoring_devices_patient_id', 'monitoring_devices', ['patient_id'], unique=False)
    op.create_table('monitoring_profiles',
    sa.Column('patient_id', sa.Uuid(), nullable=False),
    sa.Column('ward', sa.String(length=64), nullable=True),
    sa.Column('bed', sa.String(length=32), nullable=True),
    sa.Column('hypercapnic', sa.Boolean(), nullable=False),
    sa.Column('on_oxygen', sa.Boolean(), nullable=False),
    sa.Column('oxygen_recorded_at', app.db.UTCDateTime(), nullable=True),
    sa.Column('consciousness', sa.String(length=1), nullable=True),
    sa.Column('consciousness_at', app.db.UTCDateTime(), nullable=True),
    sa.Column('updated_at', app.db.UTCDateTime(), nullable=False),
    sa.Column('updated_by', sa.Uuid(), nullable=True),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_monitoring_profiles_patient_id_patients'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['updated_by'], ['users.id'], name=op.f('fk_monitoring_profiles_updated_by_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('patient_id', name=op.f('pk_monitoring_profiles'))
    )
    op.create_index('ix_monitoring_profiles_ward', 'monitoring_profiles', ['ward'], unique=False)
    op.create_table('monitoring_thresholds',
    sa.Column('patient_id', sa.Uuid(), nullable=False),
    sa.Column('series', sa.String(length=8), nullable=False),
    sa.Column('low', sa.Numeric(precision=10, scale=3), nullable=True),
    sa.Column('high', sa.Numeric(precision=10, scale=3), nullable=True),
    sa.Column('set_by', sa.Uuid(), nullable=True),
    sa.Column('set_at', app.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_monitoring_thresholds_patient_id_patients'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['set_by'], ['users.id'], name=op.f('fk_monitoring_thresholds_set_by_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('patient_id', 'series', name=op.f('pk_monitoring_thresholds'))
    )
    op.create_table('monitoring_alarms',
    sa.Column('patient_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('open_key', sa.String(length=120), nullable=True),
    sa.Column('severity', sa.String(length=16), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('message', sa.String(length=255), nullable=False),
    sa.Column('value', sa.String(length=64), nullable=True),
    sa.Column('news2_score', sa.Integer(), nullable=True),
    sa.Column('condition_active', sa.Boolean(), nullable=False),
    sa.Column('trigger_count', sa.BigInteger(), nullable=False),
    sa.Column('raised_at', app.db.UTCDateTime(), nullable=False),
    sa.Column('last_triggered_at', app.db.UTCDateTime(), nullable=False),
    sa.Column('notify_role', sa.String(length=32), nullable=False),
    sa.Column('escalation_level', sa.Integer(), nullable=False),
    sa.Column('escalated_at', app.db.UTCDateTime(), nullable=True),
    sa.Column('acknowledged_at', app.db.UTCDateTime(), nullable=True),
    sa.Column('acknowledged_by', sa.Uuid(), nullable=True),
    sa.Column('acknowledged_by_name', sa.String(length=200), nullable=True),
    sa.Column('resolved_at', app.db.UTCDateTime(), nullable=True),
    sa.Column('resolved_by', sa.Uuid(), nullable=True),
    sa.Column('resolved_by_name', sa.String(length=200), nullable=True),
    sa.Column('device_id', sa.Uuid(), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['acknowledged_by'], ['users.id'], name=op.f('fk_monitoring_alarms_acknowledged_by_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['device_id'], ['monitoring_devices.id'], name=op.f('fk_monitoring_alarms_device_id_monitoring_devices'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_monitoring_alarms_patient_id_patients'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['resolved_by'], ['users.id'], name=op.f('fk_monitoring_alarms_resolved_by_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_monitoring_alarms')),
    sa.UniqueConstraint('open_key', name=op.f('uq_monitoring_alarms_open_key'))
    )
    op.create_index('ix_monitoring_alarms_patient_id', 'monitoring_alarms', ['patient_id', 'raised_at'], unique=False)
    op.create_index('ix_monitoring_alarms_state', 'monitoring_alarms', ['state', 'raised_at'], unique=False)
    op.create_table('monitoring_ecg',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('patient_id', sa.Uuid(), nullable=False),
    sa.Column('device_id', sa.Uuid(), nullable=True),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('identifier', sa.String(length=190), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('start_at', app.db.UTCDateTime(), nullable=False),
    sa.Column('period_ms', sa.Numeric(precision=12, scale=6), nullable=False),
    sa.Column('origin', sa.Numeric(precision=14, scale=6), nullable=False),
    sa.Column('factor', sa.Numeric(precision=14, scale=6), nullable=False),
    sa.Column('unit', sa.String(length=16), nullable=False),
    sa.Column('sample_count', sa.Integer(), nullable=False),
    sa.Column('data', sa.Text(), nullable=False),
    sa.Column('received_at', app.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['device_id'], ['monitoring_devices.id'], name=op.f('fk_monitoring_ecg_device_id_monitoring_devices'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_monitoring_ecg_patient_id_patients'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_monitoring_ecg')),
    sa.UniqueConstraint('source', 'identifier', name=op.f('uq_monitoring_ecg_source_identifier'))
    )
    op.create_index(op.f('ix_monitoring_ecg_device_id'), 'monitoring_ecg', ['device_id'], unique=False)
    op.create_index('ix_monitoring_ecg_patient_id', 'monitoring_ecg', ['patient_id', 'start_at'], unique=False)
    op.create_index('ix_monitoring_ecg_start_at', 'monitoring_ecg', ['start_at'], unique=False)
    op.create_table('monitoring_readings',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('patient_id', sa.Uuid(), nullable=False),
    sa.Column('device_id', sa.Uuid(), nullable=True),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('identifier', sa.String(length=190), nullable=False),
    sa.Column('metric', sa.String(length=8), nullable=False),
    sa.Column('code', sa.String(length=16), nullable=False),
    sa.Column('value', sa.Numeric(precision=10, scale=3), nullable=True),
    sa.Column('value2', sa.Numeric(precision=10, scale=3), nullable=True),
    sa.Column('unit', sa.String(length=16), nullable=False),
    sa.Column('quality', sa.String(length=16), nullable=False),
    sa.Column('effective_at', app.db.UTCDateTime(), nullable=False),
    sa.Column('received_at', app.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['device_id'], ['monitoring_devices.id'], name=op.f('fk_monitoring_readings_device_id_monitoring_devices'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_monitoring_readings_patient_id_patients'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_monitoring_readings')),
    sa.UniqueConstraint('source', 'identifier', name=op.f('uq_monitoring_readings_source_identifier'))
    )
    op.create_index(op.f('ix_monitoring_readings_device_id'), 'monitoring_readings', ['device_id'], unique=False)
    op.create_index('ix_monitoring_readings_patient_id', 'monitoring_readings', ['patient_id', 'metric', 'effective_at'], unique=False)


def downgrade() -> None:
    # Dropping a table drops its indexes (MariaDB refuses to drop an index a foreign key uses):
    # tables only, in reverse dependency order.
    op.drop_table('monitoring_readings')
    op.drop_table('monitoring_ecg')
    op.drop_table('monitoring_alarms')
    op.drop_table('monitoring_thresholds')
    op.drop_table('monitoring_profiles')
    op.drop_table('monitoring_rollups')
    op.drop_table('monitoring_events')
    op.drop_table('monitoring_devices')
