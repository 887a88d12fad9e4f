"""Bare mirrors against real repositories made by real git: clone then fetch (new, deleted and moved tags),
annotated tags read and peeled, files and blobs read from the object database, and fetches that fail
quickly with a clear reason: an unreachable server, a server that never answers (the whole git process
group killed at the deadline), HTTP Basic auth through the real `git http-backend` with a right and a
wrong password that never shows up in an error or a process's arguments."""

from __future__ import annotations

import fcntl
import os
import shlex
import subprocess
import threading
import time
from pathlib import Path

import pytest

from modelshelf.gitindex.gitcommand import GitContext, git_command
from modelshelf.gitindex.mirror import Mirror, MirrorError, mirror_path
from modelshelf.gitindex.tags import Tag
from modelshelf.gitindex.urls import fetch_url, parse_repo_url
from modelshelf.settings import GitCredential, GitRewrite
from tests.fixtures.git_servers import closed_port, git_http_server, silent_server

BASE_TIME = 1_700_000_000
PASSWORD = "s3cret-Pa55word-not-in-args"


class Source:
    """A repository made with real git, in a clean environment (no user config), with fixed dates."""

    def __init__(self, path: Path, *, bare: bool = False) -> None:
        self.path = path
        self.home = path.parent / f"{path.name}-home"
        self.home.mkdir(parents=True, exist_ok=True)
        self.clock = BASE_TIME
        self.git("init", "--quiet", *(["--bare"] if bare else []), str(path), cwd=path.parent)

    def git(self, *args: str, cwd: Path | None = None, stdin: str | None = None) -> str:
        self.clock += 60
        env = {
            "PATH": os.environ["PATH"],
            "HOME": str(self.home),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_AUTHOR_NAME": "tester",
            "GIT_AUTHOR_EMAIL": "tester@example.com",
            "GIT_COMMITTER_NAME": "tester",
            "GIT_COMMITTER_EMAIL": "tester@example.com",
            "GIT_AUTHOR_DATE": f"@{self.clock} +0000",
            "GIT_COMMITTER_DATE": f"@{self.clock} +0000",
        }
        done = subprocess.run(
            ["git", *args],
            cwd=cwd or self.path,
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout.strip()

    def commit(self, files: dict[str, bytes | str], message: str = "change") -> str:
        for name, content in files.items():
            target = self.path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content.encode() if isinstance(content, str) else content)
        self.git("add", "--all")
        self.git("commit", "--quiet", "-m", message)
        return self.git("rev-parse", "HEAD")

    def tag(self, name: str, target: str = "HEAD", *, annotated: bool = True, force: bool = False) -> int:
        """Makes the tag; returns its tagger time."""
        options = ["-a", "-m", f"tag {name}"] if annotated else []
        self.git("tag", *options, *(["-f"] if force else []), name, target)
        return self.clock

    @property
    def url(self) -> str:
        return f"file://{self.path}"


@pytest.fixture
def source(tmp_path: Path) -> Source:
    return Source(tmp_path / "src" / "models")


@pytest.fixture
def mirror(tmp_path: Path) -> Mirror:
    return Mirror(mirror_path(tmp_path / "data" / "git", "example.org/acme/models"))


def sync(mirror: Mirror, url: str, timeout: float = 30, credentials: GitCredential | None = None) -> None:
    mirror.sync(url, timeout=timeout, credentials=credentials)


def by_name(tags: list[Tag]) -> dict[str, Tag]:
    return {t.name: t for t in tags}


def test_a_first_sync_clones_bare_and_reads_annotated_tags_only(source: Source, mirror: Mirror) -> None:
    first = source.commit({"dvc.yaml": "artifacts: {}\n", "models/a.txt": "a"})
    t1 = source.tag("model@v1.0.0")
    second = source.commit({"models/a.txt": "b"})
    t2 = source.tag("model#prod#1")
    source.tag("light", annotated=False)
    t_outer = source.tag("outer", "model@v1.0.0")  # a tag on a tag peels to its commit
    blob = source.git("rev-parse", "HEAD:models/a.txt")
    source.tag("on-a-blob", blob)
    source.tag("on-a-tree", source.git("rev-parse", "HEAD^{tree}"))
    source.tag("light-on-a-blob", blob, annotated=False)

    sync(mirror, source.url)

    tags, ignored = mirror.tags()
    assert by_name(tags) == {
        "model@v1.0.0": Tag("model@v1.0.0", first, t1),
        "model#prod#1": Tag("model#prod#1", second, t2),
        "outer": Tag("outer", first, t_outer),
    }
    assert ignored == 4
    assert (mirror.path / "HEAD").is_file() and not (mirror.path / ".git").exists()
    assert not (mirror.path / "models").exists()  # no working tree
    assert not list(mirror.path.parent.glob(".*.tmp-*"))


def test_a_second_sync_fetches_new_moved_and_deleted_tags(source: Source, mirror: Mirror) -> None:
    first = source.commit({"a": "1"})
    source.tag("m@v1.0.0")
    source.tag("gone@v1.0.0")
    sync(mirror, source.url)
    before = mirror.fingerprint()

    sync(mirror, source.url)  # nothing new: the same fingerprint
    assert mirror.fingerprint() == before
    source.commit({"b": "2"})  # a new commit without a new tag changes no tag
    sync(mirror, source.url)
    assert mirror.fingerprint() == before

    second = source.commit({"c": "3"})
    added = source.tag("m@v2.0.0")
    moved = source.tag("m@v1.0.0", force=True)
    source.git("tag", "-d", "gone@v1.0.0")
    sync(mirror, source.url)

    tags = by_name(mirror.tags()[0])
    assert tags == {"m@v1.0.0": Tag("m@v1.0.0", second, moved), "m@v2.0.0": Tag("m@v2.0.0", second, added)}
    assert first != second
    after = mirror.fingerprint()
    assert after != before
    sync(mirror, source.url)
    assert mirror.fingerprint() == after


def test_sync_through_a_rewrite(tmp_path: Path, mirror: Mirror) -> None:
    served = Source(tmp_path / "srv" / "git" / "acme" / "models.git", bare=True)
    work = Source(tmp_path / "work")
    commit = work.commit({"dvc.yaml": "artifacts: {}\n"})
    work.tag("m@v1.0.0")
    work.git("push", "--quiet", "--tags", str(served.path), "HEAD:refs/heads/main")

    rewrites = [GitRewrite(prefix="https://github.com/acme/", to=f"file://{tmp_path}/srv/git/acme/")]
    repo = parse_repo_url("git@github.com:acme/models.git", schemes=("https", "ssh"))
    url = fetch_url(repo, rewrites)
    assert url == f"file://{tmp_path}/srv/git/acme/models.git"
    sync(mirror, url)
    assert [(t.name, t.commit) for t in mirror.tags()[0]] == [("m@v1.0.0", commit)]


def test_files_and_blobs_are_read_from_the_object_database(source: Source, mirror: Mirror) -> None:
    commit = source.commit(
        {
            "dvc.yaml": "artifacts: {}\n",
            "nested/dir/dvc.yaml": "artifacts: {x: {path: m.pkl, type: model}}\n",
            "nested/dir/m.pkl.dvc": "outs: []\n",
            "big.bin": b"\0" * 2000,
        }
    )
    os.symlink("dvc.yaml", source.path / "link.yaml")
    linked = source.commit({}, "a symlink")
    sync(mirror, source.url)

    assert mirror.files(commit, lambda p: p.endswith("dvc.yaml")) == ["dvc.yaml", "nested/dir/dvc.yaml"]
    assert mirror.files(commit, lambda p: True) == [
        "big.bin",
        "dvc.yaml",
        "nested/dir/dvc.yaml",
        "nested/dir/m.pkl.dvc",
    ]
    assert "link.yaml" not in mirror.files(linked, lambda p: True)  # a symlink is not a file to read
    assert mirror.read(commit, "nested/dir/dvc.yaml") == b"artifacts: {x: {path: m.pkl, type: model}}\n"
    assert mirror.read(commit, "big.bin") == b"\0" * 2000
    for absent in (
        "missing.yaml",
        "nested/missing",
        "nested/dir",
        "../dvc.yaml",
        "/dvc.yaml",
        "nested//dir/dvc.yaml",
        "",
    ):
        assert mirror.read(commit, absent) is None, absent
    assert mirror.read(linked, "link.yaml") is None

    with pytest.raises(MirrorError, match=r"big.bin in commit \w+ is larger than 1000 bytes \(2000 bytes\)"):
        mirror.read(commit, "big.bin", max_bytes=1000)
    with pytest.raises(MirrorError, match="has more than 3 files and directories"):
        mirror.files(commit, lambda p: True, max_entries=3)
    with pytest.raises(MirrorError, match="is not in the mirror"):
        mirror.read("0" * 40, "dvc.yaml")
    with pytest.raises(MirrorError, match="not a commit id"):
        mirror.files("HEAD", lambda p: True)
    blob = source.git("rev-parse", f"{commit}:dvc.yaml")
    with pytest.raises(MirrorError, match="is not in the mirror"):
        mirror.read(blob, "dvc.yaml")


def test_hostile_tree_entries_are_skipped(source: Source, mirror: Mirror) -> None:
    blob = source.git("hash-object", "-w", "--stdin", stdin="payload\n")
    inner = source.git("mktree", stdin=f"100644 blob {blob}\tdvc.yaml\n")
    tree = source.git(
        "mktree", stdin=f"100644 blob {blob}\t..\n040000 tree {inner}\t.git\n040000 tree {inner}\tok\n"
    )
    commit = source.git("commit-tree", tree, "-m", "hostile")
    source.tag("hostile", commit)
    sync(mirror, source.url)
    assert mirror.files(commit, lambda p: True) == ["ok/dvc.yaml"]
    assert mirror.read(commit, "ok/dvc.yaml") == b"payload\n"


def test_reads_before_the_first_sync_fail_clearly(mirror: Mirror) -> None:
    with pytest.raises(MirrorError, match="has not been fetched yet"):
        mirror.tags()


def test_an_empty_repository_syncs_with_no_tags(source: Source, mirror: Mirror) -> None:
    sync(mirror, source.url)
    assert mirror.tags() == ([], 0)


def test_an_unreachable_server_fails_quickly_with_the_reason(mirror: Mirror) -> None:
    started = time.monotonic()
    with pytest.raises(MirrorError) as caught:
        sync(mirror, f"http://127.0.0.1:{closed_port()}/x.git")
    assert time.monotonic() - started < 10
    assert "Couldn't connect to server" in str(caught.value) or "Connection refused" in str(caught.value)
    assert "\n" not in str(caught.value)
    assert not mirror.path.exists()
    assert not list(mirror.path.parent.glob(".*.tmp-*"))


def test_a_missing_repository_names_the_problem(tmp_path: Path, mirror: Mirror) -> None:
    with pytest.raises(MirrorError, match="does not appear to be a git repository"):
        sync(mirror, f"file://{tmp_path}/nothing-here.git")


def test_ssh_runs_in_batch_mode_with_the_key_and_says_why_it_failed(tmp_path: Path, mirror: Mirror) -> None:
    key = tmp_path / "deploy_key"
    key.write_text("not a key\n")
    key.chmod(0o600)
    prefix, env = git_command(
        "git@example.org:a/b.git",
        GitContext(home=tmp_path / "home", known_hosts=tmp_path / "known_hosts"),
        GitCredential(host="example.org", ssh_key=key),
    )
    ssh = shlex.split(env["GIT_SSH_COMMAND"])
    assert ssh[ssh.index("-i") + 1] == str(key)
    for option in ("BatchMode=yes", "IdentitiesOnly=yes", "StrictHostKeyChecking=accept-new"):
        assert option in ssh
    assert f"UserKnownHostsFile={tmp_path / 'known_hosts'}" in ssh
    assert "protocol.ssh.allow=always" in prefix and "protocol.allow=never" in prefix

    started = time.monotonic()
    with pytest.raises(MirrorError, match=r"Connection refused \(Could not read from remote repository\)$"):
        sync(
            mirror,
            f"ssh://git@127.0.0.1:{closed_port()}/a/b.git",
            credentials=GitCredential(host="127.0.0.1", ssh_key=key),
        )
    assert time.monotonic() - started < 10


def test_the_servers_git_environment_does_not_leak_in(
    source: Source, mirror: Mirror, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source.commit({"a": "1"})
    source.tag("m@v1.0.0")
    monkeypatch.setenv("GIT_DIR", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("GIT_CONFIG_PARAMETERS", "'protocol.allow'='never'")
    monkeypatch.setenv("GIT_SSH_COMMAND", "touch /tmp/pwned")
    monkeypatch.setenv("HOME", str(tmp_path / "home-with-config"))
    (tmp_path / "home-with-config").mkdir()
    (tmp_path / "home-with-config" / ".gitconfig").write_text("[protocol]\n\tallow = never\n")
    sync(mirror, source.url)
    assert [t.name for t in mirror.tags()[0]] == ["m@v1.0.0"]


def test_other_transports_are_refused_for_a_url(tmp_path: Path, source: Source, mirror: Mirror) -> None:
    # an operator's rewrite may point anywhere, yet never to git's "<helper>::" addresses (ext:: runs
    # a command); git itself is also told to allow only the URL's own protocol
    with pytest.raises(MirrorError, match="unsupported repository URL"):
        sync(mirror, "ext::sh -c 'touch /tmp/pwned'")
    with pytest.raises(MirrorError, match="unsupported repository URL scheme 'ftp'"):
        sync(mirror, "ftp://127.0.0.1/x.git")


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if text.encode() in cmdline:
                found.append(cmdline.replace(b"\0", b" ").decode(errors="replace"))
    return found


def test_a_server_that_never_answers_is_cut_at_the_deadline(mirror: Mirror) -> None:
    with silent_server() as port:
        url = f"http://127.0.0.1:{port}/x.git"
        started = time.monotonic()
        with pytest.raises(MirrorError, match=r"^fetch timed out after 1.5 s$"):
            sync(mirror, url, timeout=1.5)
        elapsed = time.monotonic() - started
        assert 1.4 < elapsed < 5
        deadline = time.monotonic() + 5
        while _processes_mentioning(url) and time.monotonic() < deadline:
            time.sleep(0.05)  # killed at once; the children are reaped by init a moment later
        assert _processes_mentioning(url) == []
    assert not mirror.path.exists()


def test_a_second_sync_waits_for_the_first_and_the_lock_has_the_deadline(
    source: Source, mirror: Mirror
) -> None:
    source.commit({"a": "1"})
    source.tag("m@v1.0.0")
    errors: list[BaseException] = []

    def run() -> None:
        try:
            sync(mirror, source.url)
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert [t.name for t in mirror.tags()[0]] == ["m@v1.0.0"]

    lock = os.open(mirror.path.with_name(mirror.path.name + ".lock"), os.O_RDWR)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)  # as another process's sync would
        started = time.monotonic()
        with pytest.raises(MirrorError, match=r"timed out after 0\.5 s waiting for another fetch"):
            sync(mirror, source.url, timeout=0.5)
        assert time.monotonic() - started < 3
    finally:
        os.close(lock)


def test_reads_go_on_while_a_sync_runs(source: Source, mirror: Mirror) -> None:
    source.commit({"a": "1"})
    source.tag("m@v0.0.1")
    sync(mirror, source.url)
    stop = threading.Event()
    problems: list[BaseException] = []

    def read() -> None:
        while not stop.is_set():
            try:
                tags, _ = mirror.tags()
                assert tags
                mirror.files(tags[0].commit, lambda p: True)
            except BaseException as err:
                problems.append(err)
                return

    readers = [threading.Thread(target=read) for _ in range(2)]
    for reader in readers:
        reader.start()
    try:
        for n in range(5):
            source.commit({f"f{n}": str(n)})
            source.tag(f"m@v1.0.{n}")
            sync(mirror, source.url)
    finally:
        stop.set()
        for reader in readers:
            reader.join(10)
    assert problems == []
    assert len(mirror.tags()[0]) == 6


# --- HTTP Basic auth through the real git http-backend ---------------------------------------------------


@pytest.fixture
def served(tmp_path: Path) -> Source:
    work = Source(tmp_path / "work")
    work.commit({"dvc.yaml": "artifacts: {}\n"})
    work.tag("m@v1.0.0")
    bare = tmp_path / "root" / "models.git"
    bare.parent.mkdir()
    work.git("clone", "--quiet", "--bare", str(work.path), str(bare))
    return work


def test_basic_auth_with_the_right_credentials(tmp_path: Path, served: Source, mirror: Mirror) -> None:
    leaks: list[str] = []
    with git_http_server(
        tmp_path / "root",
        username="deploy",
        password=PASSWORD,
        on_request=lambda: leaks.extend(_processes_mentioning(PASSWORD)),
    ) as server:
        url = f"http://127.0.0.1:{server.server_port}/models.git"
        credential = GitCredential(
            host=f"127.0.0.1:{server.server_port}", username="deploy", password=PASSWORD
        )
        sync(mirror, url, credentials=credential)
        sync(mirror, url, credentials=credential)  # the fetch path too
    assert [t.name for t in mirror.tags()[0]] == ["m@v1.0.0"]
    assert server.refused >= 1  # git asked without credentials first, then used the helper's
    assert leaks == []  # the password was in no process's arguments while git ran
    for stored in mirror.path.parent.rglob("*"):
        if stored.is_file():
            assert PASSWORD.encode() not in stored.read_bytes(), stored


@pytest.mark.parametrize(
    "credential",
    [
        GitCredential(host="127.0.0.1", username="deploy", password="wrong-" + PASSWORD),
        GitCredential(host="127.0.0.1", username="intruder", password=PASSWORD),
        None,
    ],
    ids=["wrong-password", "wrong-user", "none"],
)
def test_basic_auth_with_wrong_credentials_fails_clearly_and_at_once(
    tmp_path: Path, served: Source, mirror: Mirror, credential: GitCredential | None
) -> None:
    with git_http_server(tmp_path / "root", username="deploy", password=PASSWORD) as server:
        url = f"http://127.0.0.1:{server.server_port}/models.git"
        started = time.monotonic()
        with pytest.raises(MirrorError) as caught:
            sync(mirror, url, timeout=30, credentials=credential)
        assert time.monotonic() - started < 10  # no prompt waited on
    message = str(caught.value)
    expected = "Authentication failed" if credential else "terminal prompts disabled"
    assert expected in message
    assert PASSWORD not in message and "wrong-" not in message
    assert not mirror.path.exists()


def test_a_credential_with_a_line_break_is_refused(mirror: Mirror, source: Source) -> None:
    credential = GitCredential(host="127.0.0.1", username="deploy", password="a\nprotocol=file")
    with pytest.raises(MirrorError, match=r"credentials configured for 127\.0\.0\.1 contain a line break"):
        sync(mirror, "http://127.0.0.1:1/x.git", credentials=credential)


# --- scale -----------------------------------------------------------------------------------------------


def test_a_thousand_annotated_tags(source: Source, mirror: Mirror) -> None:
    commit = source.commit({"dvc.yaml": "artifacts: {}\n"})
    stream = "".join(
        f"tag m@v1.0.{n}\nfrom {commit}\ntagger tester <t@example.com> {BASE_TIME + n} +0000\ndata 4\ntag\n\n"
        for n in range(1000)
    )
    source.git("fast-import", "--quiet", stdin=stream)
    started = time.monotonic()
    sync(mirror, source.url)
    synced = time.monotonic() - started

    started = time.monotonic()
    tags, ignored = mirror.tags()
    read = time.monotonic() - started
    started = time.monotonic()
    fingerprint = mirror.fingerprint()
    fingerprinted = time.monotonic() - started

    assert len(tags) == 1000 and ignored == 0 and fingerprint
    assert {t.commit for t in tags} == {commit}
    assert sorted(t.time for t in tags) == [BASE_TIME + n for n in range(1000)]
    print(f"\n1,000 annotated tags: sync {synced * 1000:.0f} ms, tags() {read * 1000:.1f} ms, "
          f"fingerprint() {fingerprinted * 1000:.1f} ms")  # fmt: skip
