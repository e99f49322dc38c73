"""event pipeline: route state, retries, leases and dead events; the router's journey runs

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 13:40:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: str | Sequence[str] | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('route_state', sa.String(length=16), server_default='pending', nullable=False))
        batch_op.add_column(sa.Column('attempts', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('last_error', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('lease_owner', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index('ix_events_route_queue', ['route_state', 'id'], unique=False)
    # Events the old API had delivered are done.
    op.execute("UPDATE events SET route_state = 'routed' WHERE routed_at IS NOT NULL")

    op.create_table('journey_runs',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('journey', sa.String(length=128), nullable=False),
    sa.Column('customer_id', sa.String(length=255), nullable=False),
    sa.Column('journey_key', sa.String(length=255), nullable=False),
    sa.Column('workflow_id', sa.String(length=512), nullable=False),
    sa.Column('entry_message_id', sa.String(length=255), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('journey', 'entry_message_id')
    )
    with op.batch_alter_table('journey_runs', schema=None) as batch_op:
        batch_op.create_index('ix_journey_runs_customer', ['customer_id', 'journey', 'journey_key'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('journey_runs', schema=None) as batch_op:
        batch_op.drop_index('ix_journey_runs_customer')
    op.drop_table('journey_runs')
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index('ix_events_route_queue')
        for column in ('lease_until', 'lease_owner', 'last_error', 'next_attempt_at', 'attempts', 'route_state'):
            batch_op.drop_column(column)
