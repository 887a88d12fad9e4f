"""The replicated deployment of docs/deployment.md: Dockerfile, deploy/compose.yaml, deploy/haproxy.cfg.

docker cannot run where these tests run, so nothing here builds the image or starts the compose project:
the files are parsed and checked against each other and against the code (the settings they set load,
the commands they run exist, the extras they install are declared, the probes hit the real routes).
"""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import yaml

from modelshelf.settings import Settings
from tests.fixtures.serve import free_port, modelshelf_command

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "deploy" / "compose.yaml"
REPLICAS = ("replica1", "replica2")


def compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE.read_text())  # merge keys (<<: *replica) resolved as compose does
    assert isinstance(loaded, dict)
    return loaded


def substituted(value: str) -> str:
    """Compose's ${NAME:?message} and ${NAME:-default}, with a sample value for each required one."""
    samples = {"POSTGRES_PASSWORD": "secret", "MODELSHELF_ADMIN_TOKEN": "msh_" + "a" * 43}
    value = re.sub(r"\$\{(\w+):\?[^}]*\}", lambda m: samples[m.group(1)], value)
    return re.sub(r"\$\{\w+:-([^}]*)\}", lambda m: m.group(1), value)


def test_compose_has_postgres_a_migration_two_replicas_and_a_load_balancer() -> None:
    services = compose()["services"]
    assert set(services) == {"postgres", "migrate", *REPLICAS, "lb"}
    assert services["postgres"]["image"].startswith("postgres:")
    assert "pg_isready" in services["postgres"]["healthcheck"]["test"]
    assert services["migrate"]["command"] == ["db", "upgrade"]
    assert services["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert services["lb"]["depends_on"] == list(REPLICAS)


def test_every_replica_waits_for_the_migration_and_probes_readiness() -> None:
    services = compose()["services"]
    volumes = set()
    for name in REPLICAS:
        replica = services[name]
        assert replica["command"] == ["serve", "--host", "0.0.0.0", "--no-migrate"]
        assert replica["depends_on"] == {"migrate": {"condition": "service_completed_successfully"}}
        assert any("/readyz" in part for part in replica["healthcheck"]["test"])
        assert (ROOT / "deploy" / replica["build"]["context"] / "Dockerfile").is_file()
        volumes.update(replica["volumes"])
    assert len(volumes) == len(REPLICAS), "each replica has a data directory of its own"


def test_the_commands_compose_runs_are_modelshelf_commands(tmp_path: Path) -> None:
    # Run for real on an empty SQLite data directory: the migration succeeds, and the replica, told not
    # to migrate, refuses to start on that schema (argparse would exit 2 on a flag it does not know).
    services = compose()["services"]
    env = {"PATH": "/usr/bin:/bin", "MODELSHELF_DATA_DIR": str(tmp_path / "data")}
    serve = [*services["replica1"]["command"], "--port", str(free_port())]
    refused = subprocess.run([*modelshelf_command(), *serve], env=env, capture_output=True, text=True)
    assert refused.returncode == 1, refused.stderr
    assert "database schema is not current: run 'modelshelf db upgrade'" in refused.stderr
    upgrade = services["migrate"]["command"]
    migrated = subprocess.run([*modelshelf_command(), *upgrade], env=env, capture_output=True, text=True)
    assert migrated.returncode == 0, migrated.stderr
    assert "database at revision" in migrated.stdout


def test_the_environment_compose_sets_loads_as_settings() -> None:
    services = compose()["services"]
    for name in ("migrate", *REPLICAS):
        environ = {k: substituted(str(v)) for k, v in services[name]["environment"].items()}
        assert all(key.startswith("MODELSHELF_") for key in environ)
        settings = Settings.load(environ)
        url = settings.effective_database_url
        assert url == "postgresql://modelshelf:secret@postgres:5432/modelshelf"
    replica = Settings.load({k: substituted(str(v)) for k, v in services["replica1"]["environment"].items()})
    assert replica.admin_token is not None and replica.log_format == "json"


def test_haproxy_balances_both_replicas_and_checks_readyz() -> None:
    config = (ROOT / "deploy" / "haproxy.cfg").read_text()
    services = compose()["services"]
    assert "./haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro" in services["lb"]["volumes"]
    for name in REPLICAS:
        assert re.search(rf"^\s*server {name} {name}:8080\b", config, re.MULTILINE)
    assert re.search(r"^\s*http-check send meth GET uri /readyz$", config, re.MULTILINE)
    assert re.search(r"^\s*default-server check\b", config, re.MULTILINE)
    # The balancer waits longer than a replica's own request deadline (30 s), which answers first.
    assert int(re.search(r"timeout server (\d+)s", config).group(1)) > 30  # type: ignore[union-attr]


def test_dockerfile_builds_a_non_root_image_with_git_and_every_storage_extra() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim$", dockerfile, re.MULTILINE)
    assert re.search(r"apt-get install .*\bgit\b", dockerfile)
    installed = re.search(r"pip install [^\n]*'\.\[([\w,]+)\]'", dockerfile)
    assert installed is not None
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert set(installed.group(1).split(",")) == {"postgres", "s3", "azure", "gcs"} <= set(declared)
    users = re.findall(r"^USER (\S+)$", dockerfile, re.MULTILINE)
    assert users and users[-1] not in ("root", "0")
    assert re.search(r"^HEALTHCHECK .*\n?.*/readyz", dockerfile, re.MULTILINE)
    assert 'CMD ["serve", "--host", "0.0.0.0"]' in dockerfile
    assert 'ENTRYPOINT ["modelshelf"]' in dockerfile
