"""What every signer shares: the Signer interface, splitting `scheme://bucket/key` URLs, and the lazy import
of an optional SDK."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from types import ModuleType
from typing import Protocol

from modelshelf.errors import shown
from modelshelf.storage.errors import MissingSdk

# The extra that installs each SDK, for the message when it is missing.
_EXTRAS = {"boto3": "s3", "azure.storage.blob": "azure", "google.cloud.storage": "gcs"}
_KINDS = {"boto3": "S3", "azure.storage.blob": "Azure", "google.cloud.storage": "Google Cloud Storage"}


class Signer(Protocol):
    """Turns the URL of an object in one DVC remote (in the remote's own scheme) into an absolute http(s)
    URL that a client without credentials can GET, and fetches small objects (`.dir` manifests)."""

    offline: bool  # signing does no I/O (static keys): a request may sign on the event loop

    def sign(self, url: str, *, expires_in: int) -> str: ...

    def sign_many(self, urls: Sequence[str], *, expires_in: int) -> list[str]: ...

    def fetch(self, url: str, *, max_bytes: int, timeout: float) -> bytes: ...


def sdk(module: str) -> ModuleType:
    """Import an optional SDK, or say which extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        top = module.split(".")[0] if module == "boto3" else module.replace(".", "-")
        raise MissingSdk(
            f"{_KINDS[module]} remotes need {top}: pip install 'modelshelf[{_EXTRAS[module]}]'"
        ) from None


def split_bucket(url: str, scheme: str) -> tuple[str, str]:
    """`s3://bucket/some/key` -> ("bucket", "some/key"); the key keeps its raw form (the SDKs encode it)."""
    if not url.startswith(scheme + "://"):
        raise ValueError(f"expected a {scheme}:// URL, got {shown(url)}")
    bucket, _, key = url[len(scheme) + 3 :].partition("/")
    return bucket, key


def check_under(url: str, remote_url: str) -> None:
    """A signer signs only objects of its own remote; anything else is a caller's bug."""
    if not url.startswith(remote_url.rstrip("/") + "/"):
        raise ValueError(f"{shown(url)} is not an object of the remote {shown(remote_url)}")
