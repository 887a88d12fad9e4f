"""Prometheus metrics of one app, in a registry of its own (tests build many apps in one process).

What is counted on every request (by RequestObserver) is a dict lookup and two increments; what can be
read when Prometheus asks (requests in flight, the database pool, any gauge source the app registers)
is read then, by a collector, and costs the request nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, MutableMapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector
from sqlalchemy import Engine

log = logging.getLogger("modelshelf.metrics")
CONTENT_TYPE = CONTENT_TYPE_LATEST
UNMATCHED = "unmatched"  # the route label of every path no route serves: one series, whatever is asked
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Seconds. A GET by id takes well under a millisecond of server time; the top buckets are for stalls.
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "modelshelf_http_requests",
            "HTTP requests answered, by route template, method and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "modelshelf_http_request_duration_seconds",
            "Time from a request's arrival to the end of its response, by route template and method",
            ["route", "method"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.database_errors = Counter(
            "modelshelf_database_errors",
            "Requests failed by the database (unavailable, locked, timed out), by the driver's error class",
            ["reason"],
            registry=self.registry,
        )
        self.in_flight = 0  # kept by RequestObserver; read at scrape time
        self._sources: dict[str, tuple[str, Callable[[], float]]] = {}
        # labels() validates and locks on every call; the children it returns are kept here instead.
        self._series: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self.registry.register(_ScrapeTimeGauges(self))

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        """One answered request (status 499: the client left before it was answered)."""
        if method not in METHODS:
            method = "other"  # a server that accepts any token as a method must not grow a series per token
        key = (route, method, status)
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = (
                self.requests.labels(route, method, str(status)),
                self.latency.labels(route, method),
            )
        series[0].inc()
        series[1].observe(seconds)

    def register_gauge_source(self, name: str, help_text: str, read: Callable[[], float]) -> None:
        """A gauge whose value `read()` gives when Prometheus scrapes (a thread pool's busy threads, ...).

        `read` runs on the scraping thread: it must be quick and thread-safe. Registering a name again
        replaces the source.
        """
        self._sources[name] = (help_text, read)

    def watch_pool(self, engine: Engine) -> None:
        """Report `engine`'s connection pool: its size, connections in use and idle, and overflow."""
        pool: Any = engine.pool
        if not all(hasattr(pool, m) for m in ("size", "checkedout", "checkedin", "overflow")):
            return  # not a QueuePool (an in-memory SQLite database): nothing worth watching
        self.register_gauge_source(
            "modelshelf_database_pool_size", "Connections the database pool keeps open", pool.size
        )
        self.register_gauge_source(
            "modelshelf_database_pool_checked_out", "Database connections in use", pool.checkedout
        )
        self.register_gauge_source(
            "modelshelf_database_pool_idle", "Database connections open and idle in the pool", pool.checkedin
        )
        # SQLAlchemy counts overflow from -size (no connection yet opened); only the excess is of interest.
        self.register_gauge_source(
            "modelshelf_database_pool_overflow",
            "Database connections open beyond the pool's size",
            lambda: max(0, pool.overflow()),
        )

    def count_database_error(self, error: BaseException) -> None:
        # SQLAlchemy wraps the driver's exception; its class (sqlite3.OperationalError, psycopg's
        # QueryCanceled, ConnectionTimeout...) says more than the wrapper and is a small, fixed set.
        cause = getattr(error, "orig", None) or error
        self.database_errors.labels(type(cause).__name__).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _ScrapeTimeGauges(Collector):
    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily(
            "modelshelf_http_requests_in_flight",
            "HTTP requests received and not yet answered",
            value=self._metrics.in_flight,
        )
        for name, (help_text, read) in list(self._metrics._sources.items()):
            try:
                value = float(read())
            except Exception:
                # One broken source must not cost the operator every other metric.
                log.warning("gauge source %s failed", name, exc_info=True)
                continue
            yield GaugeMetricFamily(name, help_text, value=value)


def count_database_error(scope: MutableMapping[str, Any], error: BaseException) -> None:
    """Count a database error against the metrics of the app serving this request (if it keeps any)."""
    app = scope.get("app")
    metrics = getattr(getattr(app, "state", None), "metrics", None)
    if isinstance(metrics, Metrics):
        metrics.count_database_error(error)
