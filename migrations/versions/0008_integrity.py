"""client ids on questions (retried writes land once); where anonymous demo jobs came from

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 08:40:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('questions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('client_id', sa.String(length=32), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_questions_client_id'), ['client_id'])
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('origin', sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f('ix_jobs_origin'), ['origin'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_jobs_origin'))
        batch_op.drop_column('origin')
    with op.batch_alter_table('questions', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_questions_client_id'), type_='unique')
        batch_op.drop_column('client_id')
