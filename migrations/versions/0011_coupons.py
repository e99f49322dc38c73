"""coupon pools and codes; on-site messages withdrawn when their run ends

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-23 21:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0011'
down_revision: str | Sequence[str] | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'coupon_pools',
        sa.Column('offer', sa.String(length=64), nullable=False),
        sa.Column('low_stock', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('offer'),
    )
    op.create_table(
        'coupons',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('offer', sa.String(length=64), nullable=False),
        sa.Column('code', sa.String(length=64), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('assignment_key', sa.String(length=512), nullable=True),
        sa.Column('customer_id', sa.String(length=255), nullable=True),
        sa.Column('workflow_id', sa.String(length=512), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('assigned_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('redeemed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('redeemed_by', sa.String(length=255), nullable=True),
        sa.Column('order_id', sa.String(length=255), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('assignment_key'),
        sa.UniqueConstraint('code'),
    )
    with op.batch_alter_table('coupons', schema=None) as batch_op:
        batch_op.create_index('ix_coupons_pick', ['offer', 'state', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_coupons_customer_id'), ['customer_id'], unique=False)
    with op.batch_alter_table('onsite_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('withdrawn_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('onsite_messages', schema=None) as batch_op:
        batch_op.drop_column('withdrawn_at')
    with op.batch_alter_table('coupons', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_coupons_customer_id'))
        batch_op.drop_index('ix_coupons_pick')
    op.drop_table('coupons')
    op.drop_table('coupon_pools')
