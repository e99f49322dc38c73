"""on-site messages

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 19:19:29.885361
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0004'
down_revision: str | Sequence[str] | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table('onsite_messages',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('idempotency_key', sa.String(length=512), nullable=False),
    sa.Column('customer_id', sa.String(length=255), nullable=False),
    sa.Column('placement', sa.String(length=64), nullable=False),
    sa.Column('journey', sa.String(length=128), nullable=False),
    sa.Column('step', sa.String(length=128), nullable=False),
    sa.Column('content', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('acknowledged_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('idempotency_key')
    )
    with op.batch_alter_table('onsite_messages', schema=None) as batch_op:
        batch_op.create_index('ix_onsite_lookup', ['customer_id', 'placement'], unique=False)




def downgrade() -> None:

    with op.batch_alter_table('onsite_messages', schema=None) as batch_op:
        batch_op.drop_index('ix_onsite_lookup')

    op.drop_table('onsite_messages')

