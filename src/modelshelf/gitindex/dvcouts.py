"""DVC outputs declared in one DVC project: `.dvc` files (paths relative to the file's directory and its
`wdir`) and pipeline stages (declared in dvc.yaml, relative to the stage's `wdir`, with their hashes in the
dvc.lock beside it, matched by the path as written, as DVC's `StageLoader.fill_from_lock` does).

A field of the wrong type is treated as absent, so one odd entry never hides the others; a whole file
that cannot be read becomes a problem string.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from modelshelf.errors import shown
from modelshelf.gitindex import templating, yamlload
from modelshelf.gitindex.paths import is_url, parent, repo_join
from modelshelf.gitindex.templating import Read

_MD5 = re.compile(r"^[0-9a-f]{32}(\.dir)?$")
_OUT_KINDS = ("outs", "metrics", "plots")
MAX_OUTS_PER_FILE = 10_000


@dataclass(frozen=True)
class TrackedOut:
    path: str  # git-root relative
    md5: str | None  # lower-case hex, ".dir" kept; None when DVC has no hash for it
    hash_name: str | None  # the `hash:` field; None is DVC 2.x
    size: int | None
    nfiles: int | None
    remote: str | None  # the output's own `remote:`
    cache: bool
    push: bool
    cloud_versioned: bool  # `files:` entries (version-aware remotes) instead of content-addressed objects
    source: str  # the file that declares it, for messages


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _md5(value: object) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # DVC's schema coerces ints
    if not isinstance(value, str):
        return None
    value = value.lower()
    return value if _MD5.match(value) else None


def _flag(value: object, default: bool) -> bool:
    return value if isinstance(value, bool) else default


def _out(
    base: str, written: str, hashes: dict[str, Any], flags: dict[str, Any], source: str
) -> TrackedOut | None:
    if is_url(written):
        return None  # an external output (s3://...) is not a repository path
    path = repo_join(base, written)
    if path is None or path == "":
        return None
    files = hashes.get("files")
    return TrackedOut(
        path=path,
        md5=_md5(hashes.get("md5")),
        hash_name=hashes.get("hash") if isinstance(hashes.get("hash"), str) else None,
        size=_int(hashes.get("size")),
        nfiles=_int(hashes.get("nfiles")),
        remote=flags.get("remote") if isinstance(flags.get("remote"), str) else None,
        cache=_flag(flags.get("cache"), True),
        push=_flag(flags.get("push"), True),
        cloud_versioned=isinstance(files, list) and bool(files),
        source=source,
    )


def outs_of_dvcfile(path: str, data: bytes) -> tuple[list[TrackedOut], list[str]]:
    """The outputs of the `.dvc` file at `path`; several are accepted, as DVC accepts them."""
    try:
        doc = yamlload.load(data)
    except yamlload.YamlProblem as exc:
        return [], [f"{path}: {exc}"]
    if not isinstance(doc, dict):
        return [], [f"{path}: it is not a DVC file (expected a mapping)"]
    outs = doc.get("outs")
    if outs is None:
        return [], []
    if not isinstance(outs, list):
        return [], [f"{path}: 'outs' must be a list"]
    wdir = doc.get("wdir")
    base = repo_join(parent(path), wdir if isinstance(wdir, str) else ".")
    if base is None:
        return [], [f"{path}: its wdir is outside the repository"]
    found: list[TrackedOut] = []
    for entry in outs[:MAX_OUTS_PER_FILE]:
        if isinstance(entry, dict) and isinstance(entry.get("path"), str):
            out = _out(base, entry["path"], entry, entry, path)
            if out is not None:
                found.append(out)
    return found, []


def outs_of_pipeline(
    dvcyaml: str,
    doc: dict[str, Any],
    lock_data: bytes | None,
    context: Callable[[], dict[str, Any]],
    read: Read,
) -> tuple[list[TrackedOut], list[str]]:
    """The outputs of the stages in `doc` (the parsed dvc.yaml at `dvcyaml`), hashed by `lock_data`.

    `context` gives the dvc.yaml's templating context (it raises TemplateError). Stages made by
    `foreach`/`matrix` take their outputs from the lock file alone (paths relative to the dvc.yaml
    directory, no per-output flags): the server does not expand those definitions."""
    stages = doc.get("stages")
    if not isinstance(stages, dict) or not stages:
        return [], []
    lock_path = repo_join(parent(dvcyaml), "dvc.lock") or "dvc.lock"
    lock, problems = _read_lock(lock_path, lock_data)
    found: list[TrackedOut] = []
    for name, definition in stages.items():
        if not isinstance(name, str) or not isinstance(definition, dict):
            continue
        if "foreach" in definition or "matrix" in definition:
            for lock_name, entry in lock.items():
                if lock_name.startswith(name + "@"):
                    found.extend(_lock_only_outs(parent(dvcyaml), entry, lock_path))
            continue
        try:
            found.extend(_stage_outs(dvcyaml, name, definition, lock.get(name), lock_path, context, read))
        except templating.TemplateError as exc:
            problems.append(f"{dvcyaml}: stage {shown(name)}: {exc}")
    return found, problems


def _read_lock(lock_path: str, data: bytes | None) -> tuple[dict[str, dict[str, Any]], list[str]]:
    if data is None:
        return {}, []
    try:
        doc = yamlload.load(data)
    except yamlload.YamlProblem as exc:
        return {}, [f"{lock_path}: {exc}"]
    if doc is None:
        return {}, []
    if not isinstance(doc, dict) or str(doc.get("schema")) != "2.0":
        return {}, [f"{lock_path}: not a dvc.lock of schema 2.0 (DVC 1.x lock files are not read)"]
    stages = doc.get("stages")
    if stages is None:
        return {}, []
    if not isinstance(stages, dict):
        return {}, [f"{lock_path}: 'stages' must be a mapping"]
    return {k: v for k, v in stages.items() if isinstance(k, str) and isinstance(v, dict)}, []


def _lock_outs_by_path(entry: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    outs = entry.get("outs") if entry else None
    if not isinstance(outs, list):
        return {}
    entries = (o for o in outs[:MAX_OUTS_PER_FILE] if isinstance(o, dict))
    return {o["path"]: o for o in entries if isinstance(o.get("path"), str)}


def _lock_only_outs(base: str, entry: dict[str, Any], source: str) -> list[TrackedOut]:
    outs = (_out(base, written, hashes, {}, source) for written, hashes in _lock_outs_by_path(entry).items())
    return [o for o in outs if o is not None]


def _stage_outs(
    dvcyaml: str,
    name: str,
    definition: dict[str, Any],
    lock_entry: dict[str, Any] | None,
    lock_path: str,
    context: Callable[[], dict[str, Any]],
    read: Read,
) -> list[TrackedOut]:
    def value(raw: object) -> object:
        if not templating.has_template(raw):
            return raw
        return templating.resolve(raw, _stage_context(definition, dvcyaml, context, read))

    wdir = value(definition.get("wdir") or ".")
    base = repo_join(parent(dvcyaml), wdir) if isinstance(wdir, str) else None
    if base is None:
        raise templating.TemplateError("its wdir is not a directory of the repository")
    hashes = _lock_outs_by_path(lock_entry)
    found: list[TrackedOut] = []
    for kind in _OUT_KINDS:
        declared = definition.get(kind)
        if not isinstance(declared, list):
            continue
        for item in declared[:MAX_OUTS_PER_FILE]:
            written, flags = _declared_out(value(item))
            if written is not None:
                out = _out(base, written, hashes.get(written, {}), flags, lock_path)
                if out is not None:
                    found.append(out)
    return found


def _declared_out(item: object) -> tuple[str | None, dict[str, Any]]:
    """A dvc.yaml output entry: `path` or `{path: {cache: ..., remote: ..., push: ...}}`."""
    if isinstance(item, str):
        return item, {}
    if isinstance(item, dict) and len(item) == 1:
        ((written, flags),) = item.items()
        if isinstance(written, str):
            return written, flags if isinstance(flags, dict) else {}
    return None, {}


def _stage_context(
    definition: dict[str, Any], dvcyaml: str, context: Callable[[], dict[str, Any]], read: Read
) -> dict[str, Any]:
    stage_vars = definition.get("vars")
    if not stage_vars:
        return context()
    return templating.load_context(parent(dvcyaml), stage_vars, read, base=context())
