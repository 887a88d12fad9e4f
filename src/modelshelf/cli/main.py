"""`modelshelf` command line: serve, db, and the user / team / token / audit commands."""

from __future__ import annotations

import argparse
import functools
import ipaddress
import sys
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from modelshelf.cli import accounts as accounts_cli
from modelshelf.cli import projects as projects_cli
from modelshelf.errors import Conflict, RegistryError
from modelshelf.services import accounts
from modelshelf.settings import Settings, SettingsError, load_settings
from modelshelf.store import backup as store_backup
from modelshelf.store import migrate, problems
from modelshelf.store.engine import connect
from modelshelf.store.session import Database


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="modelshelf", description="A self-hosted model registry.")
    _config_option(parser, default=None)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the HTTP server")
    _config_option(serve)
    serve.add_argument("--host", help="address to bind (default 127.0.0.1, or MODELSHELF_HOST)")
    serve.add_argument("--port", type=int, help="port to bind (default 8080, or MODELSHELF_PORT)")
    serve.add_argument("--no-migrate", action="store_true", help="do not apply pending migrations first")
    serve.add_argument(
        "--access-log",
        dest="access_log",
        action="store_const",
        const=True,
        help="log one line per request (the default; or MODELSHELF_ACCESS_LOG=1)",
    )
    serve.add_argument(
        "--no-access-log",
        dest="access_log",
        action="store_const",
        const=False,
        help="log no line per request (clients that disconnect are still logged)",
    )
    serve.add_argument(
        "--no-auth",
        action="store_true",
        help="accept requests without a token, for local experiments (only on a loopback address)",
    )

    db = commands.add_parser("db", help="database schema")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    _config_option(db_commands.add_parser("upgrade", help="apply pending migrations"))
    _config_option(db_commands.add_parser("check", help="exit 1 unless the schema is current"))
    backup = db_commands.add_parser(
        "backup", help="copy the SQLite database into a new file, while servers keep writing"
    )
    _config_option(backup)
    backup.add_argument("path", metavar="PATH", help="the backup file to create")
    backup.add_argument("--force", action="store_true", help="replace PATH if it exists")
    accounts_cli.add_commands(commands)
    projects_cli.add_commands(commands)

    args = parser.parse_args(argv)
    for value in vars(args).values():
        for text in value if isinstance(value, list) else [value]:
            if isinstance(text, str) and not _is_text(text):
                # Bytes that are not UTF-8 reach Python as lone surrogates, which no database can store.
                parser.error(f"argument {text!r} is not valid UTF-8")
    try:
        settings = _settings(args)
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.command == "serve":
        if args.no_auth:
            if not is_loopback(settings.host):
                print(
                    f"refusing --no-auth on {settings.host}: without authentication the server may only "
                    "listen on a loopback address (127.0.0.1, ::1 or localhost)",
                    file=sys.stderr,
                )
                return 2
            settings = settings.with_changes(auth=False)
        if args.access_log is not None:
            settings = settings.with_changes(access_log=args.access_log)
        return _serve(settings, migrate_first=not args.no_migrate)
    if args.command == "db" and args.db_command == "backup":
        return _backup(settings, Path(args.path), force=args.force)
    engine: Engine | None = None
    try:
        engine = connect(settings.effective_database_url, sqlite_synchronous=settings.sqlite_synchronous)
        if args.command != "db":
            if not migrate.can_serve(engine):
                print("database schema is not current: run 'modelshelf db upgrade'", file=sys.stderr)
                return 1
            if args.command == "project":
                return projects_cli.run(Database(engine, threads=2), settings, args)
            accounts_cli.run(Database(engine), args)
            return 0
        current, head = migrate.current_revision(engine), migrate.head_revision()
        if migrate.is_ahead(current):
            # A rollback to this release after a newer one migrated: that schema serves this release too.
            if args.db_command == "upgrade":
                print(f"{migrate.newer_schema(current)}: left as it is")
                return 0
            print(migrate.newer_schema(current), file=sys.stderr)
            return 1
        if args.db_command == "upgrade":
            migrate.upgrade(engine, lock_timeout=settings.migration_lock_timeout)
            print(f"database at revision {migrate.current_revision(engine)}")
            return 0
        if current == head:
            print(f"database is current (revision {current})")
            return 0
        print(
            f"database is at revision {current}, code expects {head}: run 'modelshelf db upgrade'",
            file=sys.stderr,
        )
        return 1
    except Exception as exc:
        return _report(exc, settings, registry_status=1)
    finally:
        if engine is not None:
            engine.dispose()


def _config_option(parser: argparse.ArgumentParser, default: object = argparse.SUPPRESS) -> None:
    # Accepted before the command (`modelshelf --config F user list`) and after `serve` / `db ...`; the
    # subcommands' copies SUPPRESS their default so that they do not erase a value given before them.
    parser.add_argument(
        "--config",
        metavar="PATH",
        default=default,
        help="TOML configuration file (default: $MODELSHELF_CONFIG); see docs/configuration.md",
    )


def _settings(args: argparse.Namespace) -> Settings:
    """The environment and the configuration file, then this command's flags over them."""
    settings = load_settings(config_path=args.config)
    if args.command == "serve":
        flags = {"host": args.host, "port": args.port}
        try:
            settings = settings.with_changes(
                **{key: value for key, value in flags.items() if value is not None}
            )
        except SettingsError as exc:  # "port: ..." -> "--port: ...": these flags are named as their keys
            raise SettingsError(f"--{exc}") from None
    return settings


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _serve(settings: Settings, *, migrate_first: bool) -> int:
    from modelshelf import server
    from modelshelf.app import create_app, error_response, open_engine
    from modelshelf.observability import logs

    logs.configure(settings)

    try:
        engine = open_engine(settings)
    except Exception as exc:
        return _report(exc, settings, registry_status=2)
    try:
        current = migrate.current_revision(engine)
        if migrate.is_ahead(current):
            print(f"{migrate.newer_schema(current)}: serving it without migrating", file=sys.stderr)
        elif migrate_first:
            migrate.upgrade(engine, lock_timeout=settings.migration_lock_timeout)
        elif current != migrate.head_revision():
            print("database schema is not current: run 'modelshelf db upgrade'", file=sys.stderr)
            engine.dispose()
            return 1
        if settings.auth:
            _bootstrap(engine, settings)
    except Exception as exc:
        engine.dispose()
        return _report(exc, settings, registry_status=2)
    if not settings.auth:
        print(
            "WARNING: authentication is off (--no-auth): anyone who can connect may read and write.",
            file=sys.stderr,
            flush=True,
        )
    app = create_app(settings, engine)
    return server.run(app, settings, errors=functools.partial(error_response, app))


def _backup(settings: Settings, target: Path, *, force: bool) -> int:
    url = make_url(settings.effective_database_url)
    if url.get_backend_name() != "sqlite":
        print(
            "error: 'modelshelf db backup' copies SQLite databases; back up PostgreSQL with pg_dump "
            "(docs/operations.md, Backup and restore)",
            file=sys.stderr,
        )
        return 2
    source = Path(url.database or "")
    if not url.database or url.database == ":memory:" or not source.is_file():
        # connect() would create an empty database there: nothing worth a backup.
        print(
            f"error: no database at {source}: check MODELSHELF_DATA_DIR or MODELSHELF_DATABASE_URL",
            file=sys.stderr,
        )
        return 1
    engine: Engine | None = None
    try:
        engine = connect(settings.effective_database_url, sqlite_synchronous=settings.sqlite_synchronous)
        done = store_backup.backup(engine, target, force=force)
    except store_backup.BackupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:
        return _report(exc, settings, registry_status=1)
    finally:
        if engine is not None:
            engine.dispose()
    revision = f"schema revision {done.revision}" if done.revision else "no schema yet"
    print(f"backed up {source} to {done.path}: {done.size:,} bytes, {revision}")
    return 0


def _bootstrap(engine: Engine, settings: Settings) -> None:
    """Make sure somebody can log in: on an empty database, create the admin and its token."""
    given = settings.admin_token
    try:
        with Database(engine).write() as conn:
            secret = accounts.bootstrap_admin(conn, given)
            ignored = given is not None and not accounts.token_exists(conn, given)
    except Conflict:
        # Another process bootstrapped the same database a moment ago, or the name is taken by a team.
        with Database(engine).write() as conn:
            if accounts.count_users(conn) == 0:
                raise
        return
    if secret is not None:
        # The terminal, not a log: the one time this secret is shown. It is not stored anywhere in clear.
        print(
            f"\nCreated the admin user '{accounts.ADMIN_USER}'. Its token, shown only this once:\n\n"
            f"    {secret}\n\n"
            "Send it as 'Authorization: Bearer <token>'. Make tokens for others with\n"
            "'modelshelf token create <user> --name <what for> --scope models:read'.\n",
            flush=True,
        )
    elif ignored:
        print("note: MODELSHELF_ADMIN_TOKEN is ignored: this database already has users", file=sys.stderr)


def _report(exc: Exception, settings: Settings, *, registry_status: int) -> int:
    """One line on stderr, no traceback, for what the operator can fix: a database that cannot be opened,
    written or locked (which and what to do), or a domain error. Anything else is a bug: re-raised."""
    message = problems.explain(exc, settings.effective_database_url)
    if message is not None:
        print(f"error: {message}", file=sys.stderr)
        return 1
    if isinstance(exc, RegistryError):
        print(f"error: {exc}", file=sys.stderr)
        return registry_status
    raise exc


def _is_text(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


if __name__ == "__main__":
    sys.exit(main())
