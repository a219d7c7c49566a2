"""telehealth: consultations, participants, chat, guest invites, recordings

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 09:46:29.736977
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('consultations',
    sa.Column('appointment_id', sa.Uuid(), nullable=False),
    sa.Column('patient_id', sa.Uuid(), nullable=False),
    sa.Column('staff_id', sa.Uuid(), nullable=False),
    sa.Column('room_id', sa.String(length=64), nullable=False),
    sa.Column('start_at', app.db.UTCDateTime(), nullable=False),
    sa.Column('end_at', app.db.UTCDateTime(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('encounter_id', sa.Uuid(), nullable=True),
    sa.Column('started_at', app.db.UTCDateTime(), nullable=True),
    sa.Column('ended_at', app.db.UTCDateTime(), nullable=True),
    sa.Column('ended_by', sa.Uuid(), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', app.db.UTCDateTime(), nullable=False),
    sa.Column('updated_at', app.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['appointment_id'], ['appointments.id'], name=op.f('fk_consultations_appointment_id_appointments'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['encounter_id'], ['encounters.id'], name=op.f('fk_consultations_encounter_id_encounters'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['ended_by'], ['users.id'], name=op.f('fk_consultations_ended_by_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_consultations_patient_id_patients'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['staff_id'], ['staff_members.id'], name=op.f('fk_consultations_staff_id_staff_members')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consultations')),
    sa.UniqueConstraint('appointment_id', name=op.f('uq_consultations_appointment_id')),
    sa.UniqueConstraint('room_id', name=op.f('uq_consultations_room_id'))
    )
    with op.batch_alter_table('consultations', schema=None) as batch_op:
        batch_op.create_index('ix_consultations_patient_id_start_at', ['patient_id', 'start_at'], unique=False)
        batch_op.create_index('ix_consultations_staff_id_start_at', ['staff_id', 'start_at'], unique=False)

    op.create_table('consultation_invites',
    sa.Column('consultation_id', sa.Uuid(), nullable=False),
    sa.Column('display_name', sa.String(length=200), nullable=False),
    sa.Column('relationship', sa.String(length=32), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('resume_hash', sa.String(length=64), nullable=True),
    sa.Column('created_by', sa.Uuid(), nullable=True),
    sa.Column('expires_at', app.db.UTCDateTime(), nullable=False),
    sa.Column('used_at', app.db.UTCDateTime(), nullable=True),
    sa.Column('revoked_at', app.db.UTCDateTime(), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', app.db.UTCDateTime(), nullable=False),
    sa.Column('updated_at', app.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['consultation_id'], ['consultations.id'], name=op.f('fk_consultation_invites_consultation_id_consultations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_consultation_invites_created_by_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consultation_invites')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_consultation_invites_token_hash'))
    )
    with op.batch_alter_table('consultation_invites', schema=None) as batch_op:
        batch_op.create_index('ix_consultation_invites_consultation_id', ['consultation_id'], unique=False)

    op.create_table('consultation_recordings',
    sa.Column('consultation_id', sa.Uuid(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('started_by', sa.Uuid(), nullable=True),
    sa.Column('file_name', sa.String(length=200), nullable=False),
    sa.Column('content_type', sa.String(length=64), nullable=False),
    sa.Column('size_bytes', sa.Integer(), nullable=True),
    sa.Column('started_at', app.db.UTCDateTime(), nullable=True),
    sa.Column('ended_at', app.db.UTCDateTime(), nullable=True),
    sa.Column('error', sa.String(length=500), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', app.db.UTCDateTime(), nullable=False),
    sa.Column('updated_at', app.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['consultation_id'], ['consultations.id'], name=op.f('fk_consultation_recordings_consultation_id_consultations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['started_by'], ['users.id'], name=op.f('fk_consultation_recordings_started_by_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consultation_recordings'))
    )
    with op.batch_alter_table('consultation_recordings', schema=None) as batch_op:
        batch_op.create_index('ix_consultation_recordings_consultation_id', ['consultation_id'], unique=False)

    op.create_table('consultation_participants',
    sa.Column('consultation_id', sa.Uuid(), nullable=False),
    sa.Column('identity', sa.String(length=80), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=True),
    sa.Column('invite_id', sa.Uuid(), nullable=True),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('display_name', sa.String(length=200), nullable=False),
    sa.Column('peer_id', sa.String(length=32), nullable=False),
    sa.Column('joined_at', app.db.UTCDateTime(), nullable=True),
    sa.Column('left_at', app.db.UTCDateTime(), nullable=True),
    sa.Column('connections', sa.Integer(), nullable=False),
    sa.Column('admitted_at', app.db.UTCDateTime(), nullable=True),
    sa.Column('admitted_by', sa.Uuid(), nullable=True),
    sa.Column('consent_to_record', sa.Boolean(), nullable=True),
    sa.Column('consent_at', app.db.UTCDateTime(), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', app.db.UTCDateTime(), nullable=False),
    sa.Column('updated_at', app.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['admitted_by'], ['users.id'], name=op.f('fk_consultation_participants_admitted_by_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['consultation_id'], ['consultations.id'], name=op.f('fk_consultation_participants_consultation_id_consultations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['invite_id'], ['consultation_invites.id'], name=op.f('fk_consultation_participants_invite_id_consultation_invites'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_consultation_participants_user_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consultation_participants')),
    sa.UniqueConstraint('consultation_id', 'identity', name=op.f('uq_consultation_participants_consultation_id_identity')),
    sa.UniqueConstraint('peer_id', name=op.f('uq_consultation_participants_peer_id'))
    )
    op.create_table('consultation_messages',
    sa.Column('consultation_id', sa.Uuid(), nullable=False),
    sa.Column('participant_id', sa.Uuid(), nullable=False),
    sa.Column('sender_display', sa.String(length=200), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('sent_at', app.db.UTCDateTime(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['consultation_id'], ['consultations.id'], name=op.f('fk_consultation_messages_consultation_id_consultations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['participant_id'], ['consultation_participants.id'], name=op.f('fk_consultation_messages_participant_id_consultation_participants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consultation_messages'))
    )
    with op.batch_alter_table('consultation_messages', schema=None) as batch_op:
        batch_op.create_index('ix_consultation_messages_consultation_id', ['consultation_id', 'sent_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_consultation_messages_participant_id'), ['participant_id'], unique=False)



def downgrade() -> None:
    # Dropping a table drops its indexes; MariaDB refuses to drop an index a foreign key still
    # uses, so the tables go in reverse dependency order and nothing else.
    op.drop_table("consultation_messages")
    op.drop_table("consultation_participants")
    op.drop_table("consultation_recordings")
    op.drop_table("consultation_invites")
    op.drop_table("consultations")
