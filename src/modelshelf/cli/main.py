"""`modelshelf` command line: serve, db upgrade, db check."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace

from modelshelf.settings import Settings
from modelshelf.store import migrate
from modelshelf.store.engine import connect


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="modelshelf", description="A self-hosted model registry.")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the HTTP server")
    serve.add_argument("--host", help="address to bind (default 127.0.0.1, or MODELSHELF_HOST)")
    serve.add_argument("--port", type=int, help="port to bind (default 8080, or MODELSHELF_PORT)")
    serve.add_argument("--no-migrate", action="store_true", help="do not apply pending migrations first")
    serve.add_argument("--access-log", action="store_true", help="log every request")

    db = commands.add_parser("db", help="database schema")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    db_commands.add_parser("upgrade", help="apply pending migrations")
    db_commands.add_parser("check", help="exit 1 unless the schema is current")

    args = parser.parse_args(argv)
    settings = Settings.from_env()
    if args.command == "serve":
        if args.host:
            settings = replace(settings, host=args.host)
        if args.port:
            settings = replace(settings, port=args.port)
        return _serve(settings, migrate_first=not args.no_migrate, access_log=args.access_log)
    engine = connect(settings.effective_database_url)
    try:
        if args.db_command == "upgrade":
            migrate.upgrade(engine)
            print(f"database at revision {migrate.current_revision(engine)}")
            return 0
        current, head = migrate.current_revision(engine), migrate.head_revision()
        if current == head:
            print(f"database is current (revision {current})")
            return 0
        print(
            f"database is at revision {current}, code expects {head}: run 'modelshelf db upgrade'",
            file=sys.stderr,
        )
        return 1
    finally:
        engine.dispose()


def _serve(settings: Settings, *, migrate_first: bool, access_log: bool) -> int:
    import uvicorn

    from modelshelf.app import create_app

    engine = connect(settings.effective_database_url)
    if migrate_first:
        migrate.upgrade(engine)
    elif not migrate.is_current(engine):
        print("database schema is not current: run 'modelshelf db upgrade'", file=sys.stderr)
        return 1
    app = create_app(settings, engine)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        log_level=settings.log_level,
        access_log=access_log,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
