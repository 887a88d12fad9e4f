"""`resolve` against the real gto 1.10.1 CLI: repositories written by `gto`, read back by pygit2 into `Tag`s,
and compared with what `gto show --json` says about the same repository.

Tag times: gto writes tags through dulwich, which stamps the tagger time with time.time() and reads only the
time zone from GIT_COMMITTER_DATE. So instead of sleeping between calls, each tag gto creates is re-dated
right after with real git (same name, target and message; only the tagger time changes), which gives fixed,
same-second-or-not times as the test chooses. Commits are dated long before every tag, as in real use, so
gto's per-commit "enrichment" events (dated by the commit) never count as the newest event.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pygit2
import pytest

from modelshelf.gitindex.gto import ArtifactState, summarize
from modelshelf.gitindex.tags import Tag
from tests.fixtures.dvc_tools import DvcTools, ensure_dvc_tools

T0 = 1_767_225_600  # 2026-01-01T00:00:00Z
COMMIT_DATE = "1700000000 +0000"  # 2023, before every tag


class Repo:
    def __init__(self, path: Path, tools: DvcTools) -> None:
        self.path = path
        self.tools = tools
        self.env = tools.env(path.parent, GIT_AUTHOR_DATE=COMMIT_DATE, GIT_COMMITTER_DATE=COMMIT_DATE)
        path.mkdir()
        self.git("init", "-q", ".")
        self.commits: list[str] = []
        for i in range(6):
            self.git("commit", "-q", "--allow-empty", "-m", f"commit {i}")
            self.commits.append(self.git("rev-parse", "HEAD"))

    def git(self, *args: str, stdin: str | None = None) -> str:
        done = subprocess.run(
            ["git", *args],
            cwd=self.path,
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    def tag_names(self) -> set[str]:
        return set(self.git("tag", "-l").split("\n")) - {""}

    def gto(self, at: int, *args: str) -> set[str]:
        """Runs `gto ARGS` and dates the tags it made at T0 + `at` seconds; returns their names."""
        before = self.tag_names()
        done = subprocess.run(
            [self.tools.gto, *args], cwd=self.path, env=self.env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stdout + done.stderr
        made = self.tag_names() - before
        for name in made:
            self.redate(name, T0 + at)
        return made

    def hand_tag(self, at: int, name: str, commit: str) -> None:
        self.git("tag", "-a", "-m", "made by hand", name, commit)
        self.redate(name, T0 + at)

    def redate(self, name: str, when: int) -> None:
        raw = self.git("cat-file", "tag", f"refs/tags/{name}")
        raw, count = re.subn(r"^(tagger .*> )\d+ [+-]\d{4}$", rf"\g<1>{when} +0000", raw, count=1, flags=re.M)
        assert count == 1
        sha = self.git("mktag", stdin=raw + "\n")
        self.git("update-ref", f"refs/tags/{name}", sha)

    def show(self, *args: str) -> Any:
        done = subprocess.run(
            [self.tools.gto, "show", *args, "--json"],
            cwd=self.path,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return json.loads(done.stdout)


def read_tags(path: Path) -> tuple[list[Tag], int]:
    """Annotated tags as the mirror reads them (peeled commit, tagger time), and how many lightweight
    tags were dropped."""
    repo = pygit2.Repository(str(path))
    tags: list[Tag] = []
    lightweight = 0
    for ref in repo.references.iterator():
        if not ref.name.startswith("refs/tags/"):
            continue
        obj = repo.get(ref.target)
        if not isinstance(obj, pygit2.Tag):
            lightweight += 1
            continue
        assert obj.tagger is not None
        commit = obj.peel(pygit2.Commit)
        tags.append(Tag(ref.name.removeprefix("refs/tags/"), str(commit.id), obj.tagger.time))
    return tags, lightweight


@pytest.fixture(scope="module")
def tools() -> DvcTools:
    return ensure_dvc_tools()


@pytest.fixture
def repo(tmp_path: Path, tools: DvcTools) -> Iterator[Repo]:
    yield Repo(tmp_path / "repo", tools)


def gto_view(repo: Repo) -> dict[str, ArtifactState]:
    """The registry as gto reports it, in our shape: `gto show -d` for every artifact (deprecated ones
    too) and `gto show NAME -d` for each one's versions and the commits of its stages."""
    registry = repo.show("-d")
    visible = repo.show()
    states: dict[str, ArtifactState] = {}
    for name, row in registry.items():
        assert (name in visible) == row["active"]  # gto hides deprecated artifacts by default
        versions: dict[str, str] = {}
        stages: dict[str, tuple[str, str]] = {}
        for version in repo.show(name, "-d"):
            if version["is_active"] and version["registrations"]:
                versions[version["version"]] = version["commit_hexsha"]
            for vstage in version["stages"]:
                stages[vstage["stage"]] = (vstage["version"], vstage["commit_hexsha"])
        assert {s: v for s, v in row["stage"].items() if v} == {s: v for s, (v, _) in stages.items()}
        deprecated = not row["active"]
        states[name] = ArtifactState(
            name=name,
            versions=versions,
            latest=None if deprecated else row["version"],
            stages=stages,
            deprecated=deprecated,
        )
    return states


def ours(repo: Repo) -> dict[str, ArtifactState]:
    tags, _ = read_tags(repo.path)
    summary = summarize(tags)
    assert summary.problems == ()
    return summary.artifacts


def test_resolve_reads_a_registry_as_gto_show_does(repo: Repo) -> None:
    c = repo.commits
    # clf: versions with a prerelease, two versions in one stage, then deregistration and unassignment
    assert repo.gto(1, "register", "clf", c[0], "--version", "v1.0.0") == {"clf@v1.0.0"}
    repo.gto(2, "register", "clf", c[1], "--version", "v1.1.0")
    assert repo.gto(3, "register", "clf", c[2], "--version", "v2.0.0-rc.1", "--simple", "false") == {
        "clf@v2.0.0-rc.1#1"
    }
    assert repo.gto(4, "assign", "clf", "--version", "v1.0.0", "--stage", "prod") == {"clf#prod#2"}
    repo.gto(5, "assign", "clf", "--version", "v1.1.0", "--stage", "staging")
    repo.gto(6, "assign", "clf", "--version", "v1.0.0", "--stage", "staging")
    repo.gto(7, "assign", "clf", "--version", "v1.1.0", "--stage", "prod")
    # monorepo name, written dir=name in tags
    assert repo.gto(8, "register", "nested/dir:tiny", c[1], "--version", "v0.1.0") == {
        "nested/dir=tiny@v0.1.0"
    }
    repo.gto(9, "assign", "nested/dir:tiny", "--version", "v0.1.0", "--stage", "dev")
    # a stage assigned to a commit without registering it (`--sr`): the version is the commit
    repo.gto(10, "assign", "sr", c[3], "--sr", "--stage", "dev")
    repo.gto(11, "register", "sr", c[4], "--version", "v0.0.1")
    repo.gto(12, "assign", "sr", "--version", "v0.0.1", "--stage", "prod")
    # noise that both readers ignore: a lightweight tag and names outside the grammar
    repo.git("tag", "clf@v9.0.0", c[5])
    repo.hand_tag(13, "release-1.0", c[5])
    repo.hand_tag(14, "clf@v9.0", c[5])

    state = ours(repo)
    assert state == gto_view(repo)
    assert state["clf"].latest == "v2.0.0-rc.1"  # a prerelease counts, the lightweight v9.0.0 does not
    assert state["clf"].stages == {"prod": ("v1.1.0", c[1]), "staging": ("v1.0.0", c[0])}
    assert state["nested/dir:tiny"].stages == {"dev": ("v0.1.0", c[1])}
    assert state["sr"].stages == {"dev": (c[3], c[3]), "prod": ("v0.0.1", c[4])}
    assert state["sr"].versions == {"v0.0.1": c[4]}
    tags, lightweight = read_tags(repo.path)
    assert lightweight == 1 and summarize(tags).ignored == 2
    assert repo.show("clf@latest")[0]["version"] == "v2.0.0-rc.1"
    assert [(v["version"], v["commit_hexsha"]) for v in repo.show("clf#prod")] == [("v1.1.0", c[1])]

    # deregistering v1.1.0 takes its prod assignment with it; then staging is unassigned from v1.0.0
    assert repo.gto(20, "deprecate", "clf", "v1.1.0") == {"clf@v1.1.0!"}
    assert repo.gto(21, "deprecate", "clf", "v1.0.0", "staging") == {"clf#staging!#6"}
    # a hand-made unassignment of an unregistered commit's stage: gto's reader cancels nothing with it
    repo.hand_tag(22, "sr#dev!#9", c[3])
    state = ours(repo)
    assert state == gto_view(repo)
    assert state["clf"].stages == {"prod": ("v1.0.0", c[0])}
    assert state["clf"].versions == {"v1.0.0": c[0], "v2.0.0-rc.1": c[2]}
    assert state["sr"].stages["dev"] == (c[3], c[3])


def test_deprecation_hides_an_artifact_until_a_later_event(repo: Repo) -> None:
    c = repo.commits
    for name in ("gone", "back"):
        repo.gto(1, "register", name, c[0], "--version", "v1.0.0")
        repo.gto(2, "assign", name, "--version", "v1.0.0", "--stage", "prod")
        assert repo.gto(3, "deprecate", name) == {f"{name}@deprecated"}
    repo.gto(4, "register", "back", c[1], "--version", "v1.1.0")
    state = ours(repo)
    assert state == gto_view(repo)
    assert state["gone"].deprecated and state["gone"].latest is None
    assert state["gone"].stages == {"prod": ("v1.0.0", c[0])}  # what `gto show -d` still resolves
    assert not state["back"].deprecated and state["back"].latest == "v1.1.0"


def test_same_second_ties_follow_the_counters(repo: Repo) -> None:
    c = repo.commits
    repo.gto(1, "register", "tie", c[0], "--version", "v2.0.0")
    repo.gto(2, "register", "tie", c[1], "--version", "v1.0.0")
    # two versions assigned to prod in the same second: #2 was written after #1
    assert repo.gto(5, "assign", "tie", "--version", "v1.0.0", "--stage", "prod") == {"tie#prod#1"}
    assert repo.gto(5, "assign", "tie", "--version", "v2.0.0", "--stage", "prod") == {"tie#prod#2"}
    # assigned and unassigned in the same second
    assert repo.gto(6, "assign", "tie", "--version", "v1.0.0", "--stage", "staging") == {"tie#staging#3"}
    assert repo.gto(6, "deprecate", "tie", "v1.0.0", "staging") == {"tie#staging!#4"}
    # registered and deregistered in the same second
    repo.gto(7, "register", "tie", c[2], "--version", "v3.0.0")
    repo.gto(7, "deprecate", "tie", "v3.0.0")
    state = ours(repo)
    assert state == gto_view(repo)
    assert state["tie"].stages == {"prod": ("v2.0.0", c[0])}
    assert state["tie"].latest == "v2.0.0"
