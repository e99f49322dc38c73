"""anonymous ids in a namespace of their own: a visitor's profile is "anonymous:<id>"

Until now a visitor's profile, events and journeys were filed under her bare
anonymousId, in the namespace of user ids, so a browser could claim or link an id that
a customer would later have as her userId (#26). This moves every anonymous profile,
and every row filed under it, to "anonymous:<id>" (sojourn/ground/calls.py).

An anonymous profile is one no message carried as a userId (`known` false) whose id is
its anonymousId or an id a browser claimed. Every linked id (`identities.alias_id`) was
an anonymous one: links to a known customer's id were refused. Ids longer than 245
characters can't take the prefix within the columns' 255 and stay as they were.

Journeys started for a visitor before the upgrade keep her bare id in their input:
their sends find no profile under it and are skipped, so nothing goes to anyone else;
her next event starts any journey afresh under "anonymous:<id>".

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03 08:30:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0018'
down_revision: str | Sequence[str] | None = '0017'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PREFIX = "anonymous:"
FILED = ("events", "journey_runs", "journey_entries", "messages", "conversions", "experiment_assignments",
         "consents", "onsite_messages", "onsite_views", "coupons", "wheel_spins", "audience_members",
         "audience_syncs", "push_subscriptions")
ANONYMOUS = ("SELECT id FROM customers WHERE NOT known AND length(id) <= 245 AND id NOT LIKE 'anonymous:%' "
             "AND (anonymous_id = id OR id IN (SELECT anonymous_id FROM anonymous_claims))")


def _move(which: str, renamed: str) -> None:
    """Move the customers `which` selects to `renamed(column)`, with every row filed
    under them: each customer row is copied under its new id, the filed rows follow,
    then the old rows go (push_subscriptions' foreign key holds throughout)."""
    op.execute("CREATE TABLE anonymous_namespace_moves (id VARCHAR(255) PRIMARY KEY)")
    op.execute(f"INSERT INTO anonymous_namespace_moves (id) {which}")
    moves = "SELECT id FROM anonymous_namespace_moves"
    columns = [c["name"] for c in sa.inspect(op.get_bind()).get_columns("customers") if c["name"] != "id"]
    listed = ", ".join(columns)
    op.execute(f"INSERT INTO customers (id, {listed}) SELECT {renamed.format('id')}, {listed} FROM customers "
               f"WHERE id IN ({moves})")
    for name in FILED:
        op.execute(f"UPDATE {name} SET customer_id = {renamed.format('customer_id')} WHERE customer_id IN ({moves})")
    op.execute(f"DELETE FROM customers WHERE id IN ({moves})")
    op.execute("DROP TABLE anonymous_namespace_moves")


def upgrade() -> None:
    _move(ANONYMOUS, f"'{PREFIX}' || {{}}")
    op.execute(f"UPDATE identities SET alias_id = '{PREFIX}' || alias_id "
               "WHERE alias_id NOT LIKE 'anonymous:%' AND length(alias_id) <= 245")


def downgrade() -> None:
    start = len(PREFIX) + 1
    _move("SELECT id FROM customers WHERE id LIKE 'anonymous:%'", f"substr({{}}, {start})")
    op.execute(f"UPDATE identities SET alias_id = substr(alias_id, {start}) WHERE alias_id LIKE 'anonymous:%'")
