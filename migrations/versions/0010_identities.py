"""identities: an anonymous id or an alias's previousId, linked to the customer; known customers

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23 21:20:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0010'
down_revision: str | Sequence[str] | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'identities',
        sa.Column('alias_id', sa.String(length=255), nullable=False),
        sa.Column('customer_id', sa.String(length=255), nullable=False),
        sa.Column('linked_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('alias_id'),
    )
    with op.batch_alter_table('identities', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_identities_customer_id'), ['customer_id'], unique=False)
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('known', sa.Boolean(), server_default=sa.false(), nullable=False))
    # Profiles made before: known unless only anonymous messages made them.
    op.execute("UPDATE customers SET known = (anonymous_id IS NULL OR anonymous_id <> id)")


def downgrade() -> None:
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.drop_column('known')
    with op.batch_alter_table('identities', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_identities_customer_id'))
    op.drop_table('identities')
