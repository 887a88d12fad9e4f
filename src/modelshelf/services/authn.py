"""Authentication: from an Authorization header to a Principal, checked on every request.

A revoked or expired token, or a disabled user, is refused on the very next request. Every way a
credential can be wrong gives the same answer, and a token is found by its hash alone, so there is no
"right id, wrong secret" whose timing could tell which part was wrong.
"""

from __future__ import annotations

import functools
import logging
import time

from sqlalchemy.exc import SQLAlchemyError

from modelshelf.auth import tokens
from modelshelf.auth.principal import Principal, expand
from modelshelf.auth.tokens import Scope
from modelshelf.errors import Unauthenticated, Unavailable
from modelshelf.store import accounts
from modelshelf.store.session import Database

log = logging.getLogger("modelshelf.auth")

SCHEMES = ("bearer", "token")  # Kubeflow's client sends Bearer; dvc and Studio scripts send token
MAX_CREDENTIAL = 512
LAST_USED_RESOLUTION_MS = 60_000  # last-used times are exact to a minute: at most one write a minute

MISSING = "authentication required: send 'Authorization: Bearer <token>'"
MALFORMED = "malformed Authorization header: expected 'Bearer <token>' or 'token <token>'"
INVALID = "invalid, expired or revoked token"


def credential(header: str | None) -> str:
    """The token in an Authorization header value."""
    if header is None or not header.strip():
        raise Unauthenticated(MISSING)
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() not in SCHEMES or not value or " " in value or len(value) > MAX_CREDENTIAL:
        raise Unauthenticated(MALFORMED)
    return value


class Authenticator:
    """Turns Authorization headers into principals, for every request of one app.

    Each request looks its token up by hash with one indexed query (`Database.looking_up`: on the event
    loop for SQLite's local file, on a worker thread for PostgreSQL). Nothing is kept between
    requests, so a revocation, a disabled user or a lost admin right made by any process is seen by the
    very next request, and no secret stays in memory longer than its request.
    """

    def __init__(self, database: Database) -> None:
        self._database = database

    async def authenticate(self, header: str | None) -> Principal:
        digest = tokens.token_hash(credential(header))
        now = time.time_ns() // 1_000_000
        token = _unexpired(await self._database.looking_up(lambda s: accounts.live_token(s, digest)), now)
        if token is None:
            raise Unauthenticated(INVALID)
        if token.last_used_time is None or now - token.last_used_time >= LAST_USED_RESOLUTION_MS:
            await self._database.pool.run(lambda: self._record_use(token, now))
        return _principal(token.id, token.user_id, token.user_name, token.scopes, bool(token.is_admin))

    def _record_use(self, token: accounts.LiveToken, now: int) -> None:
        """Best effort, and without waiting: a request must neither fail nor wait because another writer
        holds the database; the time is noted on a later request instead."""
        not_since = now - LAST_USED_RESOLUTION_MS
        try:
            self._database.run(
                lambda s: accounts.mark_used(s, token.id, now, not_since), write=True, wait=False
            )
        except (Unavailable, SQLAlchemyError) as exc:  # locked by another writer, gone away, read-only
            log.warning("could not record the last use of token %d: %s", token.id, exc.__class__.__name__)


def _unexpired(token: accounts.LiveToken | None, now: int) -> accounts.LiveToken | None:
    if token is None or (token.expire_time is not None and token.expire_time <= now):
        return None
    return token


@functools.lru_cache(maxsize=1024)
def _principal(token_id: int, user_id: int, name: str, scopes: str, is_admin: bool) -> Principal:
    """The principal a token row stands for. Memoised as a pure function of the row's values, which are
    read afresh on every request: this saves parsing scopes, not checking them."""
    held = frozenset(Scope(s) for s in scopes.split())
    if not is_admin:
        # A user who lost admin rights keeps tokens that name the scope; they no longer grant it.
        held -= {Scope.ADMIN}
    return Principal(name=name, user_id=user_id, token_id=token_id, granted=expand(held))
