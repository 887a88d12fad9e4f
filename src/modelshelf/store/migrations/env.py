"""Alembic environment: runs with the engine handed over by modelshelf.store.migrate, under its lock."""

from __future__ import annotations

from alembic import context

from modelshelf.store import migrate
from modelshelf.store.tables import metadata

engine = context.config.attributes["engine"]
timeout = context.config.attributes.get("lock_timeout", migrate.LOCK_TIMEOUT_S)
# The lock is taken before Alembic reads the schema's revision, so a process that waited for another
# one's upgrade sees the result and has nothing left to do.
with migrate.locked(engine, timeout) as connection:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    context.run_migrations()
