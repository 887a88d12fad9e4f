"""The storage package's domain errors. None of their messages holds a secret or a signed URL's query."""

from __future__ import annotations

from modelshelf.errors import RegistryError, Unavailable


class StorageProblem(RegistryError):
    """A DVC remote that this server cannot hand out download URLs for; the repository or the server's
    `[[storage]]` configuration must change, so retrying does not help."""


class UnsupportedRemote(StorageProblem):
    """The remote's kind (ssh, hdfs, a local path, ...) or its options (an http remote with auth) rule out
    URLs that a client can download without credentials of its own."""


class MissingCredentials(StorageProblem):
    """No `[[storage]]` entry matches the remote and the SDK's standard credential chain found none."""


class MissingSdk(StorageProblem):
    """The optional package that signs for this kind of remote is not installed."""


class ObjectUnavailable(Unavailable):
    """An object could not be fetched from its remote: network, missing object, timeout, too large."""
