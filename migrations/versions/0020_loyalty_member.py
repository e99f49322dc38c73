"""a customer's loyalty membership, a fact (Loyalty Signed Up, or a loyalty_member trait)

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-03 15:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0020'
down_revision: str | Sequence[str] | None = '0019'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Plain ALTERs, not batch mode: on SQLite batch mode copies `customers` and drops the
# original, and the drop cascades to every table that refers to it (push subscriptions).
def upgrade() -> None:
    op.add_column('customers', sa.Column('loyalty_member_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column('customers', 'loyalty_member_at')  # SQLite 3.35+ drops a column in place
