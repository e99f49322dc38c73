"""recommendations: the catalog from events, product relations and popular products

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-25 19:35:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0015'
down_revision: str | Sequence[str] | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'products',
        sa.Column('product_id', sa.String(length=255), nullable=False),
        sa.Column('name', sa.String(length=255), nullable=True),
        sa.Column('price', sa.Float(), nullable=True),
        sa.Column('url', sa.Text(), nullable=True),
        sa.Column('image_url', sa.Text(), nullable=True),
        sa.Column('category', sa.String(length=255), nullable=True),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('product_id'),
    )
    op.create_table(
        'product_relations',
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('product_id', sa.String(length=255), nullable=False),
        sa.Column('related_id', sa.String(length=255), nullable=False),
        sa.Column('rank', sa.Integer(), nullable=False),
        sa.Column('score', sa.Float(), nullable=False),
        sa.Column('lift', sa.Float(), nullable=False),
        sa.Column('together', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('kind', 'product_id', 'related_id'),
    )
    with op.batch_alter_table('product_relations', schema=None) as batch_op:
        batch_op.create_index('ix_product_relations_lookup', ['kind', 'product_id', 'rank'], unique=False)
    op.create_table(
        'popular_products',
        sa.Column('rank', sa.Integer(), nullable=False),
        sa.Column('product_id', sa.String(length=255), nullable=False),
        sa.Column('orders', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('rank'),
    )


def downgrade() -> None:
    op.drop_table('popular_products')
    with op.batch_alter_table('product_relations', schema=None) as batch_op:
        batch_op.drop_index('ix_product_relations_lookup')
    op.drop_table('product_relations')
    op.drop_table('products')
