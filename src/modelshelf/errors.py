"""Domain errors. Services raise these; each HTTP face maps them to its own status and body in one place
(api.errors.Face), so what follows says what each error means, never how a face answers it."""

from __future__ import annotations


class RegistryError(Exception):
    """Base of every error a user can cause; `str(err)` is safe to show to that user."""


class InvalidArgument(RegistryError):
    """The request is malformed or asks for something impossible."""


class MissingField(InvalidArgument):
    """A required field is absent or empty: an invalid argument that a face may tell apart."""


class PayloadTooLarge(InvalidArgument):
    """The request body is larger than the server accepts."""


class NotFound(RegistryError):
    """The addressed entity does not exist, or a find matched zero or several."""


class Conflict(RegistryError):
    """A uniqueness rule would be broken."""


class Unauthenticated(RegistryError):
    """No valid credentials."""


class Forbidden(RegistryError):
    """Valid credentials without the needed permission."""


class Unavailable(RegistryError):
    """A dependency such as the database cannot be reached; trying again later may succeed."""


class DeadlineExceeded(Unavailable):
    """The request ran out of time: a lock held elsewhere, a slow or frozen database, a busy server."""


def shown(value: object, limit: int = 80) -> str:
    """`value` as an error message may quote it: repr, cut to `limit` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
