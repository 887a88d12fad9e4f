"""index_commit against repositories built by the real dvc, compared with DVC's own answer
(dvc.api.get_url, which is what e2e/oracle.py chains) for every artifact and every file of a directory."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from modelshelf.gitindex.dvcfiles import CommitIndex, index_commit, object_url, parse_dir_manifest, wanted
from tests.fixtures.dvc_tools import DvcTools, ensure_dvc_tools

_ORACLE = """
import json, sys
import dvc.api
from dvc.api import DVCFileSystem
repo, paths = sys.argv[1], json.loads(sys.argv[2])
out = {}
for path in paths:
    fs = DVCFileSystem(repo)
    files = fs.find(path) if fs.isdir(path) else [path]
    for f in sorted(files):
        f = f.lstrip("/")
        out[f] = dvc.api.get_url(f, repo=repo)
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def tools() -> DvcTools:
    return ensure_dvc_tools()


def run(tools: DvcTools, cwd: Path, *args: str) -> str:
    done = subprocess.run(
        args, cwd=cwd, env=tools.env(cwd.parent), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"{args}: {done.stdout}{done.stderr}"
    return done.stdout


def read_tree(repo: Path) -> tuple[list[str], CommitIndex]:
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=repo, capture_output=True, text=True, check=True
    ).stdout.splitlines()

    def read(path: str) -> bytes | None:
        file = repo / path
        return file.read_bytes() if path in tracked and file.is_file() else None

    return tracked, index_commit([p for p in tracked if wanted(p)], read)


def oracle(tools: DvcTools, repo: Path, paths: list[str]) -> dict[str, str]:
    return json.loads(run(tools, repo, tools.python, "-c", _ORACLE, str(repo), json.dumps(paths)))


def our_urls(repo: Path, index: CommitIndex) -> dict[str, str]:
    """Each downloadable artifact's files and the URLs of their objects, as the server will resolve them:
    a directory through its `.dir` manifest (here from DVC's local cache instead of the remote)."""
    urls: dict[str, str] = {}
    for artifact in index.artifacts:
        assert artifact.problem is None, artifact
        out = artifact.output
        assert out is not None and out.remote is not None
        if not out.is_dir:
            urls[artifact.path] = object_url(out.remote.url, out.md5, legacy=out.legacy, is_dir=False)
            continue
        layout = "" if out.legacy else "files/md5/"
        manifest = (repo / ".dvc/cache" / layout / out.md5[:2] / (out.md5[2:] + ".dir")).read_bytes()
        for relpath, md5 in parse_dir_manifest(manifest, out.md5):
            key = f"{out.path}/{relpath}"
            if artifact.inner is None or key.startswith(artifact.path + "/") or key == artifact.path:
                urls[key] = object_url(out.remote.url, md5, legacy=out.legacy, is_dir=False)
    return urls


def write(path: Path, data: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        path.write_text(data)
    else:
        path.write_bytes(data)


def test_files_dirs_pipeline_legacy_and_remotes_match_dvc(tools: DvcTools, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    run(tools, repo, "git", "init", "-q", "-b", "main")
    run(tools, repo, tools.dvc, "init", "-q")
    write(repo / "models/model.pkl", os.urandom(2048))
    write(repo / "models/clf-dir/weights.bin", b"A" * 1000)
    write(repo / "models/clf-dir/sub/config.json", '{"a": 1}\n')
    write(repo / "data/raw.bin", b"raw data\n")
    run(tools, repo, tools.dvc, "add", "-q", "models/model.pkl", "models/clf-dir", "data/raw.bin")
    # DVC 2.x pointer (no `hash:`): its object goes to the remote's root, not files/md5/.
    write(repo / "old.bin", b"legacy bytes\n")
    import hashlib

    legacy_md5 = hashlib.md5(b"legacy bytes\n").hexdigest()
    write(repo / "old.bin.dvc", f"outs:\n- md5: {legacy_md5}\n  size: 13\n  path: old.bin\n")
    run(tools, repo, "git", "add", "old.bin.dvc")
    # A pipeline stage writing a file and a directory, in a wdir, the file on its own remote.
    write(repo / "pipe/params.yaml", "out_name: trained\n")
    write(
        repo / "pipe/dvc.yaml",
        "stages:\n  train:\n    wdir: work\n    cmd: mkdir -p out/pipedir && echo one > out/pipedir/a.txt"
        " && echo model > out/${out_name}.bin\n"
        "    outs:\n    - out/pipedir\n    - out/${out_name}.bin:\n        remote: web\n",
    )
    (repo / "pipe/work").mkdir(parents=True)
    run(tools, repo, tools.dvc, "repro", "-q", "pipe/dvc.yaml")
    write(
        repo / "dvc.yaml",
        "vars:\n  - dir: models\nartifacts:\n"
        "  text-classifier:\n    path: ${dir}/model.pkl\n    type: model\n    desc: a file\n"
        "    labels: [demo, pkl]\n    meta: {framework: sklearn, n: 3}\n"
        "  clf-dir:\n    path: models/clf-dir\n    type: model\n"
        "  clf-weights:\n    path: models/clf-dir/weights.bin\n"
        "  legacy:\n    path: old.bin\n"
        "  raw:\n    path: data/raw.bin\n",
    )
    pipe_yaml = (repo / "pipe/dvc.yaml").read_text()
    write(
        repo / "pipe/dvc.yaml",
        pipe_yaml + "artifacts:\n  trained:\n    path: work/out/${out_name}.bin\n"
        "  pipedir:\n    path: work/out/pipedir\n",
    )
    run(tools, repo, tools.dvc, "remote", "add", "-q", "-d", "s3remote", "s3://dvc-remote/store")
    run(tools, repo, tools.dvc, "remote", "modify", "s3remote", "endpointurl", "http://127.0.0.1:9")
    run(tools, repo, tools.dvc, "remote", "modify", "s3remote", "secret_access_key", "not-for-the-server")
    run(tools, repo, tools.dvc, "remote", "add", "-q", "web", "https://remote.example.org/dvcstore")
    run(tools, repo, tools.dvc, "remote", "add", "-q", "rawdata", "remote://s3remote/raw")
    # The per-output remote of a `.dvc` file: data/raw.bin lives in the remote:// one.
    dvcfile = (repo / "data/raw.bin.dvc").read_text()
    write(repo / "data/raw.bin.dvc", dvcfile.replace("  path: raw.bin", "  path: raw.bin\n  remote: rawdata"))
    run(tools, repo, "git", "add", "-A")
    run(tools, repo, "git", "commit", "-qm", "models")

    _tracked, index = read_tree(repo)
    assert index.problems == []
    by_name = {a.name: a for a in index.artifacts}
    assert sorted(by_name) == sorted(
        ["text-classifier", "clf-dir", "clf-weights", "legacy", "raw", "pipe:trained", "pipe:pipedir"]
    )
    model = by_name["text-classifier"]
    assert (model.path, model.type, model.desc, model.labels) == (
        "models/model.pkl",
        "model",
        "a file",
        ("demo", "pkl"),
    )
    assert model.meta == {"framework": "sklearn", "n": 3}
    assert model.output is not None and model.output.remote is not None
    assert model.output.remote.options == {"endpointurl": "http://127.0.0.1:9"}  # the secret is dropped
    assert (
        by_name["clf-weights"].inner == "weights.bin"
        and by_name["clf-weights"].output.path == "models/clf-dir"
    )
    assert by_name["legacy"].output.legacy and not model.output.legacy
    assert by_name["raw"].output.remote.url == "s3://dvc-remote/store/raw"
    assert by_name["pipe:trained"].output.remote.name == "web"
    assert by_name["pipe:pipedir"].output.is_dir and by_name["pipe:pipedir"].output.nfiles == 1

    ours = our_urls(repo, index)
    print(json.dumps(ours, indent=1))
    assert len(ours) == 7  # the directories expand to their files; the inner file stands alone
    assert ours == oracle(tools, repo, sorted(a.path for a in index.artifacts))


def test_monorepo_with_subdir_projects_matches_dvc(tools: DvcTools, tmp_path: Path) -> None:
    repo = tmp_path / "mono"
    repo.mkdir()
    run(tools, repo, "git", "init", "-q", "-b", "main")
    for sub, remote in (("team-a", "azure://container/azpath"), ("team-b", "s3://bucket-b/prefix/")):
        project = repo / sub
        project.mkdir()
        run(tools, project, tools.dvc, "init", "-q", "--subdir")
        write(project / "models/m.bin", f"{sub} bytes\n")
        run(tools, project, tools.dvc, "add", "-q", "models/m.bin")
        run(tools, project, tools.dvc, "remote", "add", "-q", "other", "s3://unused/x")
        run(tools, project, tools.dvc, "remote", "add", "-q", "-d", "main", remote)
        write(project / "nested/dvc.yaml", "artifacts:\n  m:\n    path: ../models/m.bin\n    type: model\n")
    run(tools, repo, "git", "add", "-A")
    run(tools, repo, "git", "commit", "-qm", "two projects")

    _tracked, index = read_tree(repo)
    assert index.problems == []
    assert sorted(a.name for a in index.artifacts) == ["team-a/nested:m", "team-b/nested:m"]
    assert [a.output.remote.name for a in index.artifacts if a.output and a.output.remote] == ["main", "main"]
    for artifact in index.artifacts:
        project = repo / artifact.path.split("/")[0]
        relative = artifact.path.split("/", 1)[1]
        expected = oracle(tools, project, [relative])
        assert our_urls(project, CommitIndex([artifact], [])) == {artifact.path: expected[relative]}


def test_missing_lock_entry_and_git_file_are_problems(tools: DvcTools, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    run(tools, repo, "git", "init", "-q", "-b", "main")
    run(tools, repo, tools.dvc, "init", "-q")
    run(tools, repo, tools.dvc, "remote", "add", "-q", "-d", "s3remote", "s3://b/s")
    run(tools, repo, tools.dvc, "stage", "add", "-q", "-n", "make", "-o", "out.bin", "echo x > out.bin")
    write(repo / "readme.txt", "in git\n")
    write(
        repo / "dvc.yaml",
        (repo / "dvc.yaml").read_text() + "artifacts:\n  unbuilt:\n    path: out.bin\n"
        "  plain:\n    path: readme.txt\n",
    )
    run(tools, repo, "git", "add", "-A")
    run(tools, repo, "git", "commit", "-qm", "stage without a run")
    _tracked, index = read_tree(repo)
    problems = {a.name: a.problem for a in index.artifacts}
    assert problems == {
        "unbuilt": "the output out.bin has no md5 in dvc.lock (run dvc repro/commit)",
        "plain": "readme.txt is not tracked by DVC",
    }
