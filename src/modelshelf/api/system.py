"""Health, readiness, Prometheus metrics, the OpenAPI document and an offline Swagger UI."""

from __future__ import annotations

import anyio.to_thread
import orjson
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

from modelshelf import blocking
from modelshelf.api.access import PUBLIC, Access, Gate, Handler, OpenMount, OpenRoute, protect, requires
from modelshelf.api.errors import PLAIN
from modelshelf.api.openapi import document
from modelshelf.auth.tokens import Scope
from modelshelf.errors import DeadlineExceeded
from modelshelf.observability.metrics import CONTENT_TYPE, Metrics
from modelshelf.store import migrate
from modelshelf.store.session import Database

READY_TIMEOUT_S = 5.0

_DOCS_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>modelshelf API</title>
<link rel="stylesheet" href="/docs/static/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/static/swagger-ui-bundle.js"></script>
<script src="/docs/static/swagger-ui-standalone-preset.js"></script>
<script src="/docs/init.js"></script>
</body></html>"""

_DOCS_INIT = """window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui",
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset], layout: "StandaloneLayout"});"""


def _json(content: object, status: int = 200) -> Response:
    return Response(orjson.dumps(content), status, media_type="application/json")


def routes(database: Database, ready_timeout: float = READY_TIMEOUT_S) -> list[BaseRoute]:
    openapi_bytes = orjson.dumps(document())

    async def healthz(_request: Request) -> Response:
        return _json({"status": "ok"})

    async def readyz(_request: Request) -> Response:
        # On a worker thread, like every database call: a frozen database turns the probe red in
        # ready_timeout, instead of stalling the server.
        try:
            with blocking.deadline_after(ready_timeout):
                problem = await database.pool.run(lambda: migrate.readiness(database.engine))
        except DeadlineExceeded:
            problem = f"no answer within {ready_timeout:g} s"
        if problem is not None:
            return _json({"status": "unavailable", "database": problem}, 503)
        return _json({"status": "ok", "database": "ok"})

    async def openapi(_request: Request) -> Response:
        return Response(openapi_bytes, media_type="application/json")

    async def docs(_request: Request) -> Response:
        return HTMLResponse(_DOCS_PAGE)

    async def docs_init(_request: Request) -> Response:
        return Response(_DOCS_INIT, media_type="text/javascript")

    return [
        # Open to anyone: probes carry no credentials, and the API description holds no data.
        OpenRoute("/healthz", healthz, methods=["GET"]),
        OpenRoute("/readyz", readyz, methods=["GET"]),
        OpenRoute("/openapi.json", openapi, methods=["GET"]),
        OpenRoute("/docs", docs, methods=["GET"]),
        OpenRoute("/docs/init.js", docs_init, methods=["GET"]),
        OpenMount("/docs/static", app=StaticFiles(directory=swagger_ui_path), name="swagger-ui"),
    ]


class DecidedRoute(Route):
    """A Starlette route that carries its access decision, for the route table."""

    def __init__(self, path: str, endpoint: Handler, access: Access) -> None:
        super().__init__(path, endpoint, methods=["GET"])
        self.access = access


def metrics_route(metrics: Metrics, gate: Gate, *, public: bool, timeout: float) -> BaseRoute:
    """`/metrics` for Prometheus: a token with `metrics:read` (or `admin`), unless the operator opened it."""

    async def scrape(_request: Request) -> Response:
        # Rendering grows with the number of series (routes x methods x statuses): off the event loop.
        body = await anyio.to_thread.run_sync(metrics.render)  # not the database's pool: it must answer
        return Response(body, media_type=CONTENT_TYPE)

    access = PUBLIC if public else requires(Scope.METRICS_READ)
    return DecidedRoute("/metrics", PLAIN.guard(protect(scrape, access, gate), timeout=timeout), access)
