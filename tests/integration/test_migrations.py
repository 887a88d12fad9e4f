"""The migrations build exactly the schema the code declares, on both backends, and step back cleanly."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect

from modelshelf.store import migrate, tables


def test_migrated_schema_matches_the_declared_tables(engine: Engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": True}
        )
        assert compare_metadata(context, tables.metadata) == []


def test_the_latest_migration_steps_down_and_up_again(engine: Engine) -> None:
    head = migrate.head_revision()
    migrated = set(inspect(engine).get_table_names())
    command.downgrade(migrate.config(engine), "-1")
    assert migrate.current_revision(engine) not in (head, None)
    migrate.upgrade(engine)
    assert migrate.is_current(engine)
    assert set(inspect(engine).get_table_names()) == migrated
    test_migrated_schema_matches_the_declared_tables(engine)
