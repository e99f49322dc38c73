"""anonymous_claims: the browser that first claimed an anonymous id got its token

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-25 17:20:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0012'
down_revision: str | Sequence[str] | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'anonymous_claims',
        sa.Column('anonymous_id', sa.String(length=255), nullable=False),
        sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('anonymous_id'),
    )


def downgrade() -> None:
    op.drop_table('anonymous_claims')
