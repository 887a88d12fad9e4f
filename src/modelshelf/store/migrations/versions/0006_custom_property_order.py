"""custom-property indexes in owner order, and PostgreSQL statistics on the columns that go together

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 12:00:00

A list page ordered by id with a custom-property filter now also bounds `custom_property.entity_id` by
its cursor (store/filterquery.py). The value indexes end with `entity_id`, so that bound starts the
index range at the cursor and hands the owners over in id order, instead of reading every match before
the cursor: at depth 900,000 of 1,000,000 versions a page of `accuracy > 0.99` went from 16 to 7 ms and
one of `framework = 'onnx' AND accuracy > 0.5` from 160 to 90 ms on PostgreSQL.

PostgreSQL estimates `entity_table = … AND name = … AND string_key = …` as if the three were independent,
while a name decides the table and whether there is a string at all: with a million versions it guessed
60,000 rows for a value 200,000 versions have, and on so few expected matches it hashed every match for
a filtered page instead of walking the page's index and stopping when the page is full (712 ms for a
page of `framework = 'onnx' AND accuracy > 0.5` ordered by create time at depth 900,000; 14 ms with
these). Multivariate MCV lists (PostgreSQL 12 and later) let ANALYZE count the combinations. SQLite has
nothing of the kind, and plans these queries without statistics anyway.
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

VALUE_COLUMNS = {"string": "string_key", "int": "int_value", "double": "double_value", "bool": "bool_value"}
STATISTICS = {
    "st_custom_property_name": "entity_table, name",
    "st_custom_property_string": "entity_table, name, string_key",
}


def _indexes(with_owner: bool) -> None:
    with op.batch_alter_table("custom_property", schema=None) as batch_op:
        for kind, column in VALUE_COLUMNS.items():
            name = f"ix_custom_property_{kind}"
            batch_op.drop_index(name)
            columns = ["entity_table", "name", column, *(["entity_id"] if with_owner else [])]
            batch_op.create_index(name, columns, unique=False)


def upgrade() -> None:
    _indexes(with_owner=True)
    if op.get_bind().dialect.name == "postgresql":
        for name, columns in STATISTICS.items():
            op.execute(f"CREATE STATISTICS IF NOT EXISTS {name} (mcv) ON {columns} FROM custom_property")
        op.execute("ANALYZE custom_property")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name in STATISTICS:
            op.execute(f"DROP STATISTICS IF EXISTS {name}")
    _indexes(with_owner=False)
