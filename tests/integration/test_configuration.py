"""The real `modelshelf` process and its configuration file: a bad one stops every command at start with
one line and exit status 2; a good one takes effect (port, data directory, `${NAME}` secrets)."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.fixtures.serve import READY_TIMEOUT_S, call, free_port, modelshelf_command, ready, stop

ADMIN_TOKEN = "from-the-config-file-0123456789abcdef"


def _env(**extra: str) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if not k.startswith("MODELSHELF_")}, **extra}


def _run(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """The command in `cwd`, where the default data directory (.modelshelf) would be made."""
    return subprocess.run(
        [*modelshelf_command(), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result
    assert result.stdout == "" and "Traceback" not in result.stderr, result
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_serve_with_an_unknown_key_stops_before_touching_anything(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(f'data_dir = "{tmp_path / "file-data"}"\nrequest_timout = "5s"\n')
    line = _one_line_error(
        _run(tmp_path, _env(), "serve", "--config", str(config), "--port", str(free_port()))
    )
    assert line == f"error: {config}: request_timout: unknown key (did you mean 'request_timeout'?)"
    assert not (tmp_path / "file-data").exists() and not (tmp_path / ".modelshelf").exists()


def test_db_check_with_a_syntax_error_in_the_file_named_by_the_variable(tmp_path: Path) -> None:
    config = tmp_path / "broken.toml"
    config.write_text('port = 8080\nhost = "127.0.0.1\n')
    line = _one_line_error(_run(tmp_path, _env(MODELSHELF_CONFIG=str(config)), "db", "check"))
    assert line == f"error: {config}: not valid TOML: Illegal character '\\n' (at line 2, column 18)"


def test_a_missing_variable_and_a_bad_environment_value_stop_any_command(tmp_path: Path) -> None:
    config = tmp_path / "secret.toml"
    config.write_text('admin_token = "${VAULT_ADMIN_TOKEN}"\n')
    env = _env(MODELSHELF_CONFIG=str(config))
    for args in (["serve"], ["user", "list"], ["db", "upgrade"]):
        line = _one_line_error(_run(tmp_path, env, *args))
        assert line == f"error: {config}: admin_token: environment variable VAULT_ADMIN_TOKEN is not set"
    line = _one_line_error(_run(tmp_path, _env(MODELSHELF_REQUEST_TIMEOUT="forever"), "serve"))
    assert line.startswith("error: environment variable MODELSHELF_REQUEST_TIMEOUT: expected a duration")
    assert not (tmp_path / ".modelshelf").exists()


def test_a_bad_flag_value_is_one_line_too(tmp_path: Path) -> None:
    line = _one_line_error(_run(tmp_path, _env(), "serve", "--port", "70000"))
    assert line == "error: --port: input should be less than or equal to 65535 (got 70000)"


def test_the_config_option_before_the_command_and_after_it(tmp_path: Path) -> None:
    data_dir = tmp_path / "file-data"
    config = tmp_path / "good.toml"
    config.write_text(f'data_dir = "{data_dir}"\n')
    upgraded = _run(tmp_path, _env(), "--config", str(config), "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert (data_dir / "modelshelf.db").exists() and not (tmp_path / ".modelshelf").exists()
    checked = _run(tmp_path, _env(), "db", "check", "--config", str(config))
    assert checked.returncode == 0 and "database is current" in checked.stdout, checked
    listed = _run(tmp_path, _env(), "--config", str(config), "user", "list")
    assert listed.returncode == 0, listed.stderr


@contextmanager
def _serving_as_configured(
    cwd: Path, env: dict[str, str], logs: Path, *args: str
) -> Iterator[subprocess.Popen[bytes]]:
    """`modelshelf serve ARGS` with no --host or --port of its own: where it listens is the config's."""
    with open(logs.with_suffix(".out"), "wb") as out, open(logs.with_suffix(".err"), "wb") as err:
        process = subprocess.Popen(
            [*modelshelf_command(), "serve", *args],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
        )
    try:
        yield process
    finally:
        stop(process)


def test_a_good_file_takes_effect_under_the_environment(tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "modelshelf.toml"
    config.write_text(
        f'port = {port}\ndata_dir = "{tmp_path / "file-data"}"\n'
        'admin_token = "${VAULT_ADMIN_TOKEN}"\nrequest_timeout = "20s"\n'
    )
    # The file's port and token take effect; the environment's data directory wins over the file's.
    env = _env(VAULT_ADMIN_TOKEN=ADMIN_TOKEN, MODELSHELF_DATA_DIR=str(tmp_path / "env-data"))
    base_url = f"http://127.0.0.1:{port}"
    with _serving_as_configured(tmp_path, env, tmp_path / "serve", "--config", str(config)) as process:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while process.poll() is None and not ready(base_url) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert ready(base_url), (tmp_path / "serve.err").read_text()
        status, body = call(f"{base_url}/api/model_registry/v1/registered_models", ADMIN_TOKEN)
        assert status == 200, body
    assert (tmp_path / "env-data" / "modelshelf.db").exists() and not (tmp_path / "file-data").exists()
    assert ADMIN_TOKEN not in (tmp_path / "serve.out").read_text() + (tmp_path / "serve.err").read_text()
