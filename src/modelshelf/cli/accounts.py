"""`modelshelf user | team | token | audit`: manage principals and read the audit trail on the server.

These commands work on the database directly, with the server's own configuration, so whoever can run
them can already read the database; they are recorded in the audit trail as done "via cli".
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
from collections.abc import Callable, Sequence

from modelshelf.auth.principal import CLI
from modelshelf.auth.tokens import Scope
from modelshelf.services import accounts, audit
from modelshelf.services.clock import iso
from modelshelf.store.accounts import TokenRow, UserRow
from modelshelf.store.session import Database, Session

Command = Callable[[Session, argparse.Namespace], None]


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    scopes = ", ".join(s.value for s in Scope)

    user = commands.add_parser("user", help="create, list and disable users").add_subparsers(
        dest="action", required=True
    )
    p = user.add_parser("create", help="create a user")
    p.add_argument("name")
    p.add_argument("--admin", action="store_true", help="may hold the admin scope")
    p.set_defaults(run=_user_create)
    user.add_parser("list", help="list users").set_defaults(run=_user_list)
    for action, help_text, run in (
        ("disable", "refuse every token of this user from now on", _user_change(disabled=True)),
        ("enable", "accept this user's tokens again", _user_change(disabled=False)),
        ("grant-admin", "let this user hold the admin scope", _user_change(admin=True)),
        ("revoke-admin", "take the admin scope away from this user's tokens", _user_change(admin=False)),
    ):
        p = user.add_parser(action, help=help_text)
        p.add_argument("name")
        p.set_defaults(run=run)

    team = commands.add_parser("team", help="create teams and manage their members").add_subparsers(
        dest="action", required=True
    )
    p = team.add_parser("create", help="create a team")
    p.add_argument("name")
    p.set_defaults(run=lambda conn, a: _print_team(accounts.create_team(conn, a.name, actor=CLI)))
    team.add_parser("list", help="list teams and their members").set_defaults(run=_team_list)
    p = team.add_parser("show", help="show a team and its members")
    p.add_argument("name")
    p.set_defaults(run=lambda conn, a: _print_team(accounts.get_team(conn, a.name)))
    for action, disabled in (("disable", True), ("enable", False)):
        p = team.add_parser(action, help=f"{action} a team")
        p.add_argument("name")
        p.set_defaults(run=_team_change(disabled))
    p = team.add_parser("add-member", help="add a user to a team, or change their role")
    p.add_argument("team")
    p.add_argument("user")
    p.add_argument("--role", choices=accounts.ROLES, default="member")
    p.set_defaults(
        run=lambda conn, a: _print_team(accounts.set_member(conn, a.team, a.user, a.role, actor=CLI))
    )
    p = team.add_parser("remove-member", help="remove a user from a team")
    p.add_argument("team")
    p.add_argument("user")
    p.set_defaults(run=lambda conn, a: _print_team(accounts.remove_member(conn, a.team, a.user, actor=CLI)))

    token = commands.add_parser("token", help="create, list and revoke API tokens").add_subparsers(
        dest="action", required=True
    )
    p = token.add_parser(
        "create",
        help="create a token and print it (only this once)",
        description="Prints the token alone on stdout, so TOKEN=$(modelshelf token create ...) works.",
    )
    p.add_argument("user", help="the user who will hold the token")
    p.add_argument("--name", required=True, help="what the token is for, unique per user")
    p.add_argument(
        "--scope", action="append", required=True, dest="scopes", help=f"repeat for several: {scopes}"
    )
    p.add_argument("--expires-in-days", type=int, help=f"1 to {accounts.MAX_EXPIRY_DAYS} (default: never)")
    p.set_defaults(run=_token_create)
    p = token.add_parser("list", help="list tokens (never their secrets)")
    p.add_argument("--user", help="only this user's tokens")
    p.set_defaults(run=_token_list)
    p = token.add_parser("revoke", help="revoke a token: refused from the next request on")
    p.add_argument("id", type=int)
    p.set_defaults(run=lambda conn, a: _print_tokens([accounts.revoke_token(conn, a.id, actor=CLI)]))

    trail = commands.add_parser("audit", help="read the audit trail").add_subparsers(
        dest="action", required=True
    )
    p = trail.add_parser("list", help="audit events, newest first")
    p.add_argument("--principal", help="only events of this user")
    p.add_argument("--via", choices=("api", "cli", "no-auth"), help="only events that came this way")
    p.add_argument("--entity", help="only events about <type> or <type>:<id>, e.g. registered_model:3")
    p.add_argument("--limit", type=int, default=50, help=f"at most this many (1 to {audit.MAX_PAGE})")
    p.set_defaults(run=_audit_list)


def run(database: Database, args: argparse.Namespace) -> None:
    """Run the command in one transaction; what it prints is shown only once that has committed."""
    out, err = io.StringIO(), io.StringIO()
    with database.write() as conn, contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        args.run(conn, args)
    sys.stderr.write(err.getvalue())
    sys.stdout.write(out.getvalue())


# --- users ---------------------------------------------------------------------------------------------


def _user_create(conn: Session, args: argparse.Namespace) -> None:
    _print_users([accounts.create_user(conn, args.name, admin=args.admin, actor=CLI)])


def _user_list(conn: Session, _args: argparse.Namespace) -> None:
    _print_users(accounts.list_users(conn))


def _user_change(*, disabled: bool | None = None, admin: bool | None = None) -> Command:
    def change(conn: Session, args: argparse.Namespace) -> None:
        _print_users([accounts.update_user(conn, args.name, disabled=disabled, admin=admin, actor=CLI)])

    return change


def _print_users(rows: Sequence[UserRow]) -> None:
    table(
        ["NAME", "ADMIN", "DISABLED", "CREATED"],
        [[u.name, _yes(u.is_admin), _yes(u.disabled), iso(u.create_time)] for u in rows],
    )


# --- teams ---------------------------------------------------------------------------------------------


def _team_list(conn: Session, _args: argparse.Namespace) -> None:
    rows: list[list[object]] = []
    for team in accounts.list_teams(conn):
        members = ", ".join(f"{m.name} ({m.role})" for m in team.members) or "-"
        rows.append([team.row.name, _yes(team.row.disabled), iso(team.row.create_time), members])
    table(["NAME", "DISABLED", "CREATED", "MEMBERS"], rows)


def _team_change(disabled: bool) -> Command:
    def change(conn: Session, args: argparse.Namespace) -> None:
        _print_team(accounts.update_team(conn, args.name, disabled=disabled, actor=CLI))

    return change


def _print_team(team: accounts.Team) -> None:
    row = team.row
    print(f"team {row.name}{' (disabled)' if row.disabled else ''}, created {iso(row.create_time)}")
    table(["MEMBER", "ROLE"], [[m.name, m.role] for m in team.members])


# --- tokens --------------------------------------------------------------------------------------------


def _token_create(conn: Session, args: argparse.Namespace) -> None:
    row, secret = accounts.create_token(
        conn, args.user, args.name, args.scopes, expires_in_days=args.expires_in_days, actor=CLI
    )
    expiry = iso(row.expire_time) or "never"
    print(
        f"created token {row.id} {row.name!r} for {args.user} "
        f"(scopes: {row.scopes}; expires: {expiry}). It is shown only this once:",
        file=sys.stderr,
    )
    print(secret)


def _token_list(conn: Session, args: argparse.Namespace) -> None:
    _print_tokens(accounts.list_tokens(conn, args.user))


def _print_tokens(rows: Sequence[TokenRow]) -> None:
    table(
        ["ID", "USER", "NAME", "PREFIX", "SCOPES", "EXPIRES", "LAST USED", "REVOKED"],
        [
            [
                t.id,
                t.user_name,
                t.name,
                t.display_prefix + "...",
                ",".join(t.scopes.split()),
                iso(t.expire_time) or "never",
                iso(t.last_used_time) or "never",
                iso(t.revoke_time) or "-",
            ]
            for t in rows
        ],
    )


# --- audit ---------------------------------------------------------------------------------------------


def _audit_list(conn: Session, args: argparse.Namespace) -> None:
    entity_type, entity_id = audit.parse_entity(args.entity) if args.entity else (None, None)
    query = audit.AuditQuery(
        principal=args.principal,
        via=args.via,
        entity_type=entity_type,
        entity_id=entity_id,
        page_size=args.limit,
    )
    table(
        ["TIME", "PRINCIPAL", "VIA", "ACTION", "ENTITY", "DETAIL"],
        [
            [
                iso(e.time),
                e.principal or "-",
                e.via,
                e.action,
                f"{e.entity_type}:{e.entity_id}",
                "" if e.detail is None else " ".join(f"{k}={v}" for k, v in e.detail.items()),
            ]
            for e in audit.events(conn, query).events
        ],
    )


# --- output --------------------------------------------------------------------------------------------


def _yes(value: object) -> str:
    return "yes" if value else "no"


def table(header: list[str], rows: Sequence[Sequence[object]]) -> None:
    """Rows under a header, in columns as wide as their widest cell (every command's listing)."""
    cells = [header, *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for row in cells:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
