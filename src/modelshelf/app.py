"""The application factory: one ASGI app with every face mounted on one engine."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.types import ASGIApp

from modelshelf.api import admin, kubeflow, studio, system
from modelshelf.api.access import Gate, LoopbackOnly
from modelshelf.api.errors import face_of, handle_disconnect, handle_http, handle_unexpected
from modelshelf.api.router import PrefixRouter
from modelshelf.observability.metrics import Metrics
from modelshelf.observability.requests import RequestObserver
from modelshelf.services.gitsync import JOB_THREADS, Syncer
from modelshelf.settings import Settings
from modelshelf.storage.signers import Signers
from modelshelf.store.engine import connect
from modelshelf.store.session import Database


def open_engine(settings: Settings) -> Engine:
    """The server's engine: statements bounded by the request timeout, and a pooled connection for each
    thread that may use the database at once (the request workers and the Git job threads)."""
    return connect(
        settings.effective_database_url,
        statement_timeout=settings.request_timeout,
        sqlite_synchronous=settings.sqlite_synchronous,
        connections=settings.worker_threads + JOB_THREADS,
    )


def create_app(settings: Settings, engine: Engine | None = None) -> Starlette:
    """Build the app. The engine is opened here (not at import) and disposed when the app shuts down."""
    engine = engine or open_engine(settings)
    database = Database(engine, threads=settings.worker_threads)
    gate = Gate(database, enabled=settings.auth)
    timeout = settings.request_timeout
    signers = Signers(settings.storage, settings.signing)
    syncer = Syncer(database, settings, signers)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        syncer.start()
        try:
            yield
        finally:
            syncer.stop()
            database.dispose()

    metrics = Metrics()
    metrics.watch_pool(engine)
    metrics.register_gauge_source(
        "modelshelf_database_threads_busy",
        "Worker threads running a database call",
        lambda: database.pool.running,
    )
    metrics.register_gauge_source(
        "modelshelf_database_threads_queued",
        "Database calls waiting for a worker thread",
        lambda: database.pool.queued,
    )
    app = _Observed(
        metrics=metrics,
        access_log=settings.access_log,
        exception_handlers={
            Exception: handle_unexpected,
            HTTPException: handle_http,
            ClientDisconnect: handle_disconnect,
        },
    )
    app.router = PrefixRouter(
        [
            *kubeflow.mounts(database, settings.max_body_bytes, gate, timeout),
            *admin.mounts(database, settings.max_body_bytes, gate, timeout),
            *studio.mounts(database, settings, syncer, signers, gate, timeout),
            *system.routes(database, min(system.READY_TIMEOUT_S, timeout)),
            system.metrics_route(metrics, gate, public=settings.metrics_public, timeout=timeout),
        ],
        lifespan=lifespan,
    )
    if not settings.auth:
        app.add_middleware(LoopbackOnly)
    app.state.engine = engine
    app.state.database = database
    app.state.syncer = syncer
    app.state.settings = settings
    app.state.metrics = metrics  # where other parts register gauges (metrics.register_gauge_source)
    return app


class _Observed(Starlette):
    """Starlette with the RequestObserver outside its error middleware, so that the 500 the error
    middleware sends carries the request id, and the error logged for it has the id too."""

    def __init__(self, *, metrics: Metrics, access_log: bool, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._metrics = metrics
        self._access_log = access_log

    def build_middleware_stack(self) -> ASGIApp:
        inner = super().build_middleware_stack()
        return RequestObserver(inner, metrics=self._metrics, access_log=self._access_log)


def error_response(app: Starlette, path: str, status: int, message: str) -> Response:
    """An error answer for `path` in the format of the face it belongs to, for what answers outside the
    faces' own handlers (the HTTP server's body deadline)."""
    return face_of(app, path).error(status, message)
