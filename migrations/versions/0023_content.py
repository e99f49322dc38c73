"""content as data: versions, drafts, publications; the version each message used

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-04 17:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0023'
down_revision: str | Sequence[str] | None = '0022'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), 'postgresql')


def upgrade() -> None:
    op.create_table(
        'content_versions',
        sa.Column('name', sa.String(length=128), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('parts', JSON, nullable=False),
        sa.Column('note', sa.Text(), nullable=True),
        sa.Column('created_by', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('name', 'version'),
    )
    op.create_table(
        'content_drafts',
        sa.Column('name', sa.String(length=128), nullable=False),
        sa.Column('parts', JSON, nullable=False),
        sa.Column('based_on', sa.Integer(), nullable=True),
        sa.Column('updated_by', sa.String(length=64), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('name'),
    )
    op.create_table(
        'content_publications',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('name', sa.String(length=128), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('action', sa.String(length=16), nullable=False),
        sa.Column('by', sa.String(length=64), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_content_publications_name', 'content_publications', ['name'])
    with op.batch_alter_table('messages') as batch:
        batch.add_column(sa.Column('content_name', sa.String(length=128), nullable=True))
        batch.add_column(sa.Column('content_revision', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('content_version', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('messages') as batch:
        batch.drop_column('content_version')
        batch.drop_column('content_revision')
        batch.drop_column('content_name')
    op.drop_index('ix_content_publications_name', 'content_publications')
    op.drop_table('content_publications')
    op.drop_table('content_drafts')
    op.drop_table('content_versions')
