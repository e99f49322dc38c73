"""customer facts: seen, platform, orders and revenue, products viewed, sign-up, newsletter, app

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 19:15:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0007'
down_revision: str | Sequence[str] | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade() -> None:
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('first_seen_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('platform', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('orders_count', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('revenue', sa.Float(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('first_order_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('last_order_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('last_order_products', JSON, server_default='[]', nullable=False))
        batch_op.add_column(sa.Column('recently_viewed', JSON, server_default='[]', nullable=False))
        batch_op.add_column(sa.Column('signed_up_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('newsletter_subscribed', sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column('app_installed_at', sa.DateTime(timezone=True), nullable=True))
    # Profiles made before facts were kept: seen since they were made.
    op.execute("UPDATE customers SET first_seen_at = created_at, last_seen_at = updated_at")


def downgrade() -> None:
    with op.batch_alter_table('customers', schema=None) as batch_op:
        for column in ('app_installed_at', 'newsletter_subscribed', 'signed_up_at', 'recently_viewed',
                       'last_order_products', 'last_order_at', 'first_order_at', 'revenue', 'orders_count',
                       'platform', 'last_seen_at', 'first_seen_at'):
            batch_op.drop_column(column)
