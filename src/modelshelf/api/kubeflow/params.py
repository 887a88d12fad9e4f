"""Query parameters of the Kubeflow API: ids, paging, ordering, finds."""

from __future__ import annotations

import re

from starlette.requests import Request

from modelshelf.api.kubeflow import paging
from modelshelf.api.kubeflow.codec import parse_id
from modelshelf.domain.entities import ARTIFACTS, INT32_MAX
from modelshelf.errors import InvalidArgument
from modelshelf.store.repository import ListQuery

SORT_ORDERS = ("ASC", "DESC")
_DIGITS = re.compile(r"[0-9]{1,10}")
_STEP_IDS = re.compile(r"[0-9]{1,9}(?:,[0-9]{1,9})*")
ARTIFACT_TYPES = tuple(ARTIFACTS)


def query_param(request: Request, name: str) -> str | None:
    value = request.query_params.get(name)
    if value is not None and "\x00" in value:
        raise InvalidArgument(f"query parameter {name} contains a NUL character")
    return value


def path_id(request: Request, name: str = "id") -> int:
    return parse_id(request.path_params[name])


def optional_id(request: Request, name: str) -> int | None:
    value = query_param(request, name)
    return None if value is None or value == "" else parse_id(value, name)


def text(request: Request, name: str) -> str | None:
    """A find parameter; an empty value counts as not given."""
    value = query_param(request, name)
    return value or None


def list_query(request: Request, **where: object) -> ListQuery:
    page_size_text = query_param(request, "pageSize")
    page_size = 0
    if page_size_text:
        # ASCII digits only: int() would also take " 2", "+2", "2_0" and other scripts' digits.
        if not _DIGITS.fullmatch(page_size_text) or int(page_size_text) > INT32_MAX:
            raise InvalidArgument(
                f"pageSize must be a whole number from 0 to {INT32_MAX}, got {page_size_text[:40]!r}"
            )
        page_size = int(page_size_text)
    sort_key = paging.sort_key(query_param(request, "orderBy") or "ID")
    sort_order = query_param(request, "sortOrder") or "ASC"
    if sort_order not in SORT_ORDERS:
        raise InvalidArgument(f"invalid sortOrder {sort_order[:40]!r}: must be ASC or DESC")
    return ListQuery(
        filter_query=query_param(request, "filterQuery"),
        sort_key=sort_key,
        descending=sort_order == "DESC",
        page_size=page_size,
        after=paging.decode_token(query_param(request, "nextPageToken") or ""),
        where={k: v for k, v in where.items() if v is not None},
    )


def artifact_type(request: Request) -> str | None:
    value = query_param(request, "artifactType")
    if value is None:
        return None
    if value not in ARTIFACT_TYPES:
        raise InvalidArgument(
            f"invalid artifactType {value[:40]!r}: must be one of {', '.join(ARTIFACT_TYPES)}"
        )
    return value


def step_ids(request: Request) -> tuple[int, ...] | None:
    """`stepIds`, a comma-separated list of steps (metric history); absent or empty: every step."""
    value = query_param(request, "stepIds")
    if not value:
        return None
    if not _STEP_IDS.fullmatch(value) or value.count(",") >= 1000:
        raise InvalidArgument(
            f"invalid stepIds {value[:40]!r}: must be up to 1000 comma-separated whole numbers, such as 1,2,3"
        )
    return tuple(sorted({int(step) for step in value.split(",")}))
