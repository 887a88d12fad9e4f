"""One log format for everything the process logs, ours and the HTTP server's alike.

Each record carries an ISO 8601 UTC time to the millisecond, its level, its logger, the id of the request
it was logged for (when there is one) and its message: as a line of text by default, or as one JSON
object per line (`log_format = "json"`), which log shippers read without a parsing rule.
"""

from __future__ import annotations

import logging
import sys
import time
from contextvars import ContextVar
from typing import Any

import orjson

from modelshelf.settings import Settings

# The id of the request being served, for every record logged while serving it (set by RequestObserver).
# Threads that anyio starts for a request run in a copy of its context, so they see it too.
REQUEST_ID: ContextVar[str | None] = ContextVar("modelshelf_request_id", default=None)

# Structured fields a record may carry (`extra={FIELDS: {...}}`): JSON lines keep them as keys.
FIELDS = "modelshelf_fields"

# The HTTP server's loggers: they lose their own handlers and reach ours through the root logger.
SERVER_LOGGERS = ("_granian", "granian", "granian.access")

TRACE = 5  # uvicorn's level below DEBUG


_second: tuple[int, str] = (-1, "")


def timestamp(created: float) -> str:
    """`2026-01-31T09:30:00.123Z`; the part up to the second is formatted once per second."""
    global _second
    seconds = int(created)
    if _second[0] != seconds:
        _second = (seconds, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)))
    return f"{_second[1]}.{int((created - seconds) * 1000):03d}Z"


class TextFormatter(logging.Formatter):
    """`2026-01-31T09:30:00.123Z INFO modelshelf.access [3f2a...] message`; a traceback follows indented."""

    def format(self, record: logging.LogRecord) -> str:
        request_id = REQUEST_ID.get()
        prefix = f"{timestamp(record.created)} {record.levelname:<7} {record.name}"
        if request_id is not None:
            prefix += f" [{request_id}]"
        line = f"{prefix} {record.getMessage()}"
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line += "\n" + record.exc_text
        if record.stack_info:
            line += "\n" + self.formatStack(record.stack_info)
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, request_id (when set), message, then any fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": timestamp(record.created),
            "level": record.levelname,
            "logger": record.name,
        }
        request_id = REQUEST_ID.get()
        if request_id is not None:
            entry["request_id"] = request_id
        entry["message"] = record.getMessage()
        fields = getattr(record, FIELDS, None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(entry, default=str).decode()


def level_of(name: str) -> int:
    if name.lower() == "trace":
        return TRACE
    level = logging.getLevelName(name.upper())
    if not isinstance(level, int):
        raise ValueError(f"unknown log level {name!r}: use debug, info, warning, error or critical")
    return level


def configure(settings: Settings) -> None:
    """Send every logger's records to stderr in the configured format, at `settings.log_level`.

    The HTTP server must be started without a logging configuration of its own (uvicorn:
    `log_config=None`), or it replaces this one.
    """
    if settings.log_format not in ("text", "json"):
        raise ValueError(f"unknown log format {settings.log_format!r}: use text or json")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if settings.log_format == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level_of(settings.log_level))
    # No format here shows the caller's file and line, thread or process: the logging HOWTO's
    # "Optimization" settings spare every record the work of finding them (a third of an access line).
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    # Alembic reports at INFO each time a migration context opens, which /readyz does on every probe.
    quiet = level_of(settings.log_level) > logging.DEBUG
    logging.getLogger("alembic").setLevel(logging.WARNING if quiet else logging.NOTSET)
    for name in SERVER_LOGGERS:
        server_logger = logging.getLogger(name)
        server_logger.handlers.clear()
        server_logger.propagate = True
        server_logger.setLevel(logging.NOTSET)
