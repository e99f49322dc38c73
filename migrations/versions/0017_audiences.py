"""ad audiences: who journeys want in each, and what each platform was told

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-25 19:55:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0017'
down_revision: str | Sequence[str] | None = '0016'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'audience_members',
        sa.Column('audience', sa.String(length=64), nullable=False),
        sa.Column('customer_id', sa.String(length=255), nullable=False),
        sa.Column('member', sa.Boolean(), nullable=False),
        sa.Column('reason', sa.String(length=255), nullable=False),
        sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('audience', 'customer_id'),
    )
    op.create_table(
        'audience_syncs',
        sa.Column('destination', sa.String(length=64), nullable=False),
        sa.Column('audience', sa.String(length=64), nullable=False),
        sa.Column('customer_id', sa.String(length=255), nullable=False),
        sa.Column('member', sa.Boolean(), nullable=False),
        sa.Column('synced_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('destination', 'audience', 'customer_id'),
    )


def downgrade() -> None:
    op.drop_table('audience_syncs')
    op.drop_table('audience_members')
