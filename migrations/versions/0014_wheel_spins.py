"""spin-to-win: one spin per wheel and customer and per wheel and email; wins per slice

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-25 19:10:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0014'
down_revision: str | Sequence[str] | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'wheel_spins',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('wheel', sa.String(length=64), nullable=False),
        sa.Column('customer_id', sa.String(length=255), nullable=False),
        sa.Column('email', sa.String(length=320), nullable=False),
        sa.Column('slice', sa.String(length=64), nullable=True),
        sa.Column('label', sa.String(length=255), nullable=False),
        sa.Column('coupon_code', sa.String(length=64), nullable=True),
        sa.Column('coupon_expires_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('spun_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('wheel', 'customer_id'),
        sa.UniqueConstraint('wheel', 'email'),
    )
    op.create_table(
        'wheel_slice_wins',
        sa.Column('wheel', sa.String(length=64), nullable=False),
        sa.Column('slice', sa.String(length=64), nullable=False),
        sa.Column('wins', sa.Integer(), server_default='0', nullable=False),
        sa.PrimaryKeyConstraint('wheel', 'slice'),
    )


def downgrade() -> None:
    op.drop_table('wheel_slice_wins')
    op.drop_table('wheel_spins')
