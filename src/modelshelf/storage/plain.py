"""HTTP(S) remotes: the object's own URL, unsigned. A remote that needs auth is refused by Signers, since the
DVC client sends no auth header and handing out the credentials would leak them."""

from __future__ import annotations

from collections.abc import Sequence

from modelshelf.storage.base import check_under
from modelshelf.storage.fetch import http_get


class PlainSigner:
    def __init__(self, remote_url: str) -> None:
        self._remote_url = remote_url
        self.offline = True

    def sign(self, url: str, *, expires_in: int) -> str:
        check_under(url, self._remote_url)
        return url

    def sign_many(self, urls: Sequence[str], *, expires_in: int) -> list[str]:
        return [self.sign(url, expires_in=expires_in) for url in urls]

    def fetch(self, url: str, *, max_bytes: int, timeout: float) -> bytes:
        check_under(url, self._remote_url)
        return http_get(url, shown_url=url, max_bytes=max_bytes, timeout=timeout)
