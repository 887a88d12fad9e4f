"""Robustness of the Kubeflow face: query parameters of lists and finds.

Paging (`pageSize`, `nextPageToken`), ordering, `artifactType`, `filterQuery` and NUL characters anywhere
in a query string: a bad value is a 400 on every list, never a 500.
"""

from __future__ import annotations

import base64

import pytest
from starlette.testclient import TestClient

from tests.integration.kf import V1, model, ok
from tests.integration.robustness import Registry, World, assert_error_body

LIST_PATHS = [
    "/registered_models",
    "/registered_models/{m}/versions",
    "/model_versions",
    "/model_versions/{v}/artifacts",
    "/artifacts",
    "/model_artifacts",
    "/serving_environments",
    "/serving_environments/{se}/inference_services",
    "/inference_services",
    "/inference_services/{svc}/serves",
]


# --- NUL characters in query parameters ----------------------------------------------------------------


@pytest.mark.parametrize(
    "requests",
    [
        pytest.param(
            [
                ("/registered_models", {"filterQuery": "name = 'a\x00'"}),
                ("/registered_models", {"pageSize": "1\x00"}),
                ("/registered_models", {"orderBy": "ID\x00"}),
                ("/registered_models", {"sortOrder": "ASC\x00"}),
                ("/registered_models", {"nextPageToken": "\x00"}),
                ("/artifacts", {"artifactType": "metric\x00"}),
                ("/registered_models/{m}/versions", {"name": "world-version\x00"}),
                ("/model_versions/{v}/artifacts", {"externalId": "\x00"}),
            ],
            id="list parameters",
        ),
        pytest.param(
            [
                ("/registered_model", {"name": "world-model\x00"}),
                ("/registered_model", {"externalId": "\x00"}),
                ("/serving_environment", {"name": "\x00world-env"}),
                ("/model_version", {"name": "world-version", "parentResourceId": "{m}\x00"}),
                ("/artifact", {"name": "world-artifact\x00", "parentResourceId": "{v}"}),
                ("/model_artifact", {"externalId": "\x00"}),
                ("/inference_service", {"name": "world-service", "parentResourceId": "\x00"}),
            ],
            id="find parameters",
        ),
        # upstream's validation middleware rejects a NUL anywhere in the query string
        pytest.param(
            [
                ("/registered_models", {"unused": "\x00"}),
                ("/registered_model", {"name": "x", "un\x00used": "1"}),
            ],
            id="anywhere in the query",
        ),
    ],
)
def test_nul_in_a_query_parameter_is_rejected(
    registry: Registry, requests: list[tuple[str, dict[str, str]]]
) -> None:
    world = registry.world
    for path, params in requests:
        query = {k: v.format(**world) for k, v in params.items()}
        registry.rejects("GET", V1 + path.format(**world), params=query)


# --- list parameters ---------------------------------------------------------------------------------------


def rejects_list_params(registry: Registry, params: list[dict[str, str]], *fragments: str) -> None:
    for query in params:
        for path in LIST_PATHS:
            registry.rejects("GET", V1 + path.format(**registry.world), 400, *fragments, params=query)


@pytest.mark.parametrize(
    "sizes",
    [
        pytest.param(["-1", "-2147483648"], id="negative"),
        pytest.param(["abc", "1.5", "1e3", "0x10", "true"], id="not a number"),
        pytest.param([" 1", "1 ", "\uff11", "\u0661"], id="padded or non-ASCII digits"),
        pytest.param(["2147483648", "99999999999999999999"], id="beyond int32"),
    ],
)
def test_bad_page_size_is_rejected(registry: Registry, sizes: list[str]) -> None:
    rejects_list_params(registry, [{"pageSize": size} for size in sizes])


@pytest.mark.parametrize("page_size", ["+1", "01"])
def test_unusual_but_numeric_page_size_is_rejected_or_applied_as_echoed(
    client: TestClient, world: World, page_size: str
) -> None:
    model(client, "second-model")
    response = client.get(f"{V1}/registered_models", params={"pageSize": page_size})
    if response.status_code == 400:
        assert_error_body(response, 400)
        return
    page = ok(response)
    # whatever page size the server applied is the one it reports
    assert page["size"] == 1 and page["pageSize"] == 1 and page["nextPageToken"], page


def test_bad_ordering_is_rejected(registry: Registry) -> None:
    params = [{"orderBy": value} for value in ("NAME", "id", "CREATE_TIME ", "1")]
    params += [{"sortOrder": value} for value in ("asc", "DOWN", "1")]
    rejects_list_params(registry, params)


def _token(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    "tokens",
    [
        pytest.param(
            [
                "!!!",
                "A" * 2000,
                _token("12"),
                _token(":"),
                _token("1:"),
                _token("1:1:1"),
                _token("abc:1"),
                _token("1:abc"),
                base64.b64encode(b"\xff\xfe:1").decode(),
            ],
            id="malformed",
        ),
        # decodable, but no page boundary can have these ids or values: ids are int32, times int64
        pytest.param(
            [
                _token("2147483648:1"),
                _token("99999999999999999999:1"),
                _token("1:99999999999999999999999"),
                _token("-9223372036854775809:1"),
            ],
            id="out of range",
        ),
    ],
)
def test_bad_next_page_token_is_rejected(registry: Registry, tokens: list[str]) -> None:
    params = [
        {"nextPageToken": token, "orderBy": order_by, "pageSize": "1"}
        for token in tokens
        for order_by in ("ID", "CREATE_TIME", "LAST_UPDATE_TIME")
    ]
    rejects_list_params(registry, params)


def test_bad_artifact_type_parameter_is_rejected(registry: Registry) -> None:
    for artifact_type in ("", "model", "Model-Artifact", "model-artifact ", "experiment-run"):
        for path in ("/artifacts", "/model_versions/{v}/artifacts"):
            url = V1 + path.format(**registry.world)
            registry.rejects("GET", url, params={"artifactType": artifact_type})


# --- filterQuery -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "queries",
    [
        pytest.param(
            ["name", "name =", "name LIKE", "name = 'a' AND", "AND name = 'a'", "()"], id="incomplete"
        ),
        pytest.param(
            ["name = 'a", 'name = "a', "`name = 'a'", "(name = 'a'", "name = 'a')"], id="unterminated"
        ),
        pytest.param(
            ["= 'a'", "1 = 1", "'a' = name", "name == 'a'", "name = 'a' name = 'b'"], id="misplaced"
        ),
        pytest.param(
            ["name = 'a' OR OR name = 'b'", "name = 1.2.3", "name.string_value.x = 'a'."], id="garbled"
        ),
        pytest.param(
            ["name = a", "name IN 'a'", "name IN ('a'", "name IN ('a',)", "name = ()"], id="bad values"
        ),
        pytest.param(["name ~ 'a'", "name = 'a'; DROP TABLE x", "\u00fc = 1"], id="unknown characters"),
        pytest.param(["NOT name = 'a'", "name IS NULL", "name BETWEEN 'a' AND 'b'"], id="unsupported SQL"),
    ],
)
def test_filter_with_a_syntax_error_is_rejected(registry: Registry, queries: list[str]) -> None:
    rejects_list_params(registry, [{"filterQuery": query} for query in queries], "invalid filter")


@pytest.mark.parametrize(
    "queries",
    [
        pytest.param(["id = 'abc'", "id > 1.5", "id = true", "id LIKE '1%'", "id IN ('a', 1)"], id="ids"),
        pytest.param(["createTimeSinceEpoch = 'yesterday'", "name = true", "name LIKE 1"], id="columns"),
        pytest.param(
            ["p.int_value = 'a'", "p.int_value = 1.5", "p.bool_value = 3", "p.double_value = 'a'"],
            id="typed properties",
        ),
        pytest.param(["id = 99999999999999999999", "p = 1e400", "p = -1e400"], id="numbers beyond 64 bits"),
    ],
)
def test_filter_with_a_value_of_the_wrong_type_is_rejected(registry: Registry, queries: list[str]) -> None:
    rejects_list_params(registry, [{"filterQuery": query} for query in queries], "invalid filter")


def test_filter_beyond_the_limits_is_rejected(registry: Registry) -> None:
    queries = [
        "(" * 3000 + "name = 'a'" + ")" * 3000,
        " OR ".join(["name = 'a'"] * 3000),
        "id IN (" + ",".join(["1"] * 6000) + ")",
    ]
    for query in queries:
        for path in ("/registered_models", "/model_versions/{v}/artifacts", "/inference_services"):
            url = V1 + path.format(**registry.world)
            registry.rejects("GET", url, 400, "invalid filter", params={"filterQuery": query})


def test_filter_with_an_integer_beyond_the_column_range_is_answered(client: TestClient, world: World) -> None:
    """No stored value can match such a number: the answer is an empty list or a 400, never a 500."""
    queries = [
        "id = 2147483648",
        "id > 9223372036854775807",
        "id < -9223372036854775808",
        "id IN (2147483648, 3000000000)",
        "registeredModelId = 3000000000",
        "modelVersionId = -2147483649",
        "servingEnvironmentId = 4294967297",
        "createTimeSinceEpoch > 9223372036854775807",
        "p.int_value = 9223372036854775807",
    ]
    for query in queries:
        for path in LIST_PATHS:
            response = client.get(V1 + path.format(**world), params={"filterQuery": query})
            if response.status_code == 400:
                assert_error_body(response, 400, "invalid filter")
                continue
            assert response.status_code == 200, (path, query, response.status_code, response.text[:300])
            assert response.json()["items"] == [], (path, query)
