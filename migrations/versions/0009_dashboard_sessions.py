"""dashboard sessions kept on the server; login attempts refused unchecked

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 09:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bot.db.types

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('dashboard_sessions',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('created_at', bot.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_dashboard_sessions_account_id_accounts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dashboard_sessions'))
    )
    with op.batch_alter_table('dashboard_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dashboard_sessions_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_dashboard_sessions_created_at'), ['created_at'], unique=False)
    with op.batch_alter_table('login_attempts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('checked', sa.Boolean(), server_default=sa.true(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('login_attempts', schema=None) as batch_op:
        batch_op.drop_column('checked')
    with op.batch_alter_table('dashboard_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dashboard_sessions_created_at'))
        batch_op.drop_index(batch_op.f('ix_dashboard_sessions_account_id'))
    op.drop_table('dashboard_sessions')
