"""on-site impressions, clicks and dismissals: counted per message, logged per placement for its frequency

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-25 17:35:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0013'
down_revision: str | Sequence[str] | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('onsite_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('impressions', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('clicks', sa.Integer(), server_default='0', nullable=False))
    op.create_table(
        'onsite_views',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('customer_id', sa.String(length=255), nullable=False),
        sa.Column('placement', sa.String(length=64), nullable=False),
        sa.Column('message_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('onsite_views', schema=None) as batch_op:
        batch_op.create_index('ix_onsite_views_frequency', ['customer_id', 'placement', 'at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('onsite_views', schema=None) as batch_op:
        batch_op.drop_index('ix_onsite_views_frequency')
    op.drop_table('onsite_views')
    with op.batch_alter_table('onsite_messages', schema=None) as batch_op:
        batch_op.drop_column('clicks')
        batch_op.drop_column('impressions')
