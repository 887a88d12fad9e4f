"""S3 and S3-compatible remotes (MinIO, Ceph, moto): SigV4 presigned GET URLs.

boto3's `generate_presigned_url` costs about 175 µs per URL here (its event system, endpoint rules and
request objects), too slow for a 1,000-file directory. So boto3 presigns one probe object per bucket,
which fixes everything that depends on configuration (host, addressing style, the region in the
credential scope); the other URLs are signed by botocore's own SigV4 query signer (S3SigV4QueryAuth) on
that layout, about 60 µs each. The probe is signed both ways and compared; on any difference, or a query
parameter this code does not know, the bucket uses boto3 per URL. Signing stays in botocore: a
hand-written SigV4 would be faster still (9 µs), and is not worth owning crypto code.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from modelshelf.errors import Unavailable
from modelshelf.storage.base import check_under, split_bucket
from modelshelf.storage.errors import ObjectUnavailable
from modelshelf.storage.fetch import http_get

_PROBE_KEY = "modelshelf-probe"
_AUTH_PARAMS = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders")
_TOKEN_PARAM = "X-Amz-Security-Token"


@dataclass(frozen=True)
class _Bucket:
    """What the probe fixed for one bucket: everything before the key, and the scope's region."""

    origin: str  # scheme://netloc, as boto3 wrote it
    host: str  # the signed host header (no default port)
    path_prefix: str  # "/" (virtual host) or "/bucket/" (path style), already encoded
    region: str
    fast: bool  # False: the probe's signature could not be reproduced, so boto3 signs every URL


class S3Signer:
    def __init__(self, remote_url: str, client: Any, credentials: Any) -> None:
        # credentials: the botocore Credentials of the client's session, possibly refreshable.
        self._remote_url = remote_url
        self._client = client
        self._credentials = credentials
        # Static keys sign locally; refreshable ones (roles, SSO) may call the network when they expire.
        self.offline = type(credentials).__name__ == "Credentials"
        # Only built once boto3 imported, so botocore is there; looked up at call time so tests can freeze it.
        self._botocore_auth = importlib.import_module("botocore.auth")
        self._awsrequest = importlib.import_module("botocore.awsrequest")
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def sign(self, url: str, *, expires_in: int) -> str:
        return self.sign_many([url], expires_in=expires_in)[0]

    def sign_many(self, urls: Sequence[str], *, expires_in: int) -> list[str]:
        credentials = self._frozen_credentials()
        signed = []
        for url in urls:
            check_under(url, self._remote_url)
            bucket_name, key = split_bucket(url, "s3")
            bucket = self._bucket(bucket_name)
            if bucket.fast:
                signed.append(self._fast(bucket, key, credentials, expires_in))
            else:
                signed.append(self._boto3(bucket_name, key, expires_in))
        return signed

    def fetch(self, url: str, *, max_bytes: int, timeout: float) -> bytes:
        try:
            signed = self.sign(url, expires_in=max(60, int(timeout) + 60))
        except Exception as exc:  # credentials that cannot be refreshed, an endpoint botocore rejects
            raise ObjectUnavailable(f"cannot sign {url} to fetch it: {type(exc).__name__}") from exc
        return http_get(signed, shown_url=url, max_bytes=max_bytes, timeout=timeout)

    def _frozen_credentials(self) -> Any:
        try:
            return self._credentials.get_frozen_credentials()
        except Exception as exc:  # a refresh (instance role, SSO, assume-role) failed: try again later
            raise Unavailable(
                f"cannot refresh the credentials for {self._remote_url}: {type(exc).__name__}"
            ) from exc

    def _boto3(self, bucket: str, key: str, expires_in: int) -> str:
        url: str = self._client.generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=expires_in
        )
        return url

    def _bucket(self, name: str) -> _Bucket:
        found = self._buckets.get(name)
        if found is None:
            with self._lock:
                found = self._buckets.get(name) or self._probe(name)
                self._buckets[name] = found
        return found

    def _probe(self, name: str) -> _Bucket:
        probe = self._boto3(name, _PROBE_KEY, 3600)
        parts = urlsplit(probe)
        query = dict(pair.partition("=")[::2] for pair in parts.query.split("&"))
        scope = unquote(query.get("X-Amz-Credential", "")).split("/")
        suffix = "/" + _PROBE_KEY
        known = {*_AUTH_PARAMS, _TOKEN_PARAM, "X-Amz-Signature"}
        usable = (
            parts.path.endswith(suffix)
            and set(query) <= known
            and len(scope) == 5
            and query.get("X-Amz-SignedHeaders") == "host"
        )
        bucket = _Bucket(
            origin=f"{parts.scheme}://{parts.netloc}",
            host=_host_header(probe),
            path_prefix=parts.path[: -len(_PROBE_KEY)] if usable else "",
            region=scope[2] if usable else "",
            fast=usable,
        )
        if usable:
            credentials = self._frozen_credentials()
            again = self._fast(bucket, _PROBE_KEY, credentials, 3600)
            if _unsigned(again) != _unsigned(probe):
                bucket = _Bucket(bucket.origin, bucket.host, bucket.path_prefix, bucket.region, fast=False)
        return bucket

    def _fast(self, bucket: _Bucket, key: str, credentials: Any, expires_in: int) -> str:
        """botocore's own SigV4 query signer on the URL the probe laid out: what boto3 would return,
        without its per-call endpoint resolution and event hooks."""
        url = bucket.origin + bucket.path_prefix + quote(key, safe="/~")
        request = self._awsrequest.AWSRequest(method="GET", url=url, headers={})
        self._botocore_auth.S3SigV4QueryAuth(credentials, "s3", bucket.region, expires=expires_in).add_auth(
            request
        )
        return str(request.url)


def _unsigned(url: str) -> str:
    """A presigned URL without what changes from one second to the next (its date and signature)."""
    parts = urlsplit(url)
    kept = [p for p in parts.query.split("&") if not p.startswith(("X-Amz-Date=", "X-Amz-Signature="))]
    return f"{parts.scheme}://{parts.netloc}{parts.path}?{'&'.join(kept)}"


def _host_header(url: str) -> str:
    """botocore.auth._host_from_url: lowercase, no default port."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port is not None and parts.port != {"http": 80, "https": 443}.get(parts.scheme):
        host = f"{host}:{parts.port}"
    return host
