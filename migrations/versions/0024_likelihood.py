"""her likelihood to buy: the model's runs, the scores, and the fact segments read

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-04 18:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0024'
down_revision: str | Sequence[str] | None = '0023'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), 'postgresql')


def upgrade() -> None:
    op.create_table(
        'likelihood_models',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('trained_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('horizon_days', sa.Integer(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('metrics', JSON, nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_table(
        'likelihood_scores',
        sa.Column('customer_id', sa.String(length=255), nullable=False),
        sa.Column('score', sa.Float(), nullable=False),
        sa.Column('model_id', sa.Integer(), nullable=False),
        sa.Column('scored_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('customer_id'),
    )
    # Not in batch mode: SQLite's batch copies the table, and dropping the old customers
    # table would take what refers to it (push subscriptions) with it.
    op.add_column('customers', sa.Column('purchase_likelihood', sa.Float(), nullable=True))


def downgrade() -> None:
    op.execute('ALTER TABLE customers DROP COLUMN purchase_likelihood')  # SQLite 3.35+ and PostgreSQL
    op.drop_table('likelihood_scores')
    op.drop_table('likelihood_models')
