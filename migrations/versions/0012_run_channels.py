"""channels whose admins opted in to /run

Revision ID: 0012
Revises: 0010
Create Date: 2026-12-04 08:50:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bot.db.types

revision = '0012'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'run_channels',
        sa.Column('channel_id', sa.Integer(), nullable=False),
        sa.Column('enabled_by', sa.Integer(), nullable=True),
        sa.Column('enabled_at', bot.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['channel_id'], ['channels.id'], name=op.f('fk_run_channels_channel_id_channels'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['enabled_by'], ['users.id'], name=op.f('fk_run_channels_enabled_by_users'),
                                ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('channel_id', name=op.f('pk_run_channels')),
    )


def downgrade() -> None:
    op.drop_table('run_channels')
