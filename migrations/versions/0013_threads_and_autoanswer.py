"""conversation threads (follow-ups) and auto-answer channels

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04 20:20:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bot.db.types

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'conversation_threads',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('platform', sa.String(length=16), nullable=False),
        sa.Column('workspace_id', sa.String(length=64), nullable=False),
        sa.Column('thread_id', sa.String(length=64), nullable=False),
        sa.Column('channel_id', sa.Integer(), nullable=True),
        sa.Column('context', sa.Text(), nullable=False),
        sa.Column('entry_id', sa.String(length=128), nullable=True),
        sa.Column('question_id', sa.Integer(), nullable=True),
        sa.Column('asker', sa.String(length=64), nullable=False),
        sa.Column('started', sa.Boolean(), nullable=False),
        sa.Column('auto', sa.Boolean(), nullable=False),
        sa.Column('created_at', bot.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('updated_at', bot.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['channel_id'], ['channels.id'],
                                name=op.f('fk_conversation_threads_channel_id_channels'), ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['question_id'], ['questions.id'],
                                name=op.f('fk_conversation_threads_question_id_questions'), ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_conversation_threads')),
        sa.UniqueConstraint('platform', 'workspace_id', 'thread_id',
                            name=op.f('uq_conversation_threads_platform')),
    )
    op.create_index(op.f('ix_conversation_threads_question_id'), 'conversation_threads', ['question_id'])
    op.create_table(
        'autoanswer_channels',
        sa.Column('channel_id', sa.Integer(), nullable=False),
        sa.Column('enabled_by', sa.Integer(), nullable=True),
        sa.Column('enabled_at', bot.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['channel_id'], ['channels.id'], name=op.f('fk_autoanswer_channels_channel_id_channels'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['enabled_by'], ['users.id'], name=op.f('fk_autoanswer_channels_enabled_by_users'),
                                ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('channel_id', name=op.f('pk_autoanswer_channels')),
    )


def downgrade() -> None:
    op.drop_table('autoanswer_channels')
    op.drop_index(op.f('ix_conversation_threads_question_id'), table_name='conversation_threads')
    op.drop_table('conversation_threads')
