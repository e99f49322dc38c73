"""how long a product lasts: the product feed's (or the backend's events') replenish_days

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-03 17:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0021'
down_revision: str | Sequence[str] | None = '0020'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# A plain ALTER, as in 0020: nothing refers to `products`, but batch mode is not needed.
def upgrade() -> None:
    op.add_column('products', sa.Column('replenish_days', sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column('products', 'replenish_days')
