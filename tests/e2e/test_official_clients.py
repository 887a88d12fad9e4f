"""The official `model-registry` Python clients (0.3.18 on /v1, 0.3.14 on /v1alpha3) against the real server.

Each scenario in `client_scenarios/` runs as a subprocess with the client venv's python (see `clients.py`),
against the session's `live_server`; any exit but 0 fails the test, with the scenario's output. The
experiment scenarios run with 0.3.14 only: later clients dropped the experiment API with v1alpha3.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.clients import CLIENT_VERSIONS, ClientVenv, ensure_client

SCENARIO_DIR = Path(__file__).parent / "client_scenarios"
SCENARIOS = ["register_model", "pagers", "update_archive", "async_api", "doc_artifact", "authentication"]
EXPERIMENT_SCENARIOS = ["experiments"]
EXPERIMENT_CLIENT = "0.3.14"  # the last client with the experiment API (v1alpha3)
SCENARIO_TIMEOUT_S = 180.0

pytestmark = pytest.mark.clients


@pytest.fixture(scope="session", params=sorted(CLIENT_VERSIONS, reverse=True), ids=lambda v: f"client-{v}")
def client_venv(request: pytest.FixtureRequest) -> ClientVenv:
    return ensure_client(str(request.param))


def _scenario_env(tokens: dict[str, str]) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "KF_PIPELINES_SA_TOKEN_PATH")
        and not k.startswith("MR_")
        and not k.lower().endswith("_proxy")
    }
    env["MR_TOKEN"] = tokens["writer"]
    env["MR_READ_TOKEN"] = tokens["reader"]
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"  # aiohttp trusts the environment
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def test_scenario_files_exist() -> None:
    present = {p.stem for p in SCENARIO_DIR.glob("*.py") if not p.name.startswith("_")}
    expected = {*SCENARIOS, *EXPERIMENT_SCENARIOS}
    assert present == expected, f"scenario list out of step with {SCENARIO_DIR}: {sorted(present)}"


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_official_client(
    client_venv: ClientVenv, scenario: str, live_server: str, live_tokens: dict[str, str], name_prefix: str
) -> None:
    _run_scenario(client_venv, scenario, live_server, live_tokens, name_prefix)


@pytest.mark.parametrize("scenario", EXPERIMENT_SCENARIOS)
def test_official_client_experiments(
    scenario: str, live_server: str, live_tokens: dict[str, str], name_prefix: str
) -> None:
    _run_scenario(ensure_client(EXPERIMENT_CLIENT), scenario, live_server, live_tokens, name_prefix)


def _run_scenario(
    client_venv: ClientVenv, scenario: str, live_server: str, live_tokens: dict[str, str], name_prefix: str
) -> None:
    script = SCENARIO_DIR / f"{scenario}.py"
    command = [str(client_venv.python), str(script), live_server, name_prefix]
    started = time.monotonic()
    try:
        proc = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=SCENARIO_TIMEOUT_S,
            env=_scenario_env(live_tokens),
            cwd=SCENARIO_DIR,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        err = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        pytest.fail(
            f"{scenario} with model-registry {client_venv.version} timed out after {SCENARIO_TIMEOUT_S:.0f}s"
            f"\n--- stdout ---\n{out}\n--- stderr ---\n{err}",
            pytrace=False,
        )
    elapsed = time.monotonic() - started
    report = (
        f"{scenario} with model-registry {client_venv.version} ({client_venv.api_prefix})"
        f" against {live_server}, prefix {name_prefix}: exit {proc.returncode} after {elapsed:.1f}s"
        f"\n--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}"
    )
    assert proc.returncode == 0, report
