"""The Kubeflow face's paging vocabulary: `orderBy` names and `nextPageToken` text.

A token is `base64("<id>:<order value>")` of the row that ended the previous page, the store's `After`
cursor. The official clients' pagers pass it back unchanged and expect the same token every time the
same row ends a page, so its text must not change.
"""

from __future__ import annotations

import base64
import binascii
import re

from modelshelf.domain.entities import INT32_MAX
from modelshelf.errors import InvalidArgument
from modelshelf.store.repository import After, SortKey

# orderBy as the API spells it; the store's keys happen to have the same names, but the wire's are these.
ORDER_BY = {
    "ID": SortKey.ID,
    "CREATE_TIME": SortKey.CREATE_TIME,
    "LAST_UPDATE_TIME": SortKey.LAST_UPDATE_TIME,
}

_TOKEN = re.compile(r"([1-9][0-9]{0,9}):(-?[0-9]{1,19})")


def sort_key(order_by: str) -> SortKey:
    key = ORDER_BY.get(order_by)
    if key is None:
        raise InvalidArgument(f"invalid orderBy {order_by[:40]!r}: must be one of {', '.join(ORDER_BY)}")
    return key


def encode_token(after: After | None) -> str:
    """The token of a cursor; "" when there is no next page."""
    if after is None:
        return ""
    return base64.b64encode(f"{after.id}:{after.value}".encode()).decode()


def decode_token(token: str) -> After | None:
    """The boundary row a token names (None for "", the first page); anything a token of ours cannot be
    is a 400, never a query."""
    if not token:
        return None
    try:
        match = (
            _TOKEN.fullmatch(base64.b64decode(token, validate=True).decode()) if len(token) <= 1024 else None
        )
    except (ValueError, binascii.Error):
        match = None
    if match is not None:
        id_, value = int(match[1]), int(match[2])
        if id_ <= INT32_MAX and -(2**63) <= value < 2**63:
            return After(id_, value)
    raise InvalidArgument(f"invalid nextPageToken: {token[:64]!r}")
