"""Domain errors. Services raise these; each HTTP face maps them to its own status and body in one place."""

from __future__ import annotations


class RegistryError(Exception):
    """Base of every error a user can cause; `str(err)` is safe to show to that user."""


class InvalidArgument(RegistryError):
    """The request is malformed or asks for something impossible (400)."""


class MissingField(InvalidArgument):
    """A required field is absent or empty (422 on the Kubeflow face)."""


class PayloadTooLarge(InvalidArgument):
    """The request body is larger than the server accepts (413)."""


class NotFound(RegistryError):
    """The addressed entity does not exist, or a find matched zero or several (404)."""


class Conflict(RegistryError):
    """A uniqueness rule would be broken (409)."""


class Unauthenticated(RegistryError):
    """No valid credentials (401)."""


class Forbidden(RegistryError):
    """Valid credentials without the needed permission (403)."""


class Unavailable(RegistryError):
    """A dependency such as the database cannot be reached (503)."""


class DeadlineExceeded(Unavailable):
    """The request ran out of time: a lock held elsewhere, a slow or frozen database, a busy server (503)."""


def shown(value: object, limit: int = 80) -> str:
    """`value` as an error message may quote it: repr, cut to `limit` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
