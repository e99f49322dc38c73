"""the shop's activity by hour of the week, for best-time sends

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-25 19:45:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0016'
down_revision: str | Sequence[str] | None = '0015'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'activity_hours',
        sa.Column('hour_of_week', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('events', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('hour_of_week'),
    )


def downgrade() -> None:
    op.drop_table('activity_hours')
