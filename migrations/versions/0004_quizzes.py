"""quiz sessions, attempts, review state, study schedules and pending typed answers

Revision ID: 0004
Revises: 0001
Create Date: 2026-11-25 18:02:21.070878
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bot.db.types

revision = '0004'
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('review_states',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.String(length=200), nullable=False),
    sa.Column('topic', sa.String(length=64), nullable=False),
    sa.Column('entry_id', sa.String(length=128), nullable=False),
    sa.Column('card', sa.JSON(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('due', bot.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('stability', sa.Float(), nullable=True),
    sa.Column('difficulty', sa.Float(), nullable=True),
    sa.Column('last_rating', sa.String(length=8), nullable=False),
    sa.Column('reps', sa.Integer(), nullable=False),
    sa.Column('lapses', sa.Integer(), nullable=False),
    sa.Column('last_review_at', bot.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_at', bot.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_review_states_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_review_states')),
    sa.UniqueConstraint('user_id', 'item_id', name='uq_review_states_user_item')
    )
    with op.batch_alter_table('review_states', schema=None) as batch_op:
        batch_op.create_index('ix_review_states_user_due', ['user_id', 'due'], unique=False)

    op.create_table('study_schedules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('channel_id', sa.Integer(), nullable=False),
    sa.Column('platform', sa.String(length=16), nullable=False),
    sa.Column('workspace_id', sa.String(length=64), nullable=False),
    sa.Column('platform_channel_id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('time_of_day', sa.String(length=5), nullable=True),
    sa.Column('every_hours', sa.Integer(), nullable=True),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('spec', sa.String(length=128), nullable=False),
    sa.Column('topic', sa.String(length=64), nullable=True),
    sa.Column('window_minutes', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('next_fire_at', bot.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_fired_at', bot.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('lease_owner', sa.String(length=128), nullable=True),
    sa.Column('lease_until', bot.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('rounds', sa.Integer(), nullable=False),
    sa.Column('streak', sa.Integer(), nullable=False),
    sa.Column('best_streak', sa.Integer(), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', bot.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', bot.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['channel_id'], ['channels.id'], name=op.f('fk_study_schedules_channel_id_channels'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_study_schedules_created_by_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_study_schedules')),
    sa.UniqueConstraint('channel_id', name='uq_study_schedules_channel')
    )
    with op.batch_alter_table('study_schedules', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_study_schedules_next_fire_at'), ['next_fire_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_study_schedules_platform'), ['platform'], unique=False)

    op.create_table('quiz_sessions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('mode', sa.String(length=16), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=True),
    sa.Column('channel_id', sa.Integer(), nullable=False),
    sa.Column('schedule_id', sa.Integer(), nullable=True),
    sa.Column('topic', sa.String(length=64), nullable=True),
    sa.Column('item_ids', sa.JSON(), nullable=False),
    sa.Column('current_index', sa.Integer(), nullable=False),
    sa.Column('answers', sa.Integer(), nullable=False),
    sa.Column('ephemeral', sa.Boolean(), nullable=False),
    sa.Column('window_seconds', sa.Integer(), nullable=True),
    sa.Column('question_started_at', bot.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('window_ends_at', bot.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('live_key', sa.String(length=64), nullable=True),
    sa.Column('created_at', bot.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', bot.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('finished_at', bot.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['channel_id'], ['channels.id'], name=op.f('fk_quiz_sessions_channel_id_channels'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_quiz_sessions_owner_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['schedule_id'], ['study_schedules.id'], name=op.f('fk_quiz_sessions_schedule_id_study_schedules'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_quiz_sessions')),
    sa.UniqueConstraint('live_key', name='uq_quiz_sessions_live_key')
    )
    with op.batch_alter_table('quiz_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_quiz_sessions_channel_id'), ['channel_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_quiz_sessions_mode'), ['mode'], unique=False)
        batch_op.create_index('ix_quiz_sessions_owner_channel', ['owner_id', 'channel_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_quiz_sessions_schedule_id'), ['schedule_id'], unique=False)
        batch_op.create_index('ix_quiz_sessions_state_window', ['state', 'window_ends_at'], unique=False)

    op.create_table('quiz_attempts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('slot', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('channel_id', sa.Integer(), nullable=True),
    sa.Column('mode', sa.String(length=16), nullable=False),
    sa.Column('item_id', sa.String(length=200), nullable=False),
    sa.Column('topic', sa.String(length=64), nullable=False),
    sa.Column('entry_id', sa.String(length=128), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('generated', sa.Boolean(), nullable=False),
    sa.Column('answer', sa.Text(), nullable=False),
    sa.Column('skipped', sa.Boolean(), nullable=False),
    sa.Column('correct', sa.Boolean(), nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('feedback', sa.Text(), nullable=False),
    sa.Column('answered_at', bot.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['channel_id'], ['channels.id'], name=op.f('fk_quiz_attempts_channel_id_channels'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['session_id'], ['quiz_sessions.id'], name=op.f('fk_quiz_attempts_session_id_quiz_sessions'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_quiz_attempts_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_quiz_attempts')),
    sa.UniqueConstraint('session_id', 'slot', 'user_id', name='uq_quiz_attempts_session_slot_user')
    )
    with op.batch_alter_table('quiz_attempts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_quiz_attempts_answered_at'), ['answered_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_quiz_attempts_channel_id'), ['channel_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_quiz_attempts_item_id'), ['item_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_quiz_attempts_session_id'), ['session_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_quiz_attempts_topic'), ['topic'], unique=False)
        batch_op.create_index(batch_op.f('ix_quiz_attempts_user_id'), ['user_id'], unique=False)

    op.create_table('quiz_prompts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('channel_id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('slot', sa.Integer(), nullable=False),
    sa.Column('created_at', bot.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['channel_id'], ['channels.id'], name=op.f('fk_quiz_prompts_channel_id_channels'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['session_id'], ['quiz_sessions.id'], name=op.f('fk_quiz_prompts_session_id_quiz_sessions'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_quiz_prompts_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_quiz_prompts')),
    sa.UniqueConstraint('user_id', 'channel_id', name='uq_quiz_prompts_user_channel')
    )
    with op.batch_alter_table('quiz_prompts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_quiz_prompts_session_id'), ['session_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('quiz_prompts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_quiz_prompts_session_id'))

    op.drop_table('quiz_prompts')
    with op.batch_alter_table('quiz_attempts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_quiz_attempts_user_id'))
        batch_op.drop_index(batch_op.f('ix_quiz_attempts_topic'))
        batch_op.drop_index(batch_op.f('ix_quiz_attempts_session_id'))
        batch_op.drop_index(batch_op.f('ix_quiz_attempts_item_id'))
        batch_op.drop_index(batch_op.f('ix_quiz_attempts_channel_id'))
        batch_op.drop_index(batch_op.f('ix_quiz_attempts_answered_at'))

    op.drop_table('quiz_attempts')
    with op.batch_alter_table('quiz_sessions', schema=None) as batch_op:
        batch_op.drop_index('ix_quiz_sessions_state_window')
        batch_op.drop_index(batch_op.f('ix_quiz_sessions_schedule_id'))
        batch_op.drop_index('ix_quiz_sessions_owner_channel')
        batch_op.drop_index(batch_op.f('ix_quiz_sessions_mode'))
        batch_op.drop_index(batch_op.f('ix_quiz_sessions_channel_id'))

    op.drop_table('quiz_sessions')
    with op.batch_alter_table('study_schedules', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_study_schedules_platform'))
        batch_op.drop_index(batch_op.f('ix_study_schedules_next_fire_at'))

    op.drop_table('study_schedules')
    with op.batch_alter_table('review_states', schema=None) as batch_op:
        batch_op.drop_index('ix_review_states_user_due')

    op.drop_table('review_states')
