"""Users, teams and tokens: who may exist, what they may hold, and the bootstrap admin.

Every change here is audited in its own transaction. `actor` is whoever asks: an admin through the API,
or the CLI (which runs with the server's database credentials, so it is trusted like them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from modelshelf.auth import tokens
from modelshelf.auth.principal import CLI, Principal
from modelshelf.auth.tokens import Scope
from modelshelf.domain.entities import INT32_MAX
from modelshelf.errors import Conflict, InvalidArgument, NotFound, shown
from modelshelf.services import audit
from modelshelf.services.clock import clock
from modelshelf.store import accounts
from modelshelf.store.accounts import MemberRow, TeamRow, TokenRow, UserRow
from modelshelf.store.repository import UniqueViolation
from modelshelf.store.session import Session

# Users and teams share one namespace (a project owner is either), spelled like a URL path segment.
_NAME = re.compile(r"[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?")
ROLES = ("owner", "member")
MAX_EXPIRY_DAYS = 3650
DAY_MS = 86_400_000
ADMIN_USER = "admin"
BOOTSTRAP_TOKEN_NAME = "bootstrap"
_SECRET_MIN, _SECRET_MAX = 32, 512


def _check_name(kind: str, name: object) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidArgument(
            f"invalid {kind} name {shown(name)}: use 1-64 lowercase letters, digits, '.', '_' or '-', "
            "starting and ending with a letter or digit"
        )
    return name


def _name_taken(conn: Session, name: str) -> str | None:
    """What already has this name; the name stays free for this transaction until it ends."""
    accounts.lock_names(conn)
    if accounts.user_by_name(conn, name) is not None:
        return "user"
    if accounts.team_by_name(conn, name) is not None:
        return "team"
    return None


# --- users -------------------------------------------------------------------------------------------


def create_user(conn: Session, name: object, *, admin: bool, actor: Principal) -> UserRow:
    name = _check_name("user", name)
    if (kind := _name_taken(conn, name)) is not None:
        raise Conflict(f"a {kind} named {name!r} already exists")
    try:
        row = accounts.add_user(
            conn, {"name": name, "is_admin": admin, "disabled": False, "create_time": clock.now()}
        )
    except UniqueViolation:  # created by someone else between the check and the insert
        raise Conflict(f"a user named {name!r} already exists") from None
    audit.record(conn, actor, "create", "user", name, {"admin": admin})
    return row


def list_users(conn: Session) -> list[UserRow]:
    return accounts.users(conn)


def must_get_user(conn: Session, name: str) -> UserRow:
    # A name no user can have is not looked up (PostgreSQL cannot even compare a NUL).
    row = accounts.user_by_name(conn, name) if _NAME.fullmatch(name) else None
    if row is None:
        raise NotFound(f"user {shown(name)} not found")
    return row


def update_user(
    conn: Session, name: str, *, disabled: bool | None, admin: bool | None, actor: Principal
) -> UserRow:
    current = must_get_user(conn, name)
    changes = {}
    if disabled is not None and disabled != current.disabled:
        changes["disabled"] = disabled
    if admin is not None and admin != current.is_admin:
        changes["is_admin"] = admin
    if not changes:
        return current
    if actor.user_id == current.id and (changes.get("disabled") or changes.get("is_admin") is False):
        # Locking yourself out is never what was meant, and may leave nobody able to undo it.
        raise InvalidArgument("you cannot disable yourself or remove your own admin rights")
    row = accounts.update_user(conn, current.id, changes)
    detail = {"disabled" if k == "disabled" else "admin": v for k, v in changes.items()}
    audit.record(conn, actor, "update", "user", name, detail)
    return row


# --- teams -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Team:
    row: TeamRow
    members: list[MemberRow]


def create_team(conn: Session, name: object, *, actor: Principal) -> Team:
    name = _check_name("team", name)
    if (kind := _name_taken(conn, name)) is not None:
        raise Conflict(f"a {kind} named {name!r} already exists")
    try:
        row = accounts.add_team(conn, {"name": name, "disabled": False, "create_time": clock.now()})
    except UniqueViolation:
        raise Conflict(f"a team named {name!r} already exists") from None
    audit.record(conn, actor, "create", "team", name)
    return Team(row, [])


def _must_get_team(conn: Session, name: str) -> TeamRow:
    row = accounts.team_by_name(conn, name) if _NAME.fullmatch(name) else None
    if row is None:
        raise NotFound(f"team {shown(name)} not found")
    return row


def _with_members(conn: Session, row: TeamRow) -> Team:
    return Team(row, accounts.members(conn, [row.id]))


def get_team(conn: Session, name: str) -> Team:
    row = _must_get_team(conn, name)
    return _with_members(conn, row)


def list_teams(conn: Session) -> list[Team]:
    rows = accounts.teams(conn)
    by_team: dict[int, list[MemberRow]] = {row.id: [] for row in rows}
    for member in accounts.members(conn, list(by_team)):
        by_team[member.team_id].append(member)
    return [Team(row, by_team[row.id]) for row in rows]


def update_team(conn: Session, name: str, *, disabled: bool | None, actor: Principal) -> Team:
    row = _must_get_team(conn, name)
    if disabled is not None and disabled != row.disabled:
        row = accounts.update_team(conn, row.id, {"disabled": disabled})
        audit.record(conn, actor, "update", "team", name, {"disabled": disabled})
    return _with_members(conn, row)


def set_member(conn: Session, team_name: str, user_name: str, role: object, *, actor: Principal) -> Team:
    if role not in ROLES:
        raise InvalidArgument(f"invalid role {shown(role)}: use one of {', '.join(ROLES)}")
    team_row = _must_get_team(conn, team_name)
    user_row = must_get_user(conn, user_name)
    if not accounts.set_membership(conn, team_row.id, user_row.id, str(role)):
        raise Conflict(f"user {user_name!r} was added to team {team_name!r} at the same moment: try again")
    audit.record(conn, actor, "set_member", "team", team_name, {"user": user_name, "role": role})
    return _with_members(conn, team_row)


def remove_member(conn: Session, team_name: str, user_name: str, *, actor: Principal) -> Team:
    team_row = _must_get_team(conn, team_name)
    user_row = must_get_user(conn, user_name)
    if not accounts.remove_membership(conn, team_row.id, user_row.id):
        raise NotFound(f"user {user_name!r} is not a member of team {team_name!r}")
    audit.record(conn, actor, "remove_member", "team", team_name, {"user": user_name})
    return _with_members(conn, team_row)


# --- tokens ------------------------------------------------------------------------------------------


def _check_scopes(values: object) -> frozenset[Scope]:
    if not isinstance(values, list | tuple) or not all(isinstance(v, str) for v in values):
        raise InvalidArgument("scopes must be a list of scope names")
    try:
        scopes = tokens.parse_scopes(values)
    except ValueError as exc:
        raise InvalidArgument(str(exc)) from None
    if not scopes:
        known = ", ".join(s.value for s in Scope)
        raise InvalidArgument(f"a token needs at least one scope: {known}")
    return scopes


def _check_expiry(days: object) -> int | None:
    if days is None:
        return None
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_EXPIRY_DAYS:
        raise InvalidArgument(
            f"the expiry must be a whole number of days from 1 to {MAX_EXPIRY_DAYS}, or none"
        )
    return days


def _check_token_name(name: object) -> str:
    if not isinstance(name, str) or not name.strip() or len(name) > 255 or not name.isprintable():
        raise InvalidArgument("a token name must be 1-255 printable characters")
    return name


def create_token(
    conn: Session,
    user_name: str,
    name: object,
    scopes: object,
    *,
    expires_in_days: object = None,
    actor: Principal,
    secret: str | None = None,
) -> tuple[TokenRow, str]:
    """A new token and its secret. The secret is returned here once; only its hash is kept."""
    name = _check_token_name(name)
    granted = _check_scopes(scopes)
    days = _check_expiry(expires_in_days)
    owner = must_get_user(conn, user_name)
    if owner.disabled:
        raise InvalidArgument(f"user {user_name!r} is disabled")
    if Scope.ADMIN in granted and not owner.is_admin:
        raise InvalidArgument(f"user {user_name!r} is not an admin, so cannot hold the 'admin' scope")
    secret = secret or tokens.new_token()
    now = clock.now()
    values = {
        "user_id": owner.id,
        "name": name,
        "token_hash": tokens.token_hash(secret),
        "display_prefix": tokens.display_prefix(secret),
        "scopes": " ".join(sorted(granted)),
        "create_time": now,
        "expire_time": None if days is None else now + days * DAY_MS,
    }
    try:
        row = accounts.add_token(conn, values, owner.name)
    except UniqueViolation:
        # The only other unique column is the hash of 256 random bits (or a bootstrap secret in use).
        raise Conflict(f"user {user_name!r} already has a token named {name!r}") from None
    audit.record(conn, actor, "create", "token", row.id, {"user": user_name, "name": name})
    return row, secret


def count_users(conn: Session) -> int:
    return accounts.count_users(conn)


def token_exists(conn: Session, secret: str) -> bool:
    return accounts.hash_exists(conn, tokens.token_hash(secret))


def list_tokens(conn: Session, user_name: str | None) -> list[TokenRow]:
    user_id = None if user_name is None else must_get_user(conn, user_name).id
    return accounts.tokens(conn, user_id)


def must_get_token(conn: Session, token_id: int) -> TokenRow:
    row = accounts.token(conn, token_id) if 1 <= token_id <= INT32_MAX else None
    if row is None:
        raise NotFound(f"token {token_id} not found")
    return row


def revoke_token(conn: Session, token_id: int, *, actor: Principal) -> TokenRow:
    row = must_get_token(conn, token_id)
    if row.revoke_time is None:
        now = clock.now()
        accounts.revoke_token(conn, token_id, now)
        row = row._replace(revoke_time=now)
        audit.record(conn, actor, "revoke", "token", token_id, {"user": row.user_name})
    return row


# --- bootstrap ---------------------------------------------------------------------------------------


def check_bootstrap_secret(secret: str) -> str:
    if not _SECRET_MIN <= len(secret) <= _SECRET_MAX or not all("!" <= c <= "~" for c in secret):
        raise InvalidArgument(
            f"MODELSHELF_ADMIN_TOKEN must be {_SECRET_MIN}-{_SECRET_MAX} printable ASCII characters "
            "without spaces (for example the output of: python -c 'import secrets; "
            'print("msh_" + secrets.token_urlsafe(32))\')'
        )
    return secret


def bootstrap_admin(conn: Session, secret: str | None) -> str | None:
    """On a database without users, create the admin and its token; return the secret if we made it up.

    With `secret` (MODELSHELF_ADMIN_TOKEN) that value becomes the admin's token, so a container can be
    provisioned without reading any output. A database that has users is left alone.
    """
    if secret is not None:
        check_bootstrap_secret(secret)
    if accounts.count_users(conn) > 0:
        return None
    create_user(conn, ADMIN_USER, admin=True, actor=CLI)
    made_up = secret is None
    every_scope = [s.value for s in Scope]
    _, secret = create_token(conn, ADMIN_USER, BOOTSTRAP_TOKEN_NAME, every_scope, actor=CLI, secret=secret)
    return secret if made_up else None
