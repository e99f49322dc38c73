"""who sent each event (the catalog trusts only the shop's backend), and the product feed

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-03 09:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0019'
down_revision: str | Sequence[str] | None = '0018'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('events') as batch:
        batch.add_column(sa.Column('source', sa.String(length=16), nullable=True))
    with op.batch_alter_table('products') as batch:
        batch.add_column(sa.Column('fed_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('products') as batch:
        batch.drop_column('fed_at')
    with op.batch_alter_table('events') as batch:
        batch.drop_column('source')
