"""Resolution rules on synthetic tags: the cases a real gto cannot write (hand-made tags, same-second ties
decided by counters) and a large registry. Against the real CLI: tests/integration/test_gto_vs_cli.py."""

from __future__ import annotations

import random
import time

from modelshelf.gitindex.gto import ArtifactState, resolve, summarize
from modelshelf.gitindex.tags import Tag

A, B, C = "a" * 40, "b" * 40, "c" * 40


def one(*tags: Tag) -> ArtifactState:
    (state,) = resolve(tags).values()
    return state


def test_counter_breaks_a_same_second_tie_where_gtos_alphabetical_order_would_not() -> None:
    # Alphabetically "m#prod!#1" < "m#prod#2"; gto would keep the unassignment. The counters say the
    # reassignment came last.
    state = one(
        Tag("m@v1.0.0", A, 10), Tag("m#prod#1", A, 20), Tag("m#prod!#2", A, 30), Tag("m#prod#3", A, 30)
    )
    assert state.stages == {"prod": ("v1.0.0", A)}
    state = one(
        Tag("m@v1.0.0", A, 10), Tag("m@v2.0.0", B, 10), Tag("m#prod#10", A, 20), Tag("m#prod#9", B, 20)
    )
    assert state.stages == {"prod": ("v1.0.0", A)}


def test_without_counters_a_tie_goes_the_way_gto_sends_it() -> None:
    # registration and deregistration in one second: the deregistration wins
    assert one(Tag("m@v1.0.0", A, 10), Tag("m@v1.0.0!", A, 10)).versions == {}
    # assignment and unassignment in one second: the unassignment wins
    assert one(Tag("m@v1.0.0", A, 1), Tag("m#prod", A, 10), Tag("m#prod!", A, 10)).stages == {}
    # two versions assigned in one second: the version registered first wins
    tags = [Tag("m@v2.0.0", B, 1), Tag("m@v1.0.0", A, 2), Tag("m#prod", A, 10), Tag("m#prod", B, 10)]
    assert one(*tags).stages == {"prod": ("v2.0.0", B)}
    # a deprecation tied with any other event: the artifact stays active
    assert not one(Tag("m@v1.0.0", A, 10), Tag("m@deprecated", A, 10)).deprecated


def test_deprecation_and_revival() -> None:
    tags = [Tag("m@v1.0.0", A, 1), Tag("m#prod#1", A, 2), Tag("m@deprecated", A, 3)]
    state = one(*tags)
    assert state.deprecated and state.latest is None
    assert state.versions == {"v1.0.0": A} and state.stages == {"prod": ("v1.0.0", A)}  # as `gto show -d`
    assert one(*tags, Tag("m@deprecated#9", A, 4)).deprecated
    assert not one(*tags, Tag("m@v1.0.0!", A, 4)).deprecated  # any later event revives it, even this
    revived = one(*tags, Tag("m@v1.1.0", B, 4))
    assert not revived.deprecated and revived.latest == "v1.1.0"
    # a counted deprecation beats a same-second event with a smaller counter
    assert one(Tag("m@v1.0.0", A, 1), Tag("m#prod#1", A, 5), Tag("m@deprecated#2", A, 5)).deprecated


def test_hand_made_tags_gto_cannot_read_are_reported_not_raised() -> None:
    summary = summarize(
        [
            Tag("m@v1.0.0", A, 1),
            Tag("m@v2.0.0", A, 2),  # a second version on one commit: gto refuses to write it
            Tag("m#prod#1", A, 3),  # so this names no single version (gto: ManyVersions)
            Tag("m@v3.0.0", B, 4),
            Tag("m@v3.0.0", C, 5),  # impossible in git (one name), but a mirror of two remotes could
            Tag("m@created", A, 6),  # gto fails on it; no effect here
            Tag("not a tag", A, 7),
            Tag("m@v1.0", A, 8),
        ]
    )
    state = summary.artifacts["m"]
    assert state.versions == {"v1.0.0": A, "v2.0.0": A, "v3.0.0": C}
    assert state.latest == "v3.0.0" and state.stages == {}
    assert summary.ignored == 2
    assert len(summary.problems) == 2
    assert "m#prod#1" in summary.problems[0] and "v1.0.0, v2.0.0" in summary.problems[0]
    assert "m@v3.0.0" in summary.problems[1]


def test_an_unregistered_commits_unassignment_cancels_nothing_as_in_gto() -> None:
    state = one(Tag("m#dev#1", A, 1), Tag("m#dev!#2", A, 2))
    assert state.stages == {"dev": (A, A)} and state.versions == {} and state.latest is None
    # once the commit is registered, the same tags form one version and the unassignment holds
    assert one(Tag("m#dev#1", A, 1), Tag("m#dev!#2", A, 2), Tag("m@v1.0.0", A, 3)).stages == {}


def test_ten_thousand_tags() -> None:
    rng = random.Random(9)
    tags: list[Tag] = []
    expected_latest: dict[str, tuple[int, int, int]] = {}
    for i in range(5_000):
        artifact = f"dir{i % 5}=model{i % 10}"
        commit = f"{i:040x}"
        version = (rng.randrange(30), rng.randrange(30), i)
        tags.append(Tag(f"{artifact}@v{version[0]}.{version[1]}.{version[2]}", commit, 1_000 + i))
        tags.append(Tag(f"{artifact}#stage{i % 3}#{i + 1}", commit, 1_000 + i))
        expected_latest[artifact] = max(expected_latest.get(artifact, version), version)
    rng.shuffle(tags)
    started = time.perf_counter()
    summary = summarize(tags)
    elapsed = time.perf_counter() - started
    assert len(summary.artifacts) == 10 and summary.ignored == 0 and summary.problems == ()
    for artifact, version in expected_latest.items():
        state = summary.artifacts[artifact.replace("=", ":")]
        assert state.latest == "v{}.{}.{}".format(*version)
        assert len(state.versions) == 500
        # the newest assignment of each stage: the last tag written for it
        for stage in range(3):
            last = max(
                (t for t in tags if t.name.startswith(f"{artifact}#stage{stage}#")), key=lambda t: t.time
            )
            assert state.stages[f"stage{stage}"][1] == last.commit
    print(f"resolved 10,000 tags in {elapsed * 1000:.0f} ms")
