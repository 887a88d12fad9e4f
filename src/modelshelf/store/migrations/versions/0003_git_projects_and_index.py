"""git projects and index

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 18:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dir_manifest",
        sa.Column("md5", sa.String(length=32), nullable=False),
        sa.Column("files", sa.Text(), nullable=False),
        sa.Column("fetch_time", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("md5", name=op.f("pk_dir_manifest")),
    )
    op.create_table(
        "git_repository",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("identity", sa.String(length=1024), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("path", sa.String(length=1024), nullable=False),
        sa.Column("clone_url", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("fingerprint", sa.String(length=64), nullable=True),
        sa.Column("tags_ignored", sa.Integer(), server_default="0", nullable=False),
        sa.Column("fetch_time", sa.BigInteger(), nullable=True),
        sa.Column("index_time", sa.BigInteger(), nullable=True),
        sa.Column("attempt_time", sa.BigInteger(), nullable=True),
        sa.Column("create_time", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_git_repository")),
        sa.UniqueConstraint("identity", name=op.f("uq_git_repository_identity")),
    )
    with op.batch_alter_table("git_repository", schema=None) as batch_op:
        batch_op.create_index("ix_git_repository_path", ["path"], unique=False)

    op.create_table(
        "git_artifact",
        sa.Column("repository_id", sa.Integer(), nullable=False),
        sa.Column("commit", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=1024), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("type", sa.Text(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("labels", sa.Text(), server_default="[]", nullable=False),
        sa.Column("meta", sa.Text(), nullable=True),
        sa.Column("md5", sa.String(length=32), nullable=True),
        sa.Column("is_dir", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("nfiles", sa.Integer(), nullable=True),
        sa.Column("legacy", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("output_path", sa.Text(), nullable=True),
        sa.Column("inner", sa.Text(), nullable=True),
        sa.Column("remote_url", sa.Text(), nullable=True),
        sa.Column("remote_options", sa.Text(), nullable=True),
        sa.Column("problem", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["repository_id"], ["git_repository.id"], name=op.f("fk_git_artifact_repository_id")
        ),
        sa.PrimaryKeyConstraint("repository_id", "commit", "name", name=op.f("pk_git_artifact")),
    )
    op.create_table(
        "git_commit",
        sa.Column("repository_id", sa.Integer(), nullable=False),
        sa.Column("commit", sa.String(length=40), nullable=False),
        sa.Column("problems", sa.Text(), server_default="[]", nullable=False),
        sa.Column("index_time", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["repository_id"], ["git_repository.id"], name=op.f("fk_git_commit_repository_id")
        ),
        sa.PrimaryKeyConstraint("repository_id", "commit", name=op.f("pk_git_commit")),
    )
    op.create_table(
        "git_project",
        sa.Column("id", sa.String(length=10), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("repository_id", sa.Integer(), nullable=False),
        sa.Column("subdir", sa.String(length=1024), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("namespace", sa.String(length=32), nullable=False),
        sa.Column("public", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("webhook_secret", sa.String(length=64), nullable=False),
        sa.Column("create_time", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["owner_id"], ["user_account.id"], name=op.f("fk_git_project_owner_id")),
        sa.ForeignKeyConstraint(
            ["repository_id"], ["git_repository.id"], name=op.f("fk_git_project_repository_id")
        ),
        sa.ForeignKeyConstraint(["team_id"], ["team.id"], name=op.f("fk_git_project_team_id")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_git_project")),
        sa.UniqueConstraint(
            "repository_id", "subdir", "namespace", name=op.f("uq_git_project_repository_id_subdir_namespace")
        ),
    )
    with op.batch_alter_table("git_project", schema=None) as batch_op:
        batch_op.create_index("ix_git_project_owner_id", ["owner_id"], unique=False)
        batch_op.create_index("ix_git_project_team_id", ["team_id"], unique=False)

    op.create_table(
        "git_ref",
        sa.Column("repository_id", sa.Integer(), nullable=False),
        sa.Column("artifact", sa.String(length=1024), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("version", sa.String(length=255), nullable=False),
        sa.Column("commit", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["repository_id"], ["git_repository.id"], name=op.f("fk_git_ref_repository_id")
        ),
        sa.PrimaryKeyConstraint("repository_id", "artifact", "kind", "key", name=op.f("pk_git_ref")),
    )
    op.create_table(
        "git_tag",
        sa.Column("repository_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=1024), nullable=False),
        sa.Column("commit", sa.String(length=40), nullable=False),
        sa.Column("time", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["repository_id"], ["git_repository.id"], name=op.f("fk_git_tag_repository_id")
        ),
        sa.PrimaryKeyConstraint("repository_id", "name", name=op.f("pk_git_tag")),
    )


def downgrade() -> None:
    op.drop_table("git_tag")
    op.drop_table("git_ref")
    with op.batch_alter_table("git_project", schema=None) as batch_op:
        batch_op.drop_index("ix_git_project_team_id")
        batch_op.drop_index("ix_git_project_owner_id")

    op.drop_table("git_project")
    op.drop_table("git_commit")
    op.drop_table("git_artifact")
    with op.batch_alter_table("git_repository", schema=None) as batch_op:
        batch_op.drop_index("ix_git_repository_path")

    op.drop_table("git_repository")
    op.drop_table("dir_manifest")
