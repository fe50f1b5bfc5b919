"""the order in which a quiz's choices were shown, kept with the session and each attempt

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 08:30:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('quiz_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('choice_orders', sa.JSON(), nullable=True))
    with op.batch_alter_table('quiz_attempts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('choice_order', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('quiz_attempts', schema=None) as batch_op:
        batch_op.drop_column('choice_order')
    with op.batch_alter_table('quiz_sessions', schema=None) as batch_op:
        batch_op.drop_column('choice_orders')
