"""events: her membership of the watched segments as of each event; how far timed segments are swept

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23 20:50:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0009'
down_revision: str | Sequence[str] | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade() -> None:
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('segments', JSON, nullable=True))
    op.create_table(
        'segment_sweeps',
        sa.Column('segment', sa.String(length=64), nullable=False),
        sa.Column('swept_until', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('segment'),
    )


def downgrade() -> None:
    op.drop_table('segment_sweeps')
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_column('segments')
