"""GTO's tag grammar and what a set of annotated tags says: versions, latest, stages and deprecation.

Pure functions over `Tag`s; no I/O. The grammar is gto 1.10.1's `gto/constants.py` `tag_re`, copied
verbatim so that whatever `gto` and DVC accept, we accept. `resolve` replays events the way gto's
`GitRegistry.get_state` does (`gto/tag.py`, `gto/base.py`), so a repository reads here as `gto show` reads it:

* three passes, like gto's three managers: deprecations, then registrations/deregistrations, then stage
  assignments, each in (tagger time, tag name) order - gto sorts `scm.list_tags()` (alphabetical) stably by
  time. Because versions are built before stages, an assignment counts for the version registered on its
  commit even when the registration is younger than the assignment.
* "newest" compares tagger times (1 s resolution). Within the same second, when both tags carry a
  counter (`#N`, one sequence per artifact) the counter decides: it is the order the tags were written in.
  Otherwise the tie goes the way gto's stable sorts send it (documented at each rule below). gto itself
  never looks at counters, so it disagrees with us only for same-second tags whose counters and
  alphabetical order disagree (`#prod!#1` then `#prod#2`, or `#9` then `#10`).

Where gto's reader fails on a tag (`name@created`: KeyError; a stage tag on a commit carrying two versions:
ManyVersions), we go on without the tag; the second kind is reported in `Summary.problems`. gto also adds an
event per version dated by its commit; commits predate their tags, so it never counts as newest and is left
out (a `Tag` carries no commit date). A deprecated artifact keeps its versions and stages (as `gto show -d`
resolves them) and has no latest; `gto show` hides it.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import semver

from modelshelf.errors import InvalidArgument, shown
from modelshelf.gitindex.tags import Tag

# --- grammar (gto/constants.py, verbatim) ------------------------------------------------------------------

_DIRNAME = "[a-zA-Z0-9-_./]+"
_NAME = r"[a-zA-Z0-9]([a-zA-Z0-9-/_]*[a-zA-Z0-9])?"
_SEMVER = (
    r"(?P<major>0|[1-9]\d*)\.(?P<minor>0|[1-9]\d*)\.(?P<patch>0|[1-9]\d*)"
    r"(?:-(?P<prerelease>(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+(?P<buildmetadata>[0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?"
)
_FULLNAME_IN_TAG = f"(?P<dirname>{_DIRNAME}=)?(?P<name>{_NAME})"
# gto matches with re.search and `$`, which also accepts one trailing newline; fullmatch does not, and a git
# ref name cannot contain a newline, so the two agree on every real tag.
_TAG_RE = re.compile(
    f"(?P<artifact>{_FULLNAME_IN_TAG})"
    f"(((#(?P<stage>{_NAME})|@(?P<version>v{_SEMVER}))(?P<cancel>!?))|@((?P<deprecated>deprecated)|(?P<created>created)))"
    r"(#(?P<counter>[0-9]+))?"
)
_NAME_RE = re.compile(_NAME)


class Action(enum.StrEnum):
    REGISTER = "register"
    DEREGISTER = "deregister"
    ASSIGN = "assign"
    UNASSIGN = "unassign"
    DEPRECATE = "deprecate"
    CREATE = "create"  # `name@created`: parses, gto writes no such tag and attaches no event to it


@dataclass(frozen=True, slots=True)
class ParsedTag:
    artifact: str  # the full name, "dir:name" for a monorepo artifact (the tag writes "dir=name")
    action: Action
    version: str | None
    stage: str | None
    counter: int | None


def parse_tag(name: str) -> ParsedTag | None:
    """What a tag name means to GTO, or None for a name outside its grammar."""
    match = _TAG_RE.fullmatch(name)
    if match is None:
        return None
    version, stage, cancel = match["version"], match["stage"], match["cancel"] == "!"
    if version:
        action = Action.DEREGISTER if cancel else Action.REGISTER
    elif stage:
        action = Action.UNASSIGN if cancel else Action.ASSIGN
    else:
        action = Action.DEPRECATE if match["deprecated"] else Action.CREATE
    counter = match["counter"]
    return ParsedTag(
        artifact=match["artifact"].replace("=", ":"),
        action=action,
        version=version or None,
        stage=stage or None,
        counter=int(counter) if counter else None,
    )


def is_valid_name(name: str) -> bool:
    """GTO's rule for artifact and stage names (`assert_name_is_valid`): letters, digits, `-`, `_`, `/`,
    starting and ending with a letter or digit; one character is enough."""
    return _NAME_RE.fullmatch(name) is not None


def is_version(text: str) -> bool:
    """A GTO version: a lowercase `v` and a SemVer 2.0 version (`gto.versions.SemVer.is_valid`)."""
    return _semver_key(text) is not None


VersionKey = tuple[int, int, int, tuple[tuple[int, int, str], ...]]


def version_key(version: str) -> VersionKey:
    """Sort key in SemVer precedence: a prerelease sorts before its release, numeric identifiers before
    alphanumeric ones and numerically, a longer prerelease after its prefix; build metadata is ignored."""
    key = _semver_key(version)
    if key is None:
        raise InvalidArgument(f"{shown(version)} is not a version: expected v and a SemVer 2.0 version")
    return key


def _semver_key(text: str) -> VersionKey | None:
    # Parsed by the semver package, as gto does; compared as plain tuples, many times faster than its objects.
    if not text.startswith("v"):
        return None
    try:
        parsed = semver.Version.parse(text[1:])
    except (ValueError, TypeError):
        return None
    if parsed.prerelease is None:
        # A release outranks every prerelease of the same version; prerelease identifiers start with 0 or 1.
        return (parsed.major, parsed.minor, parsed.patch, ((2, 0, ""),))
    prerelease = tuple(
        (0, int(part), "") if part.isdecimal() else (1, 0, part) for part in parsed.prerelease.split(".")
    )
    return (parsed.major, parsed.minor, parsed.patch, prerelease)


# --- resolution --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ArtifactState:
    name: str
    versions: dict[str, str]  # active registered version -> commit
    latest: str | None  # greatest active registered version; None when deprecated or none
    stages: dict[str, tuple[str, str]]  # stage -> (version, commit); version is the commit for `--sr`
    deprecated: bool


@dataclass(frozen=True)
class Summary:
    artifacts: dict[str, ArtifactState]  # keyed by full artifact name
    ignored: int  # tags outside GTO's grammar
    problems: tuple[str, ...]  # tags gto itself cannot make sense of, each with what we did about it


@dataclass(frozen=True, slots=True)
class _Event:
    name: str
    commit: str
    time: int
    counter: int | None
    order: int  # position in gto's processing order: (time, tag name)


def _later(a: _Event, b: _Event) -> bool | None:
    """Whether `a` is newer than `b`, or None when only gto's tie rule can tell."""
    if a.time != b.time:
        return a.time > b.time
    if a.counter is not None and b.counter is not None and a.counter != b.counter:
        return a.counter > b.counter
    return None


def _newest(events: list[_Event]) -> _Event | None:
    """The newest event of one kind; of same-second tags without counters, the one gto appended last."""
    return max(events, key=lambda e: (e.time, -1 if e.counter is None else e.counter, e.order), default=None)


def _wins(addition: _Event | None, cancel: _Event | None) -> bool:
    """Whether an addition (registration, assignment) is newer than its cancellation. gto concatenates
    additions before cancellations, sorts stably by time and takes the last, so a tie goes to the cancel."""
    if addition is None:
        return False
    if cancel is None:
        return True
    return _later(addition, cancel) is True


@dataclass(slots=True)
class _VStage:
    assignments: list[_Event] = field(default_factory=list)
    unassignments: list[_Event] = field(default_factory=list)


@dataclass(slots=True)
class _Version:
    name: str  # a version, or the commit for the stage events of an unregistered commit
    commit: str
    index: int  # creation order; gto's tie-breaker among equal versions and same-second stages
    registrations: list[_Event] = field(default_factory=list)
    deregistrations: list[_Event] = field(default_factory=list)
    stages: dict[str, _VStage] = field(default_factory=dict)

    @property
    def registered(self) -> bool:
        return bool(self.registrations)

    @property
    def active(self) -> bool:
        if self.registrations or self.deregistrations:
            return _wins(_newest(self.registrations), _newest(self.deregistrations))
        return True  # an unregistered commit's version exists through its stage events

    @property
    def created_at(self) -> int:
        """gto's `Version.created_at`: its newest registration, else its newest stage event."""
        if self.registrations:
            return max(e.time for e in self.registrations)
        return max(e.time for s in self.stages.values() for e in (*s.assignments, *s.unassignments))


@dataclass(slots=True)
class _Artifact:
    name: str
    deprecations: list[_Event] = field(default_factory=list)
    versions: list[_Version] = field(default_factory=list)
    by_name_commit: dict[tuple[str, str], _Version] = field(default_factory=dict)
    by_commit: dict[str, list[_Version]] = field(default_factory=dict)

    def version(self, name: str, commit: str) -> _Version:
        found = self.by_name_commit.get((name, commit))
        if found is None:
            found = _Version(name, commit, len(self.versions))
            self.versions.append(found)
            self.by_name_commit[(name, commit)] = found
            self.by_commit.setdefault(commit, []).append(found)
        return found


def summarize(tags: Iterable[Tag]) -> Summary:
    """Every artifact the tags mention, as `gto show` resolves it; see the module docstring for the order."""
    parsed: list[tuple[Tag, ParsedTag]] = []
    ignored = 0
    for tag in tags:
        meaning = parse_tag(tag.name)
        if meaning is None:
            ignored += 1
        elif meaning.action is not Action.CREATE:  # gto 1.10.1 fails with KeyError 'action' on these
            parsed.append((tag, meaning))
    parsed.sort(key=lambda item: (item[0].time, item[0].name))
    artifacts: dict[str, _Artifact] = {}
    problems: list[str] = []
    passes = ({Action.DEPRECATE}, {Action.REGISTER, Action.DEREGISTER}, {Action.ASSIGN, Action.UNASSIGN})
    for actions in passes:
        for order, (tag, meaning) in enumerate(parsed):
            if meaning.action not in actions:
                continue
            artifact = artifacts.setdefault(meaning.artifact, _Artifact(meaning.artifact))
            event = _Event(tag.name, tag.commit, tag.time, meaning.counter, order)
            problem = _apply(artifact, meaning, event)
            if problem:
                problems.append(problem)
    states = {name: _state(artifact, problems) for name, artifact in artifacts.items()}
    return Summary(artifacts=states, ignored=ignored, problems=tuple(problems))


def resolve(tags: Iterable[Tag]) -> dict[str, ArtifactState]:
    return summarize(tags).artifacts


def _apply(artifact: _Artifact, meaning: ParsedTag, event: _Event) -> str | None:
    action = meaning.action
    if action is Action.DEPRECATE:
        artifact.deprecations.append(event)
    elif action is Action.REGISTER or action is Action.DEREGISTER:
        assert meaning.version is not None  # the grammar gives every (de)registration a version
        version = artifact.version(meaning.version, event.commit)
        (version.registrations if action is Action.REGISTER else version.deregistrations).append(event)
    else:
        assert meaning.stage is not None
        # Stage tags name no version: gto takes the version (de)registered on the tagged commit.
        on_commit = artifact.by_commit.get(event.commit, [])
        if len(on_commit) > 1:
            names = ", ".join(v.name for v in on_commit)
            return (
                f"{event.name}: commit {event.commit[:12]} carries several versions of {artifact.name}"
                f" ({names}), so the stage tag names none of them (gto fails with ManyVersions); ignored"
            )
        if on_commit:
            version = on_commit[0]
        else:
            # gto looks up an unregistered commit's version among registered ones only, so every stage
            # event on such a commit makes a version of its own: an unassignment cancels nothing there.
            version = _Version(event.commit, event.commit, len(artifact.versions))
            artifact.versions.append(version)
        vstage = version.stages.setdefault(meaning.stage, _VStage())
        (vstage.assignments if action is Action.ASSIGN else vstage.unassignments).append(event)
    return None


def _state(artifact: _Artifact, problems: list[str]) -> ArtifactState:
    active = [v for v in artifact.versions if v.active]
    registered = [v for v in active if v.registered]
    versions: dict[str, str] = {}
    for version in registered:  # creation order, so the later of two same-named versions wins, as in gto
        if version.name in versions and versions[version.name] != version.commit:
            problems.append(
                f"{artifact.name}@{version.name} is registered on commits {versions[version.name][:12]} and"
                f" {version.commit[:12]}; the later registration is used"
            )
        versions[version.name] = version.commit
    deprecated = _deprecated(artifact)
    latest = None
    if not deprecated:
        # Equal precedence (build metadata, same name twice): gto's reversed stable sort picks the later one.
        keyed = [(key, v.index, v.name) for v in registered if (key := _semver_key(v.name)) is not None]
        latest = max(keyed)[2] if keyed else None
    return ArtifactState(
        name=artifact.name,
        versions=versions,
        latest=latest,
        stages=_stages(active),
        deprecated=deprecated,
    )


def _stages(active: list[_Version]) -> dict[str, tuple[str, str]]:
    """gto's default (`--sort timestamp`, one version per stage) view: the newest active assignment."""
    candidates: dict[str, list[tuple[_Event, _Version]]] = {}
    for version in active:
        for stage, vstage in version.stages.items():
            assignment = _newest(vstage.assignments)
            if _wins(assignment, _newest(vstage.unassignments)):
                assert assignment is not None
                candidates.setdefault(stage, []).append((assignment, version))
    result: dict[str, tuple[str, str]] = {}
    for stage, holders in candidates.items():
        newest_time = max(event.time for event, _ in holders)
        tied = [(event, version) for event, version in holders if event.time == newest_time]
        if all(event.counter is not None for event, _ in tied):
            _, winner = max(tied, key=lambda item: (item[0].counter, item[0].order))
        else:
            # gto lists versions newest-created first, sorts their stages stably by time and reverses:
            # of same-second holders the version created first wins.
            _, winner = min(tied, key=lambda item: (item[1].created_at, item[1].index))
        result[stage] = (winner.name, winner.commit)
    return result


def _deprecated(artifact: _Artifact) -> bool:
    """gto's `Artifact.is_active` is false when its newest event is a deprecation. Its events are the
    deprecations followed by every version event, sorted stably by time, so a same-second tie goes to the
    version event, and any later event - even a deregistration or an unassignment - revives the artifact."""
    deprecation = _newest(artifact.deprecations)
    if deprecation is None:
        return False
    for version in artifact.versions:
        events = [*version.registrations, *version.deregistrations]
        events.extend(e for s in version.stages.values() for e in (*s.assignments, *s.unassignments))
        if any(_later(deprecation, event) is not True for event in events):
            return False
    return True
