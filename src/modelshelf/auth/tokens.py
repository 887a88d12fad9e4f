"""Opaque API tokens: random, prefixed so secret scanners find them, stored only as a hash.

A token is `msh_` + 43 characters of base64url (32 random bytes). The database keeps SHA-256 of the whole
token and looks it up by that hash alone: there is no "right id, wrong secret" case whose timing could
tell an attacker which part was wrong. A fast hash is enough because the secret has 256 bits of entropy;
password hashing exists for low-entropy secrets.
"""

from __future__ import annotations

import enum
import hashlib
import secrets

PREFIX = "msh_"


class Scope(enum.StrEnum):
    MODELS_READ = "models:read"
    MODELS_WRITE = "models:write"
    PROJECTS_CREATE = "projects:create"
    METRICS_READ = "metrics:read"
    ADMIN = "admin"


def new_token() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def display_prefix(token: str) -> str:
    """Enough of a token to recognise it in a list, far too little to use it. A token not of our making
    (a bootstrap value someone chose) may be a phrase whose start gives the rest away: none of it is kept.
    """
    if not token.startswith(PREFIX):
        return "(custom)"
    return token[: len(PREFIX) + 6]


def parse_scopes(names: list[str] | tuple[str, ...]) -> frozenset[Scope]:
    """Scopes from their names (`models:read`); an unknown name raises ValueError."""
    scopes = set()
    for name in names:
        try:
            scopes.add(Scope(name))
        except ValueError:
            known = ", ".join(s.value for s in Scope)
            raise ValueError(f"unknown scope {name!r}: known scopes are {known}") from None
    return frozenset(scopes)
