"""Git models under load: `python -m benchmarks.gitmodels [--duration S] [--tags N] [--files N]`.

Builds a Git repository with plain git (a DVC project whose remote is moto's S3 server, one file model,
one directory model of `--files` files whose `.dir` manifest is in the bucket, and `--tags` GTO tags),
starts moto and a real `modelshelf serve` configured by a TOML file, and measures:

- how long the first index of the repository takes (create-project until `lastIndexedAt` is set);
- a refresh that finds no new tag, and the `git fetch` inside it (in this process, on the server's
  database: the same code the server's background worker runs);
- warm `get-download-uris` for the file model at 1 connection (p50) and 16 (requests per second),
  and for the directory model at 1 connection (p50), signing included, with wrk.

Prints a table with the issue's targets and writes benchmarks/results/gitmodels-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from benchmarks import server, wrk
from benchmarks.measurement import Measurement

RESULTS_DIR = Path(__file__).with_name("results")
BUCKET = "bench-models"
REPO_URL = "https://git.bench.invalid/acme/models.git"
KEY, SECRET = "bench-key", "bench-secret"
TARGETS = {
    "file_p50_ms": 2.0,
    "file_rps_16": 1000.0,
    "dir_p50_ms": 50.0,
    "index_s": 10.0,
    "refresh_overhead_ms": 200.0,
}


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()  # DVC's content hash


def git(repo: Path, *args: str, stdin: str | None = None) -> str:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(repo),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "b",
        "GIT_AUTHOR_EMAIL": "b@example.com",
        "GIT_COMMITTER_NAME": "b",
        "GIT_COMMITTER_EMAIL": "b@example.com",
    }
    done = subprocess.run(
        ["git", *args], cwd=repo, env=env, input=stdin, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def build_repository(root: Path, endpoint: str, tags: int, files: int) -> tuple[Path, dict[str, bytes]]:
    """The repository (as a bare clone the server reaches through a rewrite), and the objects to upload."""
    work = root / "work"
    work.mkdir(parents=True)
    git(work, "init", "-q", "-b", "main")
    objects: dict[str, bytes] = {}
    model = os.urandom(4096)
    objects[md5(model)] = model
    entries = []
    for i in range(files):
        data = f"file {i}\n".encode()
        objects[md5(data)] = data
        entries.append({"md5": md5(data), "relpath": f"part-{i // 100}/file-{i:05d}.bin"})
    manifest = json.dumps(sorted(entries, key=lambda e: e["relpath"]), sort_keys=True).encode()
    objects[md5(manifest) + ".dir"] = manifest
    (work / ".dvc").mkdir()
    (work / ".dvc" / "config").write_text(
        f"[core]\n    remote = s3\n['remote \"s3\"']\n    url = s3://{BUCKET}/store\n"
        f"    endpointurl = {endpoint}\n"
    )
    (work / "models").mkdir()
    (work / "models" / "model.pkl.dvc").write_text(
        f"outs:\n- md5: {md5(model)}\n  size: {len(model)}\n  hash: md5\n  path: model.pkl\n"
    )
    (work / "models" / "big-dir.dvc").write_text(
        f"outs:\n- md5: {md5(manifest)}.dir\n  nfiles: {files}\n  hash: md5\n  path: big-dir\n"
    )
    (work / "dvc.yaml").write_text(
        "artifacts:\n  clf:\n    path: models/model.pkl\n    type: model\n"
        "  big:\n    path: models/big-dir\n    type: model\n"
    )
    git(work, "add", "-A")
    git(work, "commit", "-qm", "models")
    commit = git(work, "rev-parse", "HEAD")
    stream = []
    base = 1_767_225_600
    for i in range(tags):
        # Registrations of clf and big, and stage assignments, as a busy registry accumulates them.
        name = (f"clf@v1.{i // 3}.0", f"big@v2.{i // 3}.0", f"clf#prod#{i}")[i % 3]
        stream.append(f"tag {name}\nfrom {commit}\ntagger b <b@example.com> {base + i} +0000\ndata 0\n\n")
    git(work, "fast-import", "--quiet", stdin="".join(stream))
    bare = root / "bare" / "models.git"
    bare.parent.mkdir()
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(bare)], check=True)
    return bare, objects


def start_moto(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = server.free_port()
    moto = shutil.which("moto_server") or str(Path(sys.executable).with_name("moto_server"))
    log = (workdir / "moto.log").open("wb")
    proc = subprocess.Popen(
        [moto, "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(endpoint, timeout=1).close()
            return proc, endpoint
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("moto_server did not start")


def upload(endpoint: str, objects: dict[str, bytes]) -> None:
    import boto3

    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=KEY,
        aws_secret_access_key=SECRET,
        region_name="us-east-1",
    )
    s3.create_bucket(Bucket=BUCKET)
    for name, data in objects.items():
        s3.put_object(Bucket=BUCKET, Key=f"store/files/md5/{name[:2]}/{name[2:]}", Body=data)


def call(base: str, token: str, method: str, path: str, body: object = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        base + path, data=data, method=method, headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"null")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--tags", type=int, default=1000)
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args(argv)
    executable = wrk.required()
    root = Path(tempfile.mkdtemp(prefix="modelshelf-bench-git-"))
    moto, endpoint = start_moto(root)
    results: dict[str, Any] = {"tags": args.tags, "files": args.files}
    try:
        bare, objects = build_repository(root, endpoint, args.tags, args.files)
        upload(endpoint, objects)
        config = root / "modelshelf.toml"
        config.write_text(
            f'[git]\nrefresh_interval = "0"\n[[git.rewrite]]\nprefix = "https://git.bench.invalid/acme/"\n'
            f'to = "{bare.parent.as_uri()}/"\n'
            f'[[storage]]\nurl = "s3://{BUCKET}"\nendpoint_url = "{endpoint}"\n'
            f'access_key_id = "{KEY}"\nsecret_access_key = "{SECRET}"\n'
        )
        with server.running(config=config) as live:
            assert live.token is not None
            started = time.monotonic()
            made = call(live.base_url, live.token, "POST", "/api/create-project", {"repo_url": REPO_URL})
            project_id = made["projects"][0]["id"]
            while True:
                shown = call(live.base_url, live.token, "GET", f"/api/projects/{project_id}")
                if shown["lastIndexedAt"] or shown["state"] == "error":
                    break
                time.sleep(0.02)
            results["index_s"] = time.monotonic() - started
            if shown["state"] != "ready":
                raise RuntimeError(f"indexing failed: {shown['error']}")
            results["refresh_ms"], results["fetch_ms"] = refresh_timing(live.data_dir, config)
            results["refresh_overhead_ms"] = results["refresh_ms"] - results["fetch_ms"]
            results["fresh_sign_ms"] = fresh_signing(config, args.files)

            def path(name: str) -> str:
                query = urllib.parse.urlencode({"repo": REPO_URL, "name": name})
                return f"/api/model-registry/get-download-uris?{query}"

            one = call(live.base_url, live.token, "GET", path("clf"))
            many = call(live.base_url, live.token, "GET", path("big"))
            assert len(one) == 1 and len(many) == args.files, (len(one), len(many))
            runs: dict[str, Measurement] = {}
            for key, name, connections in (
                ("file_1", "clf", 1),
                ("file_16", "clf", args.connections),
                ("dir_1", "big", 1),
            ):
                wrk.run(executable, live.base_url, [path(name)], connections, 1, live.token)  # warm-up
                runs[key] = wrk.run(
                    executable, live.base_url, [path(name)], connections, args.duration, live.token
                )
            results["runs"] = {key: m.as_dict() for key, m in runs.items()}
            results["file_p50_ms"] = runs["file_1"].p50_ms
            results["file_rps_16"] = runs["file_16"].rps
            results["dir_p50_ms"] = runs["dir_1"].p50_ms
            failed = sum(m.errors for m in runs.values())
    finally:
        server._stop(moto)
        shutil.rmtree(root, ignore_errors=True)
    report(results)
    RESULTS_DIR.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    (RESULTS_DIR / f"gitmodels-{stamp}.json").write_text(json.dumps(results, indent=1) + "\n")
    return 1 if failed else 0


def refresh_timing(data_dir: Path, config: Path) -> tuple[float, float]:
    """A refresh with no new tag, on the server's own database and mirror, and the fetch inside it."""
    from modelshelf.gitindex.mirror import Mirror, mirror_path
    from modelshelf.gitindex.urls import fetch_url, parse_repo_url
    from modelshelf.services.gitsync import Syncer
    from modelshelf.settings import GIT_SCHEMES, load_settings
    from modelshelf.store import gitmodels
    from modelshelf.store.engine import connect
    from modelshelf.store.session import Database

    settings = load_settings({"MODELSHELF_DATA_DIR": str(data_dir)}, config)
    database = Database(connect(settings.effective_database_url), threads=1)
    try:
        with database.read() as conn:
            [repository] = gitmodels.repositories(conn)
        syncer = Syncer(database, settings)
        refresh, fetch = [], []
        for _ in range(5):
            started = time.monotonic()
            outcome = syncer.sync(repository.id)
            refresh.append(time.monotonic() - started)
            assert outcome.fetched and not outcome.indexed, outcome
            url = fetch_url(parse_repo_url(repository.clone_url, schemes=GIT_SCHEMES), settings.git.rewrite)
            mirror = Mirror(mirror_path(settings.data_dir / "git", repository.identity))
            started = time.monotonic()
            mirror.sync(url, timeout=60, credentials=None)
            fetch.append(time.monotonic() - started)
        syncer.stop()
    finally:
        database.dispose()
    return sorted(refresh)[2] * 1000, sorted(fetch)[2] * 1000


def fresh_signing(config: Path, count: int) -> float:
    """Signing `count` URLs that were never signed before (the server reuses a URL it signed in the last
    minute, so its warm directory figure mostly measures reuse): median of 5, in ms."""
    from modelshelf.settings import load_settings
    from modelshelf.storage.signers import Signers

    settings = load_settings({}, config)
    signers = Signers(settings.storage, settings.signing)
    remote = f"s3://{BUCKET}/store"
    signer = signers.for_remote(remote, {})
    timings = []
    for round_ in range(5):
        urls = [f"{remote}/files/md5/{md5(f'{round_}-{i}'.encode())[:2]}/{i:030d}" for i in range(count)]
        started = time.monotonic()
        signer.sign_many(urls, expires_in=3600)
        timings.append(time.monotonic() - started)
    return sorted(timings)[2] * 1000


def report(results: dict[str, Any]) -> None:
    rows = [
        ("first index of the repository", f"{results['index_s']:.2f} s", f"≤ {TARGETS['index_s']:.0f} s"),
        ("refresh, no new tag (median of 5)", f"{results['refresh_ms']:.0f} ms", ""),
        ("  of which git fetch", f"{results['fetch_ms']:.0f} ms", ""),
        (
            "  the rest",
            f"{results['refresh_overhead_ms']:.0f} ms",
            f"≤ {TARGETS['refresh_overhead_ms']:.0f} ms",
        ),
        ("one-file model, p50 at 1 connection", f"{results['file_p50_ms']:.2f} ms", "≤ 2 ms"),
        ("one-file model, 16 connections", f"{results['file_rps_16']:.0f} req/s", "≥ 1,000 req/s"),
        (
            f"{results['files']}-file directory, p50 at 1 connection",
            f"{results['dir_p50_ms']:.1f} ms",
            "≤ 50 ms",
        ),
    ]
    print(f"Git models: {results['tags']} tags, a {results['files']}-file directory model, S3 (moto)")
    for label, value, target in rows:
        print(f"  {label:45} {value:>14}   {target}")


if __name__ == "__main__":
    raise SystemExit(main())
