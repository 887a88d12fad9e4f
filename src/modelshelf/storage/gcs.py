"""Google Cloud Storage remotes (`gs://bucket/prefix`): V4 signed URLs from a service account's private key.

Signing is offline (an RSA signature per URL, about a millisecond each). Credentials without a private key
(user or workload identity) would need the IAM signBlob API, a network call per URL, so they are refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from modelshelf.storage.base import check_under, sdk, split_bucket
from modelshelf.storage.errors import ObjectUnavailable
from modelshelf.storage.fetch import http_get


class GcsSigner:
    def __init__(self, remote_url: str, credentials: Any, *, endpoint_url: str | None) -> None:
        storage = sdk("google.cloud.storage")
        self._remote_url = remote_url
        self._credentials = credentials
        self.offline = True  # a service account key signs locally
        self._endpoint = endpoint_url
        # No project lookup, no network: the client only carries the credentials to each blob.
        self._client = storage.Client(
            project=getattr(credentials, "project_id", None) or "modelshelf", credentials=credentials
        )

    def sign(self, url: str, *, expires_in: int) -> str:
        return self.sign_many([url], expires_in=expires_in)[0]

    def sign_many(self, urls: Sequence[str], *, expires_in: int) -> list[str]:
        extra = {} if self._endpoint is None else {"api_access_endpoint": self._endpoint.rstrip("/")}
        signed = []
        for url in urls:
            check_under(url, self._remote_url)
            bucket, key = split_bucket(url, "gs")
            signed.append(
                str(
                    self._client.bucket(bucket)
                    .blob(key)
                    .generate_signed_url(
                        version="v4",
                        expiration=timedelta(seconds=expires_in),
                        method="GET",
                        credentials=self._credentials,
                        **extra,
                    )
                )
            )
        return signed

    def fetch(self, url: str, *, max_bytes: int, timeout: float) -> bytes:
        try:
            signed = self.sign(url, expires_in=max(60, int(timeout) + 60))
        except Exception as exc:  # a key the signer cannot use
            raise ObjectUnavailable(f"cannot sign {url} to fetch it: {type(exc).__name__}") from exc
        return http_get(signed, shown_url=url, max_bytes=max_bytes, timeout=timeout)
