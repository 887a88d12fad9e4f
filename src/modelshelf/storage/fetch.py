"""One GET of a (signed) object URL with a deadline for the whole exchange and a size limit.

http.client rather than urllib: its connection's socket is public, so every read waits at most for what
is left of the deadline, and a server that drips bytes cannot hold the caller past it.
"""

from __future__ import annotations

import http.client
import ssl
import time
from urllib.parse import urljoin, urlsplit

from modelshelf.storage.errors import ObjectUnavailable

_REDIRECTS = {301, 302, 303, 307, 308}
_MAX_REDIRECTS = 5
_CHUNK = 65536


def http_get(url: str, *, shown_url: str, max_bytes: int, timeout: float) -> bytes:
    """The body of a 200 answer to GET `url`, following a few redirects. `shown_url` (the object's URL in
    its remote, without a signature) is the only URL an error message names."""
    deadline = time.monotonic() + timeout
    for _ in range(_MAX_REDIRECTS + 1):
        status, location, body = _get_once(url, shown_url, max_bytes, deadline, timeout)
        if status == 200:
            return body
        if status in _REDIRECTS and location:
            url = urljoin(url, location)
            continue
        raise ObjectUnavailable(f"fetching {shown_url} failed: HTTP {status}")
    raise ObjectUnavailable(f"fetching {shown_url} failed: more than {_MAX_REDIRECTS} redirects")


def _left(deadline: float, shown_url: str, timeout: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise ObjectUnavailable(f"fetching {shown_url} took more than {timeout:g} s")
    return left


def _get_once(
    url: str, shown_url: str, max_bytes: int, deadline: float, timeout: float
) -> tuple[int, str | None, bytes]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ObjectUnavailable(f"fetching {shown_url} failed: not an http(s) URL")
    conn: http.client.HTTPConnection
    if parts.scheme == "https":
        conn = http.client.HTTPSConnection(
            parts.netloc, timeout=_left(deadline, shown_url, timeout), context=ssl.create_default_context()
        )
    else:
        conn = http.client.HTTPConnection(parts.netloc, timeout=_left(deadline, shown_url, timeout))
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        conn.connect()
        conn.request("GET", target, headers={"Accept-Encoding": "identity"})
        _tighten(conn, deadline, shown_url, timeout)
        response = conn.getresponse()
        if response.status != 200:
            return response.status, response.getheader("Location"), b""
        length = response.getheader("Content-Length")
        if length is not None and length.isdigit() and int(length) > max_bytes:
            raise ObjectUnavailable(f"{shown_url} is larger than {max_bytes} bytes")
        chunks: list[bytes] = []
        size = 0
        while True:
            _tighten(conn, deadline, shown_url, timeout)
            chunk = response.read1(_CHUNK)
            if not chunk:
                return 200, None, b"".join(chunks)
            size += len(chunk)
            if size > max_bytes:
                raise ObjectUnavailable(f"{shown_url} is larger than {max_bytes} bytes")
            chunks.append(chunk)
    except ObjectUnavailable:
        raise
    except TimeoutError as exc:
        raise ObjectUnavailable(f"fetching {shown_url} took more than {timeout:g} s") from exc
    except (OSError, http.client.HTTPException) as exc:
        raise ObjectUnavailable(f"fetching {shown_url} failed: {type(exc).__name__}") from exc
    finally:
        conn.close()


def _tighten(conn: http.client.HTTPConnection, deadline: float, shown_url: str, timeout: float) -> None:
    if conn.sock is not None:
        conn.sock.settimeout(_left(deadline, shown_url, timeout))
