"""Observability: log lines, request ids, the access log, client disconnects and `/metrics`.

What an operator reads is what a real `modelshelf serve` writes, so most tests run one and read its
stderr; what only the app decides (access to `/metrics`, its series, database errors) is checked in-app.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import re
import secrets
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import Engine, text
from starlette.testclient import TestClient

from modelshelf.api.access import PUBLIC, route_table
from modelshelf.app import create_app
from modelshelf.auth.principal import CLI
from modelshelf.observability import logs
from modelshelf.observability.requests import REDACTED, redact_query
from modelshelf.services import accounts
from modelshelf.settings import Settings, SettingsError, load_settings
from modelshelf.store import migrate
from modelshelf.store.engine import connect
from modelshelf.store.session import Database
from tests.fixtures.serve import Server, request, serving

MODELS = "/api/model_registry/v1/registered_models"
TEXT_LINE = re.compile(
    r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (DEBUG|INFO|WARNING|ERROR|CRITICAL) +[\w.]+"
    r"( \[[\x21-\x7e]+\])? \S"
)
GENERATED_ID = re.compile(r"[0-9a-f]{16}")
WAIT_S = 5.0
LOCAL = "http://127.0.0.1:8080"  # what an app without authentication answers


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes


def fetch(server: Server, path: str, headers: dict[str, str] | None = None, method: str = "GET") -> Answer:
    address = urlsplit(server.base_url)
    connection = http.client.HTTPConnection(address.hostname or "", address.port, timeout=10)
    try:
        connection.request(method, path, headers=headers or {})
        response = connection.getresponse()
        return Answer(response.status, response.headers, response.read())
    finally:
        connection.close()


def logged(server: Server, wanted: Callable[[str], bool]) -> list[str]:
    """The server's complete stderr lines that `wanted` picks, once there is one (or the deadline passes).
    A line still being written (no newline yet) is not read: the server may have written half of it."""
    deadline = time.monotonic() + WAIT_S
    while True:
        text = server.stderr()
        lines = [line for line in text[: text.rfind("\n") + 1].splitlines() if wanted(line)]
        if lines or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


def environment(data_dir: Path, **values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELSHELF_")}
    env["MODELSHELF_DATA_DIR"] = str(data_dir)
    env.update({f"MODELSHELF_{name}": value for name, value in values.items()})
    return env


def abort_mid_body(server: Server, token: str, request_id: str) -> None:
    """Declare a 1000-byte body, send 10 bytes of it, and hang up."""
    address = urlsplit(server.base_url)
    with socket.create_connection((address.hostname or "", address.port or 0), timeout=10) as sock:
        sock.sendall(
            f"POST {MODELS} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {token}\r\nX-Request-ID: {request_id}\r\n"
            "Content-Length: 1000\r\n\r\n".encode()
            + b'{"name": "'
        )
        time.sleep(0.2)  # the handler is now waiting for the rest of the body


@dataclass(frozen=True)
class Running:
    server: Server
    admin: str


@pytest.fixture(scope="module")
def text_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    """One server in the default (text) format, shared by the tests that only add lines to its log."""
    tmp = tmp_path_factory.mktemp("text-server")
    admin = "msh_" + secrets.token_urlsafe(32)
    with serving(environment(tmp / "data", ADMIN_TOKEN=admin), tmp / "server") as server:
        yield Running(server, admin)


# --- log lines ------------------------------------------------------------------------------------------


def test_every_line_has_a_timestamp_a_level_and_a_logger(text_server: Running) -> None:
    server = text_server.server
    assert fetch(server, "/healthz").status == 200
    assert logged(server, lambda line: '"GET /healthz" 200' in line)
    lines = server.stderr().splitlines()
    assert [line for line in lines if not TEXT_LINE.match(line)] == []
    # the HTTP server's own lines are in the same format, through the same handler
    assert any(" INFO    _granian " in line for line in lines), lines


def test_the_request_id_sent_is_echoed_and_in_the_access_line(text_server: Running) -> None:
    server = text_server.server
    sent = "trace-" + secrets.token_hex(6)
    answer = fetch(
        server, f"{MODELS}/1", {"X-Request-ID": sent, "Authorization": f"Bearer {text_server.admin}"}
    )
    assert answer.status == 404
    assert answer.headers["X-Request-ID"] == sent
    [line] = logged(server, lambda line: sent in line)
    assert f" INFO    modelshelf.access [{sent}] 127.0.0.1:" in line
    assert re.search(rf'"GET {MODELS}/1" 404 \d+B \d+\.\d{{3}}ms$', line), line


@pytest.mark.parametrize(
    "sent",
    [None, "", "x" * 129, "two words", "tab\there", "caf\xe9"],
    ids=["absent", "empty", "too long", "space", "control", "not ascii"],
)
def test_a_request_id_is_generated_when_absent_or_insane(text_server: Running, sent: str | None) -> None:
    server = text_server.server
    answer = fetch(server, "/readyz", None if sent is None else {"X-Request-ID": sent})
    assert answer.status == 200
    generated = answer.headers["X-Request-ID"]
    assert GENERATED_ID.fullmatch(generated), generated
    [line] = logged(server, lambda line: f"[{generated}]" in line)
    assert f"modelshelf.access [{generated}]" in line and '"GET /readyz" 200' in line
    if sent:
        assert sent not in server.stderr()


def test_each_request_gets_its_own_id(text_server: Running) -> None:
    ids = {fetch(text_server.server, "/healthz").headers["X-Request-ID"] for _ in range(20)}
    assert len(ids) == 20


def test_secrets_never_reach_the_log(text_server: Running) -> None:
    server = text_server.server
    in_query = {name: secrets.token_hex(12) for name in ("token", "api_key", "X-Amz-Signature", "password")}
    query = "&".join(f"{name}={value}" for name, value in in_query.items())
    marker = "secrets-" + secrets.token_hex(4)
    path = f"{MODELS}?pageSize=2&{query}&nextPageToken=abc"
    headers = {"Authorization": f"Bearer {text_server.admin}", "X-Request-ID": marker}
    assert fetch(server, path, headers).status == 400  # "abc" is no page token of ours: logged all the same
    [line] = logged(server, lambda line: marker in line)
    assert f"token={REDACTED}&api_key={REDACTED}&X-Amz-Signature={REDACTED}&password={REDACTED}" in line
    assert "pageSize=2&" in line and "&nextPageToken=abc" in line  # not secrets: kept for debugging
    output = server.output()
    for value in [text_server.admin, *in_query.values()]:
        assert value not in output


def test_a_client_aborting_mid_body_is_one_info_line(text_server: Running) -> None:
    server = text_server.server
    marker = "aborted-" + secrets.token_hex(4)
    abort_mid_body(server, text_server.admin, marker)
    [line] = logged(server, lambda line: marker in line)
    assert f" INFO    modelshelf.access [{marker}] " in line
    assert f'"POST {MODELS}" 499 0B' in line and line.endswith("(client disconnected)"), line
    assert fetch(server, "/healthz").status == 200  # and the server carries on
    output = server.stderr()
    assert "Traceback" not in output and " ERROR " not in output, output


# --- formats and switches -------------------------------------------------------------------------------


def test_json_logs_parse_line_by_line(tmp_path: Path) -> None:
    admin = "msh_" + secrets.token_urlsafe(32)
    env = environment(tmp_path / "data", LOG_FORMAT="json", ADMIN_TOKEN=admin)
    with serving(env, tmp_path / "server") as server:
        sent = "json-" + secrets.token_hex(4)
        assert fetch(server, "/healthz?q=1", {"X-Request-ID": sent}).status == 200
        assert logged(server, lambda line: sent in line)
        abort_mid_body(server, admin, sent + "-aborted")
        assert logged(server, lambda line: sent + "-aborted" in line)
    entries = [json.loads(line) for line in server.stderr().splitlines()]
    for entry in entries:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", entry["time"]), entry
        assert entry["level"] in ("DEBUG", "INFO", "WARNING") and entry["logger"] and entry["message"]
    [access] = [e for e in entries if e.get("request_id") == sent]
    assert access["logger"] == "modelshelf.access"
    assert {k: access[k] for k in ("method", "path", "query", "status", "client")} == {
        "method": "GET",
        "path": "/healthz",
        "query": "q=1",
        "status": 200,
        "client": access["client"],
    }
    assert access["client"].startswith("127.0.0.1:") and access["bytes"] > 0 and access["duration_ms"] >= 0
    [aborted] = [e for e in entries if e.get("request_id") == sent + "-aborted"]
    assert (aborted["level"], aborted["status"]) == ("INFO", 499)
    assert any(e["logger"] == "_granian" for e in entries)


@pytest.mark.parametrize(
    ("values", "flags"),
    [({"ACCESS_LOG": "0"}, ()), ({}, ("--no-access-log",))],
    ids=["environment", "flag"],
)
def test_the_access_log_can_be_turned_off(
    tmp_path: Path, values: dict[str, str], flags: tuple[str, ...]
) -> None:
    admin = "msh_" + secrets.token_urlsafe(32)
    env = environment(tmp_path / "data", ADMIN_TOKEN=admin, **values)
    with serving(env, tmp_path / "server", *flags) as server:
        assert fetch(server, "/healthz", {"X-Request-ID": "quiet"}).headers["X-Request-ID"] == "quiet"
        abort_mid_body(server, admin, "left-early")  # still worth a line: the request was never answered
        [line] = logged(server, lambda line: "left-early" in line)
    assert " INFO    modelshelf.access [left-early] " in line and " 499 " in line
    assert "quiet" not in server.stderr() and "/healthz" not in server.stderr()


def test_the_access_log_flag_overrides_the_environment(tmp_path: Path) -> None:
    env = environment(tmp_path / "data", ACCESS_LOG="0")
    with serving(env, tmp_path / "server", "--access-log") as server:
        assert fetch(server, "/healthz", {"X-Request-ID": "loud"}).status == 200
        assert logged(server, lambda line: "[loud]" in line and '"GET /healthz" 200' in line)


def test_formatters_put_the_request_id_on_every_record() -> None:
    record = logging.LogRecord(
        "modelshelf.api", logging.WARNING, "", 0, "database %s", ("unavailable",), None
    )
    record.created = 1_800_000_000.25
    context = logs.REQUEST_ID.set("abc")
    try:
        line = logs.TextFormatter().format(record)
        entry = json.loads(logs.JsonFormatter().format(record))
    finally:
        logs.REQUEST_ID.reset(context)
    assert line == "2027-01-15T08:00:00.250Z WARNING modelshelf.api [abc] database unavailable"
    assert entry == {
        "time": "2027-01-15T08:00:00.250Z",
        "level": "WARNING",
        "logger": "modelshelf.api",
        "request_id": "abc",
        "message": "database unavailable",
    }
    assert "[abc]" not in logs.TextFormatter().format(record)  # outside a request: no id


@pytest.mark.parametrize(
    ("query", "logged_as"),
    [
        (b"pageSize=10&orderBy=ID", "pageSize=10&orderBy=ID"),
        (b"token=s3cret", f"token={REDACTED}"),
        (b"access_token=a&x=1", f"access_token={REDACTED}&x=1"),
        (
            b"X-Amz-Credential=AK%2F1&X-Amz-Signature=ff",
            f"X-Amz-Credential={REDACTED}&X-Amz-Signature={REDACTED}",
        ),
        (b"sig=abc&se=2030", f"sig={REDACTED}&se=2030"),  # an Azure SAS
        (b"%74oken=s3cret", f"%74oken={REDACTED}"),  # an encoded name is still a token
        (b"nextPageToken=MTI6MzQ", "nextPageToken=MTI6MzQ"),  # our own cursor, not a secret
        (b"password", "password"),  # no value, nothing to hide
    ],
)
def test_query_redaction(query: bytes, logged_as: str) -> None:
    assert redact_query(query) == logged_as


def test_settings_from_the_environment() -> None:
    assert (Settings().log_format, Settings().access_log, Settings().metrics_public) == ("text", True, False)
    settings = load_settings(
        {"MODELSHELF_LOG_FORMAT": "JSON", "MODELSHELF_ACCESS_LOG": "0", "MODELSHELF_METRICS_PUBLIC": "1"}
    )
    assert (settings.log_format, settings.access_log, settings.metrics_public) == ("json", False, True)
    with pytest.raises(SettingsError, match="MODELSHELF_ACCESS_LOG: expected a boolean"):
        load_settings({"MODELSHELF_ACCESS_LOG": "maybe"})
    with pytest.raises(SettingsError, match="MODELSHELF_LOG_FORMAT"):
        load_settings({"MODELSHELF_LOG_FORMAT": "xml"})


# --- /metrics -------------------------------------------------------------------------------------------


def sample(exposition: str, name: str, **labels: str) -> float | None:
    """The value of the series `name{labels}` in a Prometheus text exposition (labels in any order)."""
    for line in exposition.splitlines():
        series, _, value = line.rpartition(" ")
        metric, _, label_text = series.partition("{")
        if metric != name:
            continue
        found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', label_text))
        if found == labels:
            return float(value)
    return None


def tokens_for(engine: Engine, *scopes: str) -> list[str]:
    """A token for each scope, held by a user who is not an admin."""
    with Database(engine).write() as conn:
        accounts.create_user(conn, "ops", admin=False, actor=CLI)
        return [accounts.create_token(conn, "ops", scope, [scope], actor=CLI)[1] for scope in scopes]


def test_a_served_metrics_page(text_server: Running) -> None:
    """The real server: a token with the scope reads the counts of the requests just made, by template."""
    server, admin = text_server.server, text_server.admin

    def admin_post(path: str, body: object) -> dict[str, str]:
        status, raw = request(server.base_url + path, f"Bearer {admin}", "POST", body)
        assert status == 201, raw
        return dict(json.loads(raw))

    admin_post("/api/admin/v1/users", {"name": "prometheus"})
    tokens = {
        scope: admin_post("/api/admin/v1/tokens", {"user": "prometheus", "name": scope, "scopes": [scope]})[
            "token"
        ]
        for scope in ("metrics:read", "models:read")
    }
    assert fetch(server, "/metrics").status == 401
    assert fetch(server, "/metrics", {"Authorization": f"Bearer {tokens['models:read']}"}).status == 403
    scraper = {"Authorization": f"Bearer {tokens['metrics:read']}"}

    def count(route: str, status: str) -> float:
        answer = fetch(server, "/metrics", scraper)
        assert answer.status == 200
        return (
            sample(
                answer.body.decode(),
                "modelshelf_http_requests_total",
                route=route,
                method="GET",
                status=status,
            )
            or 0
        )

    template = f"{MODELS}/{{model_id}}"
    before = count(template, "404"), count("unmatched", "404")
    for model_id in ("1001", "1002", "1003"):
        assert fetch(server, f"{MODELS}/{model_id}", {"Authorization": f"Bearer {admin}"}).status == 404
    assert fetch(server, "/no/such/path").status == 404
    assert (count(template, "404"), count("unmatched", "404")) == (before[0] + 3, before[1] + 1)
    exposition = fetch(server, "/metrics", scraper).body.decode()
    assert f"{MODELS}/1001" not in exposition  # raw paths never become labels
    assert sample(exposition, "modelshelf_database_pool_checked_out") is not None
    assert sample(exposition, "modelshelf_http_requests_in_flight") == 1


def test_metrics_need_the_metrics_or_admin_scope(
    anonymous: TestClient, engine: Engine, admin_token: str
) -> None:
    refused = anonymous.get("/metrics")
    assert refused.status_code == 401 and "authentication required" in refused.json()["detail"]
    reader, scraper = tokens_for(engine, "models:read", "metrics:read")
    refused = anonymous.get("/metrics", headers={"Authorization": f"Bearer {reader}"})
    assert refused.status_code == 403 and "metrics:read" in refused.json()["detail"]
    for secret in (scraper, admin_token):
        answer = anonymous.get("/metrics", headers={"Authorization": f"Bearer {secret}"})
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"].startswith("text/plain; version=")


def test_metrics_can_be_opened_by_the_operator(settings: Settings, engine: Engine) -> None:
    app = create_app(settings.with_changes(metrics_public=True), engine)
    assert [r.access for r in route_table(app) if r.path == "/metrics"] == [PUBLIC]
    with TestClient(app) as anonymous:
        assert anonymous.get("/metrics").status_code == 200


def test_metrics_count_requests_by_route_template_method_and_status(
    client: TestClient, engine: Engine
) -> None:
    created = client.post(MODELS, json={"name": "counted"})
    assert created.status_code == 201
    for _ in range(3):
        assert client.get(f"{MODELS}/{created.json()['id']}").status_code == 200
    assert client.get(f"{MODELS}/999").status_code == 404
    assert client.delete(f"{MODELS}/999").status_code == 405
    for path in ("/nothing/here", "/api/model_registry/v1/nothing", "/secret/a1b2c3"):
        assert client.get(path).status_code == 404
    assert client.get("/healthz").status_code == 200
    assert client.get("/docs/static/swagger-ui.css").status_code == 200

    exposition = client.get("/metrics").text
    template = f"{MODELS}/{{model_id}}"
    counted = "modelshelf_http_requests_total"
    assert sample(exposition, counted, route=MODELS, method="POST", status="201") == 1
    assert sample(exposition, counted, route=template, method="GET", status="200") == 3
    assert sample(exposition, counted, route=template, method="GET", status="404") == 1
    assert sample(exposition, counted, route=template, method="DELETE", status="405") == 1
    assert sample(exposition, counted, route="unmatched", method="GET", status="404") == 3
    assert sample(exposition, counted, route="/healthz", method="GET", status="200") == 1
    assert sample(exposition, counted, route="/docs/static/{path}", method="GET", status="200") == 1
    assert "a1b2c3" not in exposition and f'route="{MODELS}/1"' not in exposition  # never a raw path
    latency = "modelshelf_http_request_duration_seconds"
    assert sample(exposition, latency + "_count", route=template, method="GET") == 4
    assert sample(exposition, latency + "_bucket", route=template, method="GET", le="+Inf") == 4
    assert sample(exposition, "modelshelf_http_requests_in_flight") == 1  # this scrape
    assert sample(exposition, "modelshelf_database_pool_size") == engine.pool.size()  # type: ignore[attr-defined]
    assert sample(exposition, "modelshelf_database_pool_checked_out") == engine.pool.checkedout()  # type: ignore[attr-defined]
    assert sample(exposition, "modelshelf_database_pool_overflow") == 0


def test_gauge_sources_are_read_at_scrape_time(client: TestClient) -> None:
    metrics = client.app.state.metrics  # type: ignore[attr-defined]
    busy = [3]
    metrics.register_gauge_source(
        "modelshelf_database_threads_busy", "Busy database threads", lambda: busy[0]
    )

    def broken() -> float:
        raise RuntimeError("gone")

    metrics.register_gauge_source("modelshelf_broken", "A source that fails", broken)
    assert sample(client.get("/metrics").text, "modelshelf_database_threads_busy") == 3
    busy[0] = 5
    exposition = client.get("/metrics").text
    assert sample(exposition, "modelshelf_database_threads_busy") == 5
    assert "modelshelf_broken" not in exposition  # skipped (and logged), the rest still served


def test_database_errors_are_counted(tmp_path: Path) -> None:
    """A statement the database refuses (its table is gone) is a 503 and one count with the driver's class."""
    url = f"sqlite:///{tmp_path / 'modelshelf.db'}"
    engine = connect(url)
    migrate.upgrade(engine)
    try:
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE registered_model"))
        with TestClient(create_app(Settings(database_url=url, auth=False), engine), base_url=LOCAL) as local:
            failed = local.get(MODELS)
            assert failed.status_code == 503, failed.text
            exposition = local.get("/metrics").text
    finally:
        engine.dispose()
    assert sample(exposition, "modelshelf_database_errors_total", reason="OperationalError") == 1


def test_a_500_carries_the_request_id(anonymous: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    """The observer sits outside the error middleware: the 500 and the error logged for it carry the id."""

    def failing(_request: object) -> object:
        raise RuntimeError("boom")

    anonymous.app.router.add_route("/boom", failing)  # type: ignore[attr-defined]
    caplog.handler.setFormatter(logs.TextFormatter())
    with caplog.at_level(logging.ERROR, "modelshelf.api"):
        answer = anonymous.get("/boom", headers={"X-Request-ID": "failed-1"})
    assert answer.status_code == 500 and answer.headers["X-Request-ID"] == "failed-1"
    assert " ERROR   modelshelf.api [failed-1] unexpected error on GET /boom\nTraceback" in caplog.text
