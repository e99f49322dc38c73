"""journey entries: a run the story ended early, and why

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 19:45:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0008'
down_revision: str | Sequence[str] | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('journey_entries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ended_early_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('end_reason', sa.String(length=255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('journey_entries', schema=None) as batch_op:
        batch_op.drop_column('end_reason')
        batch_op.drop_column('ended_early_at')
