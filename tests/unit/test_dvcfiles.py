"""index_commit, object_url and parse_dir_manifest on hand-written, often hostile, DVC files."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from modelshelf.errors import InvalidArgument
from modelshelf.gitindex.dvcfiles import CommitIndex, index_commit, object_url, parse_dir_manifest, wanted

MD5 = "55bb247ced81605ee50941384d13016a"
CONFIG = b"[core]\n    remote = s3\n['remote \"s3\"']\n    url = s3://bucket/store\n"


def index(files: dict[str, str | bytes]) -> CommitIndex:
    data = {k: v.encode() if isinstance(v, str) else v for k, v in files.items()}
    return index_commit([p for p in data if wanted(p)], data.get)


def dvcfile(path: str, md5: str = MD5, extra: str = "  hash: md5\n") -> str:
    return f"outs:\n- md5: {md5}\n  size: 3\n{extra}  path: {path}\n"


def one(files: dict[str, str | bytes]) -> tuple[Any, CommitIndex]:
    result = index(files)
    assert len(result.artifacts) == 1, result
    return result.artifacts[0], result


def test_wanted() -> None:
    assert all(
        map(wanted, ["dvc.yaml", "a/dvc.lock", "m.pkl.dvc", ".dvc/config", "sub/.dvc/config", "params.yaml"])
    )
    assert not any(map(wanted, ["model.pkl", "dvc.yaml.bak", ".dvc/config.local", "README.md"]))


def test_file_artifact_with_annotations() -> None:
    artifact, result = one(
        {
            ".dvc/config": CONFIG,
            "dvc.yaml": "artifacts:\n  m:\n    path: models/m.pkl\n    type: model\n    desc: d\n"
            "    labels: [a, b]\n    meta: {when: 2024-01-02, ok: yes}\n",
            "models/m.pkl.dvc": dvcfile("m.pkl"),
        }
    )
    assert result.problems == []
    assert artifact.name == "m" and artifact.path == "models/m.pkl" and artifact.labels == ("a", "b")
    assert artifact.meta == {"when": "2024-01-02", "ok": "yes"}  # YAML 1.2 as DVC reads it
    assert (
        artifact.output.md5 == MD5
        and not artifact.output.legacy
        and artifact.output.remote.url == "s3://bucket/store"
    )


def test_nested_dvcyaml_name_and_path_normalised() -> None:
    artifact, _ = one(
        {
            ".dvc/config": CONFIG,
            "a/b/dvc.yaml": "artifacts:\n  m:\n    path: ./../x//m.bin\n",
            "a/x/m.bin.dvc": dvcfile("m.bin"),
        }
    )
    assert (artifact.name, artifact.path, artifact.dvcyaml) == ("a/b:m", "a/x/m.bin", "a/b/dvc.yaml")


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("../../outside", "'../../outside' is outside the repository"),
        ("/etc/passwd", "'/etc/passwd' is outside the repository"),
        ("s3://bucket/m.pkl", "'s3://bucket/m.pkl' is not a repository path"),
        ("models/nothing.bin", "models/nothing.bin is not tracked by DVC"),
    ],
)
def test_bad_paths_are_problems(path: str, problem: str) -> None:
    artifact, _ = one({".dvc/config": CONFIG, "dvc.yaml": f"artifacts:\n  m:\n    path: {path}\n"})
    assert artifact.problem == problem and artifact.output is None


def test_invalid_entries_are_problems_and_the_rest_stay() -> None:
    result = index(
        {
            ".dvc/config": CONFIG,
            "dvc.yaml": "artifacts:\n  nopath: {type: model}\n  badlabels: {path: a, labels: x}\n"
            "  extra: {path: a, size: 3}\n  3: {path: a}\n  scalar: hello\n  Bad Name!: {path: m.bin}\n",
            "m.bin.dvc": dvcfile("m.bin"),
        }
    )
    assert [a.name for a in result.artifacts] == ["Bad Name!"]
    assert result.artifacts[0].problem is None  # DVC only warns about the name
    assert len(result.problems) == 6 and "outside GTO's grammar" in result.problems[-1]


@pytest.mark.parametrize(
    "text",
    [
        b"artifacts: [\n",
        b"\xff\xfe",
        b"- a list\n",
        b"artifacts: [1, 2]\n",
        b"a: " + b"[" * 5000 + b"]" * 5000,
    ],
)
def test_unreadable_dvcyaml_is_a_file_problem(text: bytes) -> None:
    result = index({"dvc.yaml": text, "sub/dvc.yaml": "artifacts:\n  ok: {path: x}\n"})
    assert [a.name for a in result.artifacts] == ["sub:ok"]
    assert len(result.problems) == 1 and result.problems[0].startswith("dvc.yaml: ")


def test_yaml_bomb_in_meta_is_dropped() -> None:
    bomb = "      l0: &a0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"      l{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 9)
    )
    artifact, result = one({"dvc.yaml": "artifacts:\n  m:\n    path: x\n    meta:\n" + bomb})
    assert artifact.meta is None and "too large" in result.problems[0]


def test_too_many_artifacts() -> None:
    body = "".join(f"  a{i}: {{path: x{i}}}\n" for i in range(10_050))
    result = index({"dvc.yaml": "artifacts:\n" + body})
    assert len(result.artifacts) == 10_000 and "over 10000 artifacts" in result.problems[-1]


def test_templating_from_params_and_vars() -> None:
    result = index(
        {
            ".dvc/config": CONFIG,
            "sub/params.yaml": "models: {dir: out}\nversion: 2\n",
            "sub/extra.json": json.dumps({"names": ["first", "second"]}),
            "sub/dvc.yaml": "vars:\n  - extra.json\n  - suffix: bin\nartifacts:\n"
            "  ${names[1]}:\n    path: ${models.dir}/m${version}.${suffix}\n    desc: v${version}\n"
            "  missing:\n    path: ${nope}\n",
            "sub/out/m2.bin.dvc": dvcfile("m2.bin"),
        }
    )
    second, missing = result.artifacts
    assert (second.name, second.path, second.desc, second.problem) == (
        "sub:second",
        "sub/out/m2.bin",
        "v2",
        None,
    )
    assert missing.problem == "cannot resolve its templating: could not find '${nope}' in params.yaml or vars"


def test_conflicting_vars_are_problems() -> None:
    result = index({"params.yaml": "a: 1\n", "dvc.yaml": "vars: [{a: 2}]\nartifacts:\n  m: {path: '${a}'}\n"})
    assert result.artifacts[0].problem is not None and "already defined" in result.artifacts[0].problem


def test_directory_output_and_inner_file() -> None:
    result = index(
        {
            ".dvc/config": CONFIG,
            "dvc.yaml": "artifacts:\n  d: {path: data/dir}\n  f: {path: data/dir/sub/w.bin}\n"
            "  bad: {path: data/file/x}\n",
            "data/dir.dvc": dvcfile("dir", MD5 + ".dir", "  nfiles: 2\n  hash: md5\n"),
            "data/file.dvc": dvcfile("file"),
        }
    )
    d, f, bad = result.artifacts
    assert d.output.is_dir and d.output.md5 == MD5 and d.output.nfiles == 2 and d.inner is None
    assert f.output == d.output and f.inner == "sub/w.bin"
    assert bad.problem == "data/file/x lies inside data/file, which DVC tracks as a file"


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        ("  cache: false\n", "m.bin is not cached by DVC (cache: false), so no remote holds it"),
        ("  push: false\n", "m.bin is never pushed to a remote (push: false)"),
        ("  files:\n  - {relpath: a, md5: x}\n", "cloud-versioned outputs are not supported"),
        ("  remote: nowhere\n", "remote 'nowhere' is not defined in .dvc/config"),
        ("  hash: sha256\n", "the output m.bin uses the hash 'sha256', which is not supported"),
    ],
)
def test_output_problems(extra: str, problem: str) -> None:
    artifact, _ = one(
        {
            ".dvc/config": CONFIG,
            "dvc.yaml": "artifacts:\n  m: {path: m.bin}\n",
            "m.bin.dvc": dvcfile("m.bin", extra=extra),
        }
    )
    assert artifact.problem == problem


def test_legacy_output_and_remotes() -> None:
    config = CONFIG + (
        b"['remote \"web\"']\n    url = https://h/store/\n    password = hunter2\n    user = me\n"
        b"['remote \"ref\"']\n    url = remote://web/sub\n    ssl_verify = false\n"
        b"['remote \"loop\"']\n    url = remote://loop/x\n['remote \"local\"']\n    url = ../store\n"
    )
    result = index(
        {
            ".dvc/config": config,
            "dvc.yaml": "artifacts:\n"
            + "".join(f"  {n}: {{path: {n}.bin}}\n" for n in ("old", "ref", "loop", "local")),
            "old.bin.dvc": dvcfile("old.bin", extra=""),
            "ref.bin.dvc": dvcfile("ref.bin", extra="  remote: ref\n"),
            "loop.bin.dvc": dvcfile("loop.bin", extra="  remote: loop\n"),
            "local.bin.dvc": dvcfile("local.bin", extra="  remote: local\n"),
        }
    )
    old, ref, loop, local = result.artifacts
    assert old.output.legacy and old.problem is None
    assert ref.output.remote.url == "https://h/store/sub" and ref.output.remote.options == {
        "ssl_verify": "false"
    }
    assert loop.problem == "remote 'loop' refers to itself through remote:// URLs"
    assert local.problem == "remote 'local' is a local path ('../store'), which the server cannot read"
    assert "hunter2" not in repr(result)


def test_no_remote_and_no_project() -> None:
    no_remote, _ = one(
        {".dvc/config": "", "dvc.yaml": "artifacts:\n  m: {path: m.bin}\n", "m.bin.dvc": dvcfile("m.bin")}
    )
    assert no_remote.problem == "no DVC remote is configured" and no_remote.output is not None
    no_project, _ = one({"dvc.yaml": "artifacts:\n  m: {path: m.bin}\n", "m.bin.dvc": dvcfile("m.bin")})
    assert no_project.problem == "m.bin is not tracked by DVC (no .dvc/config above /)"


def test_subdir_projects_use_their_own_config_and_outputs() -> None:
    other = b"[core]\nremote = b\n['remote \"b\"']\nurl = gs://b\n"
    result = index(
        {
            ".dvc/config": CONFIG,
            "sub/.dvc/config": other,
            "dvc.yaml": "artifacts:\n  inside: {path: sub/m.bin}\n",
            "sub/dvc.yaml": "artifacts:\n  m: {path: m.bin}\n",
            "sub/m.bin.dvc": dvcfile("m.bin"),
        }
    )
    inside, sub = result.artifacts
    assert inside.problem == "sub/m.bin is not tracked by DVC"  # the root project does not see sub/'s files
    assert sub.output.remote.url == "gs://b"


def test_pipeline_lock_problems() -> None:
    stage = "stages:\n  s:\n    cmd: c\n    wdir: w\n    outs: [o.bin]\nartifacts:\n  m: {path: w/o.bin}\n"
    lock = (
        f"schema: '2.0'\nstages:\n  s:\n    cmd: c\n    outs:\n    - {{path: o.bin, md5: {MD5}, hash: md5}}\n"
    )
    good, _ = one({".dvc/config": CONFIG, "dvc.yaml": stage, "dvc.lock": lock})
    assert good.problem is None and good.output.path == "w/o.bin"
    for bad in ("stages: [", "schema: '1.0'\n", "- x\n"):
        artifact, result = one({".dvc/config": CONFIG, "dvc.yaml": stage, "dvc.lock": bad})
        assert "has no md5" in artifact.problem and result.problems[0].startswith("dvc.lock: ")


def test_tracked_twice_is_a_problem() -> None:
    artifact, _ = one(
        {
            ".dvc/config": CONFIG,
            "dvc.yaml": "artifacts:\n  m: {path: m.bin}\n",
            "m.bin.dvc": dvcfile("m.bin"),
            "x.dvc": dvcfile("m.bin"),
        }
    )
    assert artifact.problem == "m.bin is tracked twice (m.bin.dvc, x.dvc)"


def test_object_url_layouts() -> None:
    assert (
        object_url("s3://b/store/", MD5, legacy=False, is_dir=False) == f"s3://b/store/files/md5/55/{MD5[2:]}"
    )
    assert object_url("azure://c", MD5 + ".dir", legacy=True, is_dir=True) == f"azure://c/55/{MD5[2:]}.dir"
    with pytest.raises(InvalidArgument):
        object_url("s3://b", "../../x", legacy=False, is_dir=False)


def manifest(entries: object) -> tuple[bytes, str]:
    data = json.dumps(entries, sort_keys=True).encode()
    return data, hashlib.md5(data).hexdigest()


def test_parse_dir_manifest() -> None:
    data, md5 = manifest([{"md5": MD5, "relpath": "a/b.bin"}, {"md5": MD5.upper(), "relpath": "c"}])
    assert parse_dir_manifest(data, md5 + ".dir") == [("a/b.bin", MD5), ("c", MD5)]


@pytest.mark.parametrize(
    "entries",
    [
        {"relpath": "a"},
        [{"relpath": "/etc/passwd", "md5": MD5}],
        [{"relpath": "a/../../b", "md5": MD5}],
        [{"relpath": "a\\b", "md5": MD5}],
        [{"relpath": "", "md5": MD5}],
        [{"relpath": "a", "md5": MD5}, {"relpath": "a", "md5": MD5}],
        [{"relpath": "a", "md5": "zz"}],
        ["a"],
    ],
)
def test_parse_dir_manifest_rejects(entries: object) -> None:
    data, md5 = manifest(entries)
    with pytest.raises(InvalidArgument):
        parse_dir_manifest(data, md5)


def test_parse_dir_manifest_checks_hash_and_json() -> None:
    data, md5 = manifest([{"md5": MD5, "relpath": "a"}])
    with pytest.raises(InvalidArgument, match="does not match"):
        parse_dir_manifest(data + b" ", md5)
    with pytest.raises(InvalidArgument, match="not JSON"):
        parse_dir_manifest(b"{", hashlib.md5(b"{").hexdigest())
