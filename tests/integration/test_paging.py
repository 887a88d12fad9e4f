"""The pager contract the official client depends on (reference/kubeflow/API.md §6)."""

from __future__ import annotations

import base64

import pytest
from starlette.testclient import TestClient

from tests.integration.kf import V1, error, model, ok


def _walk(client: TestClient, **params: str) -> tuple[list[str], list[str]]:
    names, tokens = [], []
    token = ""
    while True:
        page = ok(client.get(f"{V1}/registered_models", params={**params, "nextPageToken": token}))
        names += [m["name"] for m in page["items"]]
        assert page["size"] == len(page["items"])
        token = page["nextPageToken"]
        tokens.append(token)
        if not token:
            return names, tokens


@pytest.mark.parametrize("order_by", ["ID", "CREATE_TIME", "LAST_UPDATE_TIME"])
@pytest.mark.parametrize("sort_order", ["ASC", "DESC"])
def test_pages_cover_everything_once_in_order(client: TestClient, order_by: str, sort_order: str) -> None:
    expected = [f"m{i:02}" for i in range(21)]
    for name in expected:
        model(client, name)
    names, tokens = _walk(client, pageSize="10", orderBy=order_by, sortOrder=sort_order)
    assert names == (expected if sort_order == "ASC" else list(reversed(expected)))
    assert len(tokens) == 3 and tokens[-1] == ""  # 10 + 10 + 1, the last page says ""


def test_empty_token_restarts_with_identical_tokens(client: TestClient) -> None:
    for i in range(3):
        model(client, f"m{i}")
    first = ok(client.get(f"{V1}/registered_models", params={"pageSize": "2", "sortOrder": "ASC"}))
    again = ok(
        client.get(
            f"{V1}/registered_models", params={"pageSize": "2", "sortOrder": "ASC", "nextPageToken": ""}
        )
    )
    assert first == again and first["nextPageToken"] and first["pageSize"] == 2
    assert base64.b64decode(first["nextPageToken"]).decode() == "2:2"  # "<id>:<order value>" of the last row


def test_last_page_exactly_full_has_no_token(client: TestClient) -> None:
    for i in range(4):
        model(client, f"m{i}")
    page = ok(client.get(f"{V1}/registered_models", params={"pageSize": "2"}))
    page = ok(
        client.get(
            f"{V1}/registered_models", params={"pageSize": "2", "nextPageToken": page["nextPageToken"]}
        )
    )
    assert page["size"] == 2 and page["nextPageToken"] == ""


def test_no_page_size_returns_everything_with_page_size_zero(client: TestClient) -> None:
    for i in range(3):
        model(client, f"m{i}")
    page = ok(client.get(f"{V1}/registered_models"))
    assert page["size"] == 3 and page["pageSize"] == 0 and page["nextPageToken"] == ""


@pytest.mark.parametrize(
    "params",
    [
        {"pageSize": "abc"},
        {"pageSize": "-1"},
        {"pageSize": "99999999999"},
        {"orderBy": "NAME"},
        {"sortOrder": "UP"},
        {"nextPageToken": "!!!not-base64!!!"},
        {"nextPageToken": base64.b64encode(b"x:y").decode()},
        {"nextPageToken": "A" * 2000},
    ],
)
def test_bad_paging_parameters_are_400(client: TestClient, params: dict[str, str]) -> None:
    error(client.get(f"{V1}/registered_models", params=params), 400)
