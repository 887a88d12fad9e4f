"""The migrations build exactly the schema the code declares, on both backends, and step back cleanly."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text
from starlette.testclient import TestClient

from modelshelf.store import migrate, tables
from modelshelf.store.engine import connect
from tests.integration.kf import V1, ok


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


def _columns(engine: Engine) -> dict[tuple[str, str], dict[str, object]]:
    inspector = inspect(engine)
    return {
        (table, column["name"]): column
        for table in inspector.get_table_names()
        if table != "alembic_version"
        for column in inspector.get_columns(table)
    }


def test_every_migration_keeps_the_schema_usable_by_the_release_before_it(tmp_path: Path) -> None:
    """What makes a rolling upgrade safe (migrate.can_serve): the previous release's replicas keep
    serving on the migrated schema, so no migration drops or renames a table or column, and a column it
    adds to an existing table can be left out of an INSERT (nullable, or with a server default). Checked
    on SQLite; the migrations run the same operations on PostgreSQL."""
    script = ScriptDirectory(str(migrate.MIGRATIONS))
    revisions = [r.revision for r in reversed(list(script.walk_revisions()))]
    assert revisions == sorted(revisions) and all(r.isdigit() for r in revisions)  # migrate.is_ahead
    engine = connect(f"sqlite:///{tmp_path / 'steps.db'}")
    try:
        migrate.upgrade(engine, revisions[0])
        before = _columns(engine)
        for revision in revisions[1:]:
            migrate.upgrade(engine, revision)
            after = _columns(engine)
            assert set(before) <= set(after), (revision, sorted(set(before) - set(after)))
            tables_before = {table for table, _ in before}
            for (table, name), column in after.items():
                if table in tables_before and (table, name) not in before:
                    usable = column["nullable"] or column["default"] is not None
                    assert usable, f"{revision} adds {table}.{name} NOT NULL without a server default"
            before = after
    finally:
        engine.dispose()


def test_a_schema_from_a_later_release_is_served(client: TestClient, engine: Engine) -> None:
    """A rolling upgrade's first step: a newer release migrated (here: a table and a nullable column
    more, at the next revision number), and this release's replicas stay ready and keep working."""
    head = migrate.head_revision()
    assert head is not None
    newer = f"{int(head) + 1:04d}"
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE later_release_table (id INTEGER PRIMARY KEY)"))
        conn.execute(text("ALTER TABLE registered_model ADD COLUMN later_release_note TEXT"))
        conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": newer})
    try:
        assert not migrate.is_current(engine) and migrate.can_serve(engine)
        assert ok(client.get("/readyz")) == {"status": "ok", "database": "ok"}
        created = ok(client.post(f"{V1}/registered_models", json={"name": "during-the-upgrade"}), 201)
        assert ok(client.get(f"{V1}/registered_models/{created['id']}"))["name"] == "during-the-upgrade"
    finally:
        # The PostgreSQL database outlives the test (it is emptied, not re-created, between tests).
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE later_release_table"))
            conn.execute(text("ALTER TABLE registered_model DROP COLUMN later_release_note"))
            conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": head})
    test_migrated_schema_matches_the_declared_tables(engine)
