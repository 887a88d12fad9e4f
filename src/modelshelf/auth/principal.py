"""Who is asking, and what the scopes they hold let them do."""

from __future__ import annotations

from dataclasses import dataclass

from modelshelf.auth.tokens import Scope

# A scope also grants the scopes listed here: writing models implies reading them, and an admin may do
# everything. A token for exactly one job can still be made by giving only the lesser scope.
IMPLIED: dict[Scope, frozenset[Scope]] = {
    Scope.MODELS_READ: frozenset(),
    Scope.MODELS_WRITE: frozenset({Scope.MODELS_READ}),
    Scope.PROJECTS_CREATE: frozenset(),
    Scope.METRICS_READ: frozenset(),
    Scope.ADMIN: frozenset(Scope),
}


def expand(scopes: frozenset[Scope]) -> frozenset[Scope]:
    """Every scope that `scopes` grants, directly or by implication."""
    granted = set(scopes)
    for scope in scopes:
        granted |= IMPLIED[scope]
    return frozenset(granted)


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller of one request: a user acting through one token, or nobody when auth is off."""

    name: str | None  # the user's name; None for --no-auth
    user_id: int | None
    token_id: int | None
    granted: frozenset[Scope]  # expanded: already includes implied scopes
    via: str = "api"  # how the request came: api | cli | no-auth

    def may(self, scope: Scope) -> bool:
        return scope in self.granted


ANONYMOUS = Principal(name=None, user_id=None, token_id=None, granted=frozenset(Scope), via="no-auth")
# The CLI runs on the server with its database credentials, so whoever runs it is trusted like them.
CLI = Principal(name=None, user_id=None, token_id=None, granted=frozenset(Scope), via="cli")
