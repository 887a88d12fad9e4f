"""indexes for a registry of a million model versions

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 12:00:00

- `ix_model_version_name`: a filterQuery `name = '…'` over all versions (the name is unique only within
  its model, so `uq_model_version_registered_model_id_name` cannot serve it) walked every version.
- `ix_artifact_name` replaces `ix_artifact_type_name`: names are selective, so `(name)` serves a find by
  type and name as well, and it also serves a name filter on `/artifacts`, where no type is given. The
  type-first index was harmful: without planner statistics (SQLite has none unless ANALYZE ran), SQLite
  takes an equality on it as selective and read every model artifact, then sorted them, for a list page
  of model artifacts or the artifacts of one version.

Columns left without an index, on purpose (each index costs every write): `state` and other enumerations
(a few values over a million rows; a page ordered by id stops early anyway, and SQLite without statistics
would pick such an index and sort every matching row); free-text columns (description, owner, author, uri
…: filters on them are LIKE '%…%', which no B-tree serves); the parent ids of the small serving tables.
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("model_version", schema=None) as batch_op:
        batch_op.create_index("ix_model_version_name", ["name"], unique=False)
    with op.batch_alter_table("artifact", schema=None) as batch_op:
        batch_op.create_index("ix_artifact_name", ["name"], unique=False)
        batch_op.drop_index("ix_artifact_type_name")


def downgrade() -> None:
    with op.batch_alter_table("artifact", schema=None) as batch_op:
        batch_op.create_index("ix_artifact_type_name", ["artifact_type", "name"], unique=False)
        batch_op.drop_index("ix_artifact_name")
    with op.batch_alter_table("model_version", schema=None) as batch_op:
        batch_op.drop_index("ix_model_version_name")
