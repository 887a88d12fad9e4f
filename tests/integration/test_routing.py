"""PrefixRouter takes a shortcut to the SegmentRouters under it; what a handler sees must not change.

Each case runs the same request through a plain Starlette Router and through a PrefixRouter over the same
routes, and compares what the handler saw and what the client got.
"""

from __future__ import annotations

from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route, Router
from starlette.testclient import TestClient

from modelshelf.api.kubeflow.errors import KUBEFLOW
from modelshelf.api.router import PrefixRouter, SegmentRouter


async def _echo(request: Request) -> Response:
    scope = request.scope
    return JSONResponse(
        {
            "root_path": scope.get("root_path"),
            "app_root_path": scope.get("app_root_path"),
            "path_params": scope.get("path_params"),
            "url": str(request.url),
            "base_url": str(request.base_url),
            "endpoint": type(scope.get("endpoint")).__name__,
            "route": type(scope.get("route")).__name__,
        }
    )


async def _plain(_request: Request) -> Response:
    return JSONResponse({"plain": True})


def _routes() -> list[Any]:
    table = [("GET", "/things/{id}", _echo, None), ("POST", "/things", _echo, None)]
    return [
        Mount("/api/v1", app=SegmentRouter(table, KUBEFLOW)),
        Mount("/api/v1alpha3", app=SegmentRouter(table, KUBEFLOW)),
        Route("/healthz", _plain, methods=["GET"]),
    ]


def _client(router_class: type[Router], root_path: str = "", routes: list[Any] | None = None) -> TestClient:
    app = Starlette()
    app.router = router_class(_routes() if routes is None else routes)
    return TestClient(app, root_path=root_path, follow_redirects=False)


def _both(method: str, path: str, root_path: str = "", routes: list[Any] | None = None) -> tuple[Any, Any]:
    answers = []
    for router_class in (Router, PrefixRouter):
        response = _client(router_class, root_path, routes).request(method, path)
        is_json = response.headers.get("content-type") == "application/json"
        body = response.json() if is_json else response.text
        answers.append((response.status_code, response.headers.get("allow"), body))
    return answers[0], answers[1]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/things/7"),
        ("GET", "/api/v1alpha3/things/7"),  # "/api/v1" is a prefix of it as text, not as a path
        ("POST", "/api/v1/things"),
        ("DELETE", "/api/v1/things/7"),  # 405 from the segment router
        ("GET", "/api/v1/nothing/here"),  # 404 from the segment router
        ("GET", "/api/v1"),  # no trailing slash: Starlette's redirect
        ("GET", "/api/v2/things/7"),
        ("GET", "/healthz"),
        ("GET", "/api/v1/things/caf%C3%A9"),
        ("GET", "/api/v1/things/1%0A"),  # a Mount's pattern stops at a newline
        ("GET", "/api/v1/things/1%0A/x"),
    ],
)
def test_the_shortcut_answers_as_starlette_would(method: str, path: str) -> None:
    plain, shortcut = _both(method, path)
    assert shortcut == plain


def test_the_shortcut_gives_handlers_the_mounts_scope() -> None:
    assert _client(PrefixRouter).get("/api/v1/things/7").json() == {
        "root_path": "/api/v1",
        "app_root_path": "",
        "path_params": {"id": "7"},
        "url": "http://testserver/api/v1/things/7",
        "base_url": "http://testserver/",
        "endpoint": "SegmentRouter",
        "route": "Mount",
    }


def test_a_request_with_a_root_path_takes_starlettes_way() -> None:
    """Behind a proxy that sets root_path, the prefix check would compare the wrong path: no shortcut."""
    # The ASGI spec's form: the path includes the root_path.
    plain, shortcut = _both("GET", "/proxy/api/v1/things/7", root_path="/proxy")
    assert shortcut == plain
    assert plain[0] == 200 and plain[2]["root_path"] == "/proxy/api/v1"


def test_the_segment_router_answers_unknown_paths_and_methods_in_json() -> None:
    client = _client(PrefixRouter)
    missing = client.get("/api/v1/things/a%2Fb")  # an encoded slash makes a path of another shape
    assert missing.status_code == 404
    assert missing.json() == {"code": "Not Found", "message": "no operation at '/api/v1/things/a/b'"}
    wrong = client.delete("/api/v1/things/7")
    assert wrong.status_code == 405 and wrong.headers["allow"] == "GET, HEAD"
    assert wrong.json() == {
        "code": "Method Not Allowed",
        "message": "DELETE is not allowed here: use GET, HEAD",
    }


def test_a_route_listed_before_the_mounts_keeps_its_paths() -> None:
    shadowing = Route("/api/v1/things/shadowed", _plain, methods=["GET"])
    routes = [shadowing, *_routes()]
    plain, shortcut = _both("GET", "/api/v1/things/shadowed", routes=routes)
    assert plain == shortcut == (200, None, {"plain": True})
    plain, shortcut = _both("GET", "/api/v1/things/7", routes=routes)
    assert plain == shortcut and plain[0] == 200
