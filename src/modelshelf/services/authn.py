"""Authentication: from an Authorization header to a Principal, checked on every request.

A revoked or expired token, or a disabled user, is refused on the very next request (Authenticator says
how SQLite lookups stay exact while keeping what they found). Every way a credential can be wrong gives the
same answer, and a token is found by its hash alone (or, kept in memory, by the whole secret), so there
is no "right id, wrong secret" whose timing could tell which part was wrong; only someone who already
holds a token can be answered from memory.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Hashable

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

    On PostgreSQL each request looks its token up with one indexed query. On SQLite, a live token found
    stays in memory, by its secret, only as long as nothing at all has been committed to the database
    since, by any connection of any process: the database's commit marker (store.commits) changes exactly
    then, and reading it costs a small fraction of the query. A revocation, a disabled user or a lost
    admin right is therefore seen on the next request, as with no memory at all; expiry is checked on
    every request. Keeping tokens by secret spares hashing the secret on every request; the secrets of
    tokens in use stay in this process's memory (never on disk, never in a log) until the next commit
    anywhere. Unknown secrets are never kept: anyone can send any number of them.
    """

    MAX_KEPT = 10_000

    def __init__(self, database: Database) -> None:
        self._database = database
        self._caching = database.engine.dialect.name == "sqlite"
        self._marker: Hashable = None
        self._kept: dict[str, accounts.LiveToken] = {}

    def authenticate(self, header: str | None) -> Principal:
        secret = credential(header)
        now = time.time_ns() // 1_000_000
        token = self.find(secret, now)
        if token is None:
            raise Unauthenticated(INVALID)
        if token.last_used_time is None or now - token.last_used_time >= LAST_USED_RESOLUTION_MS:
            self._record_use(secret, token, now)
        return _principal(token.id, token.user_id, token.user_name, token.scopes, bool(token.is_admin))

    def find(self, secret: str, now: int) -> accounts.LiveToken | None:
        """The live token with this secret, if it has not expired by `now` (ms since the epoch)."""
        if not self._caching:
            return _unexpired(accounts.live_token(self._database, tokens.token_hash(secret)), now)
        # The marker is read before the lookup: a commit it does not show was not visible to the lookup
        # either (store.commits).
        try:
            marker = self._database.commit_marker()
        except Unavailable:
            self._forget()  # what was kept cannot be checked any more
            raise
        if marker != self._marker:
            self._kept.clear()
            self._marker = marker
        token = self._kept.get(secret)
        if token is None:
            token = accounts.live_token(self._database, tokens.token_hash(secret))
            if token is not None:
                if len(self._kept) >= self.MAX_KEPT:
                    self._kept.clear()
                self._kept[secret] = token
        return _unexpired(token, now)

    def _forget(self) -> None:
        self._kept.clear()
        self._marker = None

    def _record_use(self, secret: str, token: accounts.LiveToken, now: int) -> None:
        """Best effort, and without waiting: a request must neither fail nor stall (the server has one
        thread) because another writer holds the database; the time is noted on a later request instead.
        """
        try:
            accounts.record_use(self._database, token.id, now, now - LAST_USED_RESOLUTION_MS)
        except (Unavailable, SQLAlchemyError) as exc:  # locked by another writer, gone away, read-only
            log.warning("could not record the last use of token %d: %s", token.id, exc.__class__.__name__)
            return
        # Remember it in the kept token as well: when another process had recorded this use already, our
        # UPDATE changed nothing, the commit marker stays put, and every request would try again.
        if secret in self._kept:
            self._kept[secret] = token._replace(last_used_time=now)


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
