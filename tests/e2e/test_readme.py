"""The README's quick start works exactly as written: `make serve`, the curl example, the Python example.

The examples are read from README.md itself, so editing them without keeping them working fails here.
The only substitution is the address: tests never take port 8080 from someone's running `make serve`.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.clients import ensure_client
from tests.fixtures.serve import free_port

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
DOCUMENTED = "http://127.0.0.1:8080"


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.DOTALL)


def test_quick_start_is_the_two_make_commands() -> None:
    quick_start = README.split("## Quick start", 1)[1].split("##", 1)[0]
    commands = [line.split("#")[0].strip() for line in _blocks("sh")[0].splitlines() if line.strip()]
    assert commands == ["make serve", "make test"]
    assert DOCUMENTED in quick_start


def test_curl_example(live_server: str, live_admin_token: str) -> None:
    [command] = [block for block in _blocks("sh") if block.lstrip().startswith("curl")]
    script = command.replace(DOCUMENTED, live_server)
    env = {**os.environ, "MODELSHELF_TOKEN": live_admin_token}
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script], capture_output=True, text=True, timeout=30, env=env
    )
    assert result.returncode == 0, result.stderr
    created = json.loads(result.stdout)
    assert created["name"] == "fraud-detector" and created["owner"] == "alice" and created["state"] == "LIVE"
    read = urllib.request.Request(
        f"{live_server}/api/model_registry/v1/registered_models/{created['id']}",
        headers={"Authorization": f"Bearer {live_admin_token}"},
    )
    with urllib.request.urlopen(read) as answer:
        assert json.load(answer) == created


@pytest.mark.clients
def test_python_client_example(live_server: str, live_admin_token: str, tmp_path: Path) -> None:
    [example] = [block for block in _blocks("python") if "ModelRegistry(" in block]
    host, port = live_server.rsplit(":", 1)
    documented_call = '"http://127.0.0.1", 8080'
    assert documented_call in example
    script = tmp_path / "example.py"
    script.write_text(example.replace(documented_call, f'"{host}", {port}'), encoding="utf-8")
    venv = ensure_client("0.3.18")
    env = {
        **os.environ,
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
        "MODELSHELF_TOKEN": live_admin_token,
    }
    result = subprocess.run(
        [str(venv.python), str(script)], capture_output=True, text=True, timeout=120, env=env, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "{'accuracy': 0.97}"


def test_make_serve_serves(tmp_path: Path) -> None:
    """`make serve` in this checkout (its venv already installed by `make test`) answers on the port given,
    says how to get a token, and on its empty database prints the admin's token, which then works."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "MODELSHELF_ADMIN_TOKEN"}
    env |= {"MODELSHELF_PORT": str(port), "MODELSHELF_DATA_DIR": str(tmp_path / "data")}
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            ["make", "-s", "serve"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as answer:
                    assert json.load(answer) == {"status": "ok", "database": "ok"}
                    break
            except OSError:
                time.sleep(0.2)
        else:
            pytest.fail(f"make serve did not become ready:\n{log.read_text(errors='replace')}")
        assert (tmp_path / "data" / "modelshelf.db").exists()  # SQLite in the data directory
        output = log.read_text(errors="replace")
        assert "token create" in output  # how to get more tokens
        [token] = re.findall(r"^    (msh_[A-Za-z0-9_-]{43})$", output, flags=re.MULTILINE)
        models = f"http://127.0.0.1:{port}/api/model_registry/v1/registered_models"
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(models, timeout=5)
        refused.value.close()
        assert refused.value.code == 401
        authorized = urllib.request.Request(models, headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(authorized, timeout=5) as answer:
            assert json.load(answer)["items"] == []
    finally:
        os.killpg(process.pid, 15)
        process.wait(timeout=30)
