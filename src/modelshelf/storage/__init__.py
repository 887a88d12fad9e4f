"""Download URLs for the objects in DVC remotes: a signer per kind of storage (S3, Azure Blob, Google Cloud
Storage, plain HTTP), chosen by the remote's URL and configured from the server's `[[storage]]` entries."""

from modelshelf.storage.base import Signer
from modelshelf.storage.errors import (
    MissingCredentials,
    MissingSdk,
    ObjectUnavailable,
    StorageProblem,
    UnsupportedRemote,
)
from modelshelf.storage.signers import Signers

__all__ = [
    "MissingCredentials",
    "MissingSdk",
    "ObjectUnavailable",
    "Signer",
    "Signers",
    "StorageProblem",
    "UnsupportedRemote",
]
