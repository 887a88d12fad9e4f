"""The real `dvc artifacts get` against a real `modelshelf serve`, configured by a TOML file, downloading
from moto's S3 server and from Azurite through the URLs the server signs.

The repository URL given to dvc (https://git.invalid/...) cannot be cloned, so dvc cannot quietly fall
back to Git and its own remote (STUDIO_CLIENTS.md §5): every download here went through the server. The
server reaches the repository through a `[[git.rewrite]]` to a local bare clone. The keys the server
answers with are checked against DVC's own resolution (`e2e/oracle.py`'s method, run with dvc itself).
"""

from __future__ import annotations

import json
import re
import subprocess
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fixtures import model_repo
from tests.fixtures.azurite import Azurite
from tests.fixtures.dvc_tools import DvcTools, ensure_dvc_tools
from tests.fixtures.moto_s3 import MotoS3
from tests.fixtures.serve import Server, call, request, serving

REPO_URL = "https://git.invalid/acme/models.git"
ORACLE = """
import json, sys
import dvc.api
from dvc.api import DVCFileSystem
repo, name, version, stage = sys.argv[1], sys.argv[2], sys.argv[3] or None, sys.argv[4] or None
art = dvc.api.artifacts_show(name, version=version, stage=stage, repo=repo)
rev, path = art["rev"], art["path"]
fs = DVCFileSystem(repo, rev=rev)
files = fs.find(path) if fs.isdir(path) else [path]
print(json.dumps({f.lstrip("/"): dvc.api.get_url(f.lstrip("/"), repo=repo, rev=rev) for f in sorted(files)}))
"""


@dataclass
class GitModels:
    server: Server
    token: str
    repo: model_repo.ModelRepo
    tools: DvcTools
    workdir: Path
    s3: MotoS3
    azure: Azurite

    def uris(self, name: str, **params: str) -> tuple[int, dict[str, str]]:
        query = urllib.parse.urlencode({"repo": REPO_URL, "name": name, **params})
        url = f"{self.server.base_url}/api/model-registry/get-download-uris?{query}"
        status, body = request(url, f"token {self.token}")
        return status, json.loads(body)

    def dvc_get(self, out: Path, *args: str) -> subprocess.CompletedProcess[str]:
        env = self.tools.env(
            self.workdir,
            DVC_STUDIO_URL=self.server.base_url,
            DVC_STUDIO_TOKEN=self.token,
            DVC_STUDIO_CLIENT_LOGLEVEL="DEBUG",
        )
        out.mkdir(parents=True, exist_ok=True)
        return subprocess.run(
            [self.tools.dvc, "artifacts", "get", REPO_URL, *args],
            cwd=out,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def oracle(self, name: str, version: str = "", stage: str = "") -> dict[str, str]:
        env = self.tools.env(
            self.workdir,
            AWS_ACCESS_KEY_ID=self.s3.access_key_id,
            AWS_SECRET_ACCESS_KEY=self.s3.secret_access_key,
        )
        done = subprocess.run(
            [self.tools.python, "-c", ORACLE, str(self.repo.path), name, version, stage],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        found: dict[str, str] = json.loads(done.stdout)
        return found


@pytest.fixture(scope="module")
def git_models(
    tmp_path_factory: pytest.TempPathFactory, moto_s3: MotoS3, azurite: Azurite
) -> Iterator[GitModels]:
    from azure.storage.blob import BlobServiceClient

    tools = ensure_dvc_tools()
    workdir = tmp_path_factory.mktemp("git-models")
    s3 = moto_s3.client()
    s3.create_bucket(Bucket=model_repo.BUCKET)  # type: ignore[attr-defined]
    BlobServiceClient.from_connection_string(azurite.connection_string).create_container(model_repo.CONTAINER)
    repo = model_repo.build(
        workdir,
        tools,
        model_repo.S3Remote(moto_s3.endpoint_url, moto_s3.access_key_id, moto_s3.secret_access_key),
        model_repo.AzureRemote(azurite.connection_string),
    )
    config = workdir / "modelshelf.toml"
    config.write_text(
        f"""
[git]
refresh_interval = "0"
fetch_timeout = "60s"

[[git.rewrite]]
prefix = "https://git.invalid/acme/"
to = "{repo.bare.parent.as_uri()}/"

[[git.rewrite]]  # the README's example repository
prefix = "https://github.com/acme/"
to = "{repo.bare.parent.as_uri()}/"

[[git.rewrite]]
prefix = "git@github.com:acme/"
to = "{repo.bare.parent.as_uri()}/"

[[storage]]
url = "s3://{model_repo.BUCKET}"
endpoint_url = "{moto_s3.endpoint_url}"
access_key_id = "${{TEST_S3_KEY}}"
secret_access_key = "${{TEST_S3_SECRET}}"
region = "us-east-1"

[[storage]]
url = "azure://{model_repo.CONTAINER}"
connection_string = "${{TEST_AZURE_CONNECTION_STRING}}"
"""
    )
    admin = "msh_" + "e2e-git-models-admin-token-0123456789abcdef"[:43]
    env = {
        "PATH": "/usr/bin:/bin",
        "MODELSHELF_CONFIG": str(config),
        "MODELSHELF_DATA_DIR": str(workdir / "data"),
        "MODELSHELF_ADMIN_TOKEN": admin,
        "MODELSHELF_LOG_LEVEL": "info",
        "TEST_S3_KEY": moto_s3.access_key_id,
        "TEST_S3_SECRET": moto_s3.secret_access_key,
        "TEST_AZURE_CONNECTION_STRING": azurite.connection_string,
    }
    with serving(env, workdir / "server") as server:
        api = f"{server.base_url}/api/admin/v1"
        assert call(f"{api}/users", admin, "POST", {"name": "mlops"})[0] == 201
        spec = {"user": "mlops", "name": "dvc", "scopes": ["models:read", "projects:create"]}
        status, made = call(f"{api}/tokens", admin, "POST", spec)
        assert status == 201, made
        token = str(made["token"])
        status, body = call(f"{server.base_url}/api/create-project", token, "POST", {"repo_url": REPO_URL})
        assert status == 201, body
        models = GitModels(server, token, repo, tools, workdir, moto_s3, azurite)
        # The first request after create-project waits for the first index (within dvc's 5 s).
        status, first = models.uris("text-classifier")
        assert status == 200, (first, server.output()[-3000:])
        yield models


CASES = [
    ("text-classifier", [], {}, "v2"),
    ("text-classifier", ["--rev", "v1.0.0"], {"version": "v1.0.0"}, "v1"),
    ("text-classifier", ["--stage", "prod"], {"stage": "prod"}, "v2"),
    ("text-classifier", ["--stage", "staging"], {"stage": "staging"}, "v1"),  # most recent assignment
    ("clf-dir", [], {}, "v1"),
    ("nested/dvc.yaml:tiny", ["--stage", "dev"], {"stage": "dev"}, "v1"),
    ("nested:tiny", ["--rev", "v0.1.0"], {"version": "v0.1.0"}, "v1"),
    ("az-model", [], {}, "v1"),  # its output names the Azure remote
]


@pytest.mark.parametrize(("name", "args", "params", "bytes_from"), CASES, ids=lambda v: str(v))
def test_dvc_artifacts_get_downloads_through_signed_urls(
    git_models: GitModels,
    tmp_path: Path,
    name: str,
    args: list[str],
    params: dict[str, str],
    bytes_from: str,
) -> None:
    done = git_models.dvc_get(tmp_path, name, *args)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Downloaded" in done.stdout + done.stderr

    status, answer = git_models.uris(name, **params)
    assert status == 200, answer
    oracle_name = name.replace("nested/dvc.yaml:", "nested:")
    expected = git_models.oracle(oracle_name, params.get("version", ""), params.get("stage", ""))
    assert sorted(answer) == sorted(expected)  # the same repository paths DVC itself resolves
    for key, signed in answer.items():
        storage_url = expected[key]  # s3://dvc-remote/store/files/md5/ab/cdef..., azure://...
        bucket_and_key = storage_url.split("://", 1)[1]
        assert urllib.parse.urlsplit(signed).path.endswith("/" + bucket_and_key), (signed, storage_url)
        downloaded = (tmp_path / key).read_bytes()  # dvc wrote it at the repository path
        assert downloaded == git_models.repo.bytes_of(bytes_from, key)


def test_a_download_names_what_went_wrong(git_models: GitModels, tmp_path: Path) -> None:
    done = git_models.dvc_get(tmp_path, "text-classifier", "--rev", "v9.9.9")
    assert done.returncode == 1
    assert "version v9.9.9 of model 'text-classifier' not found" in done.stderr
    for params, status, message in (
        ({"name": "nope"}, 404, "model 'nope' not found"),
        ({"name": "text-classifier", "stage": "nope"}, 404, "stage 'nope'"),
        ({"name": "text-classifier", "stage": "prod", "version": "v1.0.0"}, 400, "not both"),
    ):
        got, body = git_models.uris(**params)
        assert (got, list(body)) == (status, ["detail"]), body
        assert message in body["detail"]


def test_the_readme_quick_start_as_written(git_models: GitModels, tmp_path: Path) -> None:
    """The README's create-project curl and its dvc commands, run by a shell as a user runs them; only the
    server's address differs (and the README's repository is rewritten to the fixture's)."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## Git models", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```text\n(.*?)```", section, flags=re.DOTALL)
    [curl] = [b for b in blocks if b.startswith("curl")]
    [dvc] = [b for b in blocks if "dvc artifacts get" in b]
    env = git_models.tools.env(git_models.workdir, MODELSHELF_TOKEN=git_models.token)

    def shell(script: str, cwd: Path) -> str:
        script = script.replace("http://127.0.0.1:8080", git_models.server.base_url)
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    made = json.loads(shell(curl, tmp_path))
    assert [p["name"] for p in made["projects"]] == ["models"]
    shell(dvc, tmp_path)  # right after create-project: the first request waits for the index
    assert (tmp_path / "models/model.pkl").read_bytes() == git_models.repo.bytes_of("v2", "models/model.pkl")
    tiny = "nested/models/tiny.bin"
    assert (tmp_path / tiny).read_bytes() == git_models.repo.bytes_of("v1", tiny)
