"""Azure Blob remotes (`azure://container/prefix`): read-only SAS URLs.

With an account key (a connection string, or account_name + account_key) each URL gets a service SAS
signed offline. Without one, a user delegation key from Entra ID (azure-identity's default credential)
signs instead; that key needs a network call, so it is fetched once and reused for a day.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from modelshelf.errors import Unavailable
from modelshelf.storage.base import check_under, sdk, split_bucket
from modelshelf.storage.errors import MissingCredentials, ObjectUnavailable
from modelshelf.storage.fetch import http_get

# A SAS starts this far in the past, so a storage server whose clock is ahead still accepts it.
CLOCK_SKEW = timedelta(minutes=15)
# User delegation keys last at most 7 days; one is asked for per day and used while it outlives a URL.
DELEGATION_KEY_LIFE = timedelta(days=1)


class AzureSigner:
    def __init__(
        self,
        remote_url: str,
        service: Any,  # azure.storage.blob.BlobServiceClient
        *,
        account_key: str | None,
    ) -> None:
        self._blob = sdk("azure.storage.blob")
        self._remote_url = remote_url
        self._service = service
        self._account_name: str = service.account_name
        self._account_key = account_key
        # An account key signs locally; a user-delegation key has to be fetched over the network.
        self.offline = account_key is not None
        self._containers: dict[str, str] = {}
        self._delegation: tuple[Any, datetime] | None = None
        self._lock = threading.Lock()

    def sign(self, url: str, *, expires_in: int) -> str:
        return self.sign_many([url], expires_in=expires_in)[0]

    def sign_many(self, urls: Sequence[str], *, expires_in: int) -> list[str]:
        now = datetime.now(UTC).replace(microsecond=0)
        start, expiry = now - CLOCK_SKEW, now + timedelta(seconds=expires_in)
        credential = (
            {"account_key": self._account_key}
            if self._account_key is not None
            else {"user_delegation_key": self._delegation_key(now, expiry)}
        )
        permission = self._blob.BlobSasPermissions(read=True)
        signed = []
        for url in urls:
            check_under(url, self._remote_url)
            container, blob = split_bucket(url, "azure")
            sas = self._blob.generate_blob_sas(
                account_name=self._account_name,
                container_name=container,
                blob_name=blob,
                permission=permission,
                start=start,
                expiry=expiry,
                **credential,
            )
            signed.append(f"{self._container_url(container)}/{quote(blob, safe='~/')}?{sas}")
        return signed

    def fetch(self, url: str, *, max_bytes: int, timeout: float) -> bytes:
        try:
            signed = self.sign(url, expires_in=max(60, int(timeout) + 60))
        except MissingCredentials:
            raise
        except Exception as exc:  # the delegation key request failed: network, permissions
            raise ObjectUnavailable(f"cannot sign {url} to fetch it: {type(exc).__name__}") from exc
        return http_get(signed, shown_url=url, max_bytes=max_bytes, timeout=timeout)

    def _container_url(self, container: str) -> str:
        """The SDK's URL for the container (path style on Azurite, a subdomain on Azure); blob names are
        appended as BlobClient.url quotes them."""
        found = self._containers.get(container)
        if found is None:
            found = str(self._service.get_container_client(container).url).split("?")[0].rstrip("/")
            self._containers[container] = found
        return found

    def _delegation_key(self, now: datetime, expiry: datetime) -> Any:
        with self._lock:
            if self._delegation is None or self._delegation[1] < expiry:
                key_expiry = max(now + DELEGATION_KEY_LIFE, expiry)
                try:
                    key = self._service.get_user_delegation_key(
                        key_start_time=now - CLOCK_SKEW, key_expiry_time=key_expiry
                    )
                except Exception as exc:  # Entra ID or the account unreachable, or no delegator role
                    raise Unavailable(
                        f"cannot get a user delegation key for {self._remote_url}: {type(exc).__name__}"
                    ) from exc
                self._delegation = (key, key_expiry)
            return self._delegation[0]
