"""journey entries and experiment assignments

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 18:49:19.247551
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0002'
down_revision: str | Sequence[str] | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table('experiment_assignments',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('journey', sa.String(length=128), nullable=False),
    sa.Column('experiment', sa.String(length=128), nullable=False),
    sa.Column('customer_id', sa.String(length=255), nullable=False),
    sa.Column('workflow_id', sa.String(length=512), nullable=False),
    sa.Column('variant', sa.String(length=64), nullable=False),
    sa.Column('assigned_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('workflow_id', 'experiment')
    )
    with op.batch_alter_table('experiment_assignments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_experiment_assignments_journey'), ['journey'], unique=False)

    op.create_table('journey_entries',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('journey', sa.String(length=128), nullable=False),
    sa.Column('customer_id', sa.String(length=255), nullable=False),
    sa.Column('journey_key', sa.String(length=255), nullable=False),
    sa.Column('workflow_id', sa.String(length=512), nullable=False),
    sa.Column('run_id', sa.String(length=64), nullable=False),
    sa.Column('entry_message_id', sa.String(length=255), nullable=False),
    sa.Column('entered_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('workflow_id', 'run_id')
    )
    with op.batch_alter_table('journey_entries', schema=None) as batch_op:
        batch_op.create_index('ix_journey_entries_lookup', ['journey', 'customer_id', 'journey_key'], unique=False)




def downgrade() -> None:

    with op.batch_alter_table('journey_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_journey_entries_lookup')

    op.drop_table('journey_entries')
    with op.batch_alter_table('experiment_assignments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_experiment_assignments_journey'))

    op.drop_table('experiment_assignments')

