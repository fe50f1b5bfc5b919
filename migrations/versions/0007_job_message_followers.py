"""where each job's chat message is, and which process keeps it current

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 01:10:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bot.db.types

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('message_address', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('follower', sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column('follow_until', bot.db.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('delivered_at', bot.db.types.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_column('delivered_at')
        batch_op.drop_column('follow_until')
        batch_op.drop_column('follower')
        batch_op.drop_column('message_address')
