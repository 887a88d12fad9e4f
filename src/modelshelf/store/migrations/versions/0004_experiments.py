"""experiments, experiment runs, their artifacts and metric history

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "experiment",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("external_id", sa.String(length=255), nullable=True),
        sa.Column("custom_properties", sa.Text(), server_default="{}", nullable=False),
        sa.Column("create_time", sa.BigInteger(), nullable=False),
        sa.Column("last_update_time", sa.BigInteger(), nullable=False),
        sa.Column("owner", sa.Text(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_experiment")),
        sa.UniqueConstraint("external_id", name=op.f("uq_experiment_external_id")),
        sa.UniqueConstraint("name", name=op.f("uq_experiment_name")),
    )
    with op.batch_alter_table("experiment", schema=None) as batch_op:
        batch_op.create_index("ix_experiment_create_time", ["create_time", "id"], unique=False)
        batch_op.create_index("ix_experiment_last_update_time", ["last_update_time", "id"], unique=False)

    op.create_table(
        "experiment_run",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("external_id", sa.String(length=255), nullable=True),
        sa.Column("custom_properties", sa.Text(), server_default="{}", nullable=False),
        sa.Column("create_time", sa.BigInteger(), nullable=False),
        sa.Column("last_update_time", sa.BigInteger(), nullable=False),
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("owner", sa.Text(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("start_time", sa.BigInteger(), nullable=True),
        sa.Column("end_time", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["experiment_id"], ["experiment.id"], name=op.f("fk_experiment_run_experiment_id")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_experiment_run")),
        sa.UniqueConstraint("experiment_id", "name", name=op.f("uq_experiment_run_experiment_id_name")),
        sa.UniqueConstraint("external_id", name=op.f("uq_experiment_run_external_id")),
    )
    with op.batch_alter_table("experiment_run", schema=None) as batch_op:
        batch_op.create_index("ix_experiment_run_create_time", ["create_time", "id"], unique=False)
        batch_op.create_index("ix_experiment_run_last_update_time", ["last_update_time", "id"], unique=False)

    op.create_table(
        "experiment_run_artifact",
        sa.Column("experiment_run_id", sa.Integer(), nullable=False),
        sa.Column("artifact_id", sa.Integer(), nullable=False),
        sa.Column("artifact_type", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["artifact_id"], ["artifact.id"], name=op.f("fk_experiment_run_artifact_artifact_id")
        ),
        sa.ForeignKeyConstraint(
            ["experiment_run_id"],
            ["experiment_run.id"],
            name=op.f("fk_experiment_run_artifact_experiment_run_id"),
        ),
        sa.PrimaryKeyConstraint("experiment_run_id", "artifact_id", name=op.f("pk_experiment_run_artifact")),
        sa.UniqueConstraint(
            "experiment_run_id",
            "artifact_type",
            "name",
            name=op.f("uq_experiment_run_artifact_experiment_run_id_artifact_type_name"),
        ),
    )
    with op.batch_alter_table("experiment_run_artifact", schema=None) as batch_op:
        batch_op.create_index("ix_experiment_run_artifact_artifact_id", ["artifact_id"], unique=False)

    op.create_table(
        "metric_history",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("metric_id", sa.Integer(), nullable=False),
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("experiment_run_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("custom_properties", sa.Text(), server_default="{}", nullable=False),
        sa.Column("artifact_type", sa.String(length=32), server_default="metric", nullable=False),
        sa.Column("state", sa.String(length=32), nullable=True),
        sa.Column("metric_value", sa.Float(), nullable=True),
        sa.Column("timestamp", sa.BigInteger(), nullable=True),
        sa.Column("step", sa.BigInteger(), nullable=True),
        sa.Column("create_time", sa.BigInteger(), nullable=False),
        sa.Column("last_update_time", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["experiment_id"], ["experiment.id"], name=op.f("fk_metric_history_experiment_id")
        ),
        sa.ForeignKeyConstraint(
            ["experiment_run_id"], ["experiment_run.id"], name=op.f("fk_metric_history_experiment_run_id")
        ),
        sa.ForeignKeyConstraint(["metric_id"], ["artifact.id"], name=op.f("fk_metric_history_metric_id")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_metric_history")),
    )
    with op.batch_alter_table("metric_history", schema=None) as batch_op:
        batch_op.create_index("ix_metric_history_create_time", ["create_time", "id"], unique=False)
        batch_op.create_index(
            "ix_metric_history_experiment_run_id", ["experiment_run_id", "id"], unique=False
        )
        batch_op.create_index("ix_metric_history_last_update_time", ["last_update_time", "id"], unique=False)
        batch_op.create_index("ix_metric_history_metric_id", ["metric_id"], unique=False)

    with op.batch_alter_table("artifact", schema=None) as batch_op:
        batch_op.add_column(sa.Column("experiment_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("experiment_run_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("artifact", schema=None) as batch_op:
        batch_op.drop_column("experiment_run_id")
        batch_op.drop_column("experiment_id")

    with op.batch_alter_table("metric_history", schema=None) as batch_op:
        batch_op.drop_index("ix_metric_history_metric_id")
        batch_op.drop_index("ix_metric_history_last_update_time")
        batch_op.drop_index("ix_metric_history_experiment_run_id")
        batch_op.drop_index("ix_metric_history_create_time")

    op.drop_table("metric_history")
    with op.batch_alter_table("experiment_run_artifact", schema=None) as batch_op:
        batch_op.drop_index("ix_experiment_run_artifact_artifact_id")

    op.drop_table("experiment_run_artifact")
    with op.batch_alter_table("experiment_run", schema=None) as batch_op:
        batch_op.drop_index("ix_experiment_run_last_update_time")
        batch_op.drop_index("ix_experiment_run_create_time")

    op.drop_table("experiment_run")
    with op.batch_alter_table("experiment", schema=None) as batch_op:
        batch_op.drop_index("ix_experiment_last_update_time")
        batch_op.drop_index("ix_experiment_create_time")

    op.drop_table("experiment")
