"""The artifacts of one commit and the DVC objects that hold their bytes, read from the commit's files.

The caller lists the commit's tree, keeps the paths `wanted` accepts, and gives a reader for any file of
the commit; nothing here does Git I/O. Everything a repository can get wrong becomes a problem string (on
the artifact when it stops that artifact's download, on the index otherwise), never an exception.

Rules, as DVC applies them (DVC.md): every dvc.yaml's `artifacts:` (ARTIFACT_SCHEMA; `${...}` resolved);
names `dir:name`; paths joined onto the dvc.yaml's directory. The DVC project of a file is the nearest
directory, itself included, holding `.dvc/config`; an artifact's output is searched in its project's
`.dvc` files and pipeline stages, and its remote is the output's `remote:` or the project's core.remote.
"""

from __future__ import annotations

import functools
import posixpath
import re
from collections.abc import Callable, Sequence
from typing import Any

from modelshelf.errors import shown
from modelshelf.gitindex import dvcconfig, dvcouts, templating, yamlload
from modelshelf.gitindex.dvctypes import Artifact, CommitIndex, Output, Remote
from modelshelf.gitindex.manifest import object_url, parse_dir_manifest
from modelshelf.gitindex.paths import is_url, is_within, parent, repo_join

__all__ = [
    "Artifact",
    "CommitIndex",
    "Output",
    "Read",
    "Remote",
    "index_commit",
    "object_url",
    "parse_dir_manifest",
    "wanted",
]

Read = Callable[[str], bytes | None]

MAX_ARTIFACTS = 10_000
MAX_DVC_FILES = 50_000
_CONFIG = ".dvc/config"
_ARTIFACT_KEYS = {"path", "desc", "type", "labels", "meta"}
_LEGACY_HASHES = {None, "md5-dos2unix"}


def wanted(path: str) -> bool:
    """Whether the caller must list `path`: the files that say where artifacts and outputs are. Other files
    (a `vars:` file, a params file elsewhere) are read through `read` by name when a dvc.yaml needs them."""
    name = posixpath.basename(path)
    return (
        name in ("dvc.yaml", "dvc.lock", "params.yaml")
        or (name.endswith(".dvc") and len(name) > 4)
        or path == _CONFIG
        or path.endswith("/" + _CONFIG)
    )


def index_commit(paths: Sequence[str], read: Read) -> CommitIndex:
    return _Commit(paths, read).index()


def _in_dvc_dir(path: str) -> bool:
    return ".dvc" in path.split("/")[:-1] or ".git" in path.split("/")


class _Commit:
    def __init__(self, paths: Sequence[str], read: Read) -> None:
        self.read = read
        self.problems: list[str] = []
        self.roots: set[str] = set()
        self.dvcyamls: list[str] = []
        self.dvcfiles: list[str] = []
        for path in sorted(set(paths)):
            if path == _CONFIG or path.endswith("/" + _CONFIG):
                self.roots.add(parent(parent(path)))
            elif _in_dvc_dir(path):
                continue
            elif posixpath.basename(path) == "dvc.yaml":
                self.dvcyamls.append(path)
            elif path.endswith(".dvc") and posixpath.basename(path) != ".dvc":
                self.dvcfiles.append(path)
        if len(self.dvcfiles) + len(self.dvcyamls) > MAX_DVC_FILES:
            self.problems.append(f"the commit has over {MAX_DVC_FILES} DVC files; only the first are read")
            self.dvcyamls = self.dvcyamls[:MAX_DVC_FILES]
            self.dvcfiles = self.dvcfiles[: max(0, MAX_DVC_FILES - len(self.dvcyamls))]
        self.docs: dict[str, dict[str, Any]] = {}
        self.contexts: dict[str, dict[str, Any] | templating.TemplateError] = {}
        self.configs: dict[str, dvcconfig.ProjectConfig | None] = {}
        self.outs: dict[str, list[dvcouts.TrackedOut]] = {}

    def index(self) -> CommitIndex:
        artifacts: list[Artifact] = []
        names: set[str] = set()
        for dvcyaml in self.dvcyamls:
            doc = self._doc(dvcyaml)
            declared = doc.get("artifacts") if doc is not None else None
            if declared is None:
                continue
            if not isinstance(declared, dict):
                self.problems.append(f"{dvcyaml}: 'artifacts' must be a mapping")
                continue
            for raw_name, entry in declared.items():
                if len(artifacts) >= MAX_ARTIFACTS:
                    self.problems.append(f"over {MAX_ARTIFACTS} artifacts; the rest are skipped")
                    return CommitIndex(artifacts, self.problems)
                artifact = self._artifact(dvcyaml, raw_name, entry)
                if artifact is None:
                    continue
                if artifact.name in names:
                    self.problems.append(f"{dvcyaml}: artifact {shown(artifact.name)} is declared twice")
                    continue
                names.add(artifact.name)
                artifacts.append(artifact)
        return CommitIndex(artifacts, self.problems)

    # -- files --

    def _doc(self, dvcyaml: str) -> dict[str, Any] | None:
        if dvcyaml in self.docs:
            return self.docs[dvcyaml]
        data = self.read(dvcyaml)
        doc: object = None
        if data is not None:
            try:
                doc = yamlload.load(data)
            except yamlload.YamlProblem as exc:
                self.problems.append(f"{dvcyaml}: {exc}")
        if doc is not None and not isinstance(doc, dict):
            self.problems.append(f"{dvcyaml}: it is not a dvc.yaml (expected a mapping)")
        self.docs[dvcyaml] = doc if isinstance(doc, dict) else {}
        return self.docs[dvcyaml]

    def _context(self, dvcyaml: str) -> dict[str, Any]:
        """The dvc.yaml's templating context, loaded once; raises the TemplateError it failed with."""
        if dvcyaml not in self.contexts:
            try:
                vars_ = (self._doc(dvcyaml) or {}).get("vars")
                self.contexts[dvcyaml] = templating.load_context(parent(dvcyaml), vars_, self.read)
            except templating.TemplateError as exc:
                self.contexts[dvcyaml] = exc
                self.problems.append(f"{dvcyaml}: {exc}")
        context = self.contexts[dvcyaml]
        if isinstance(context, templating.TemplateError):
            raise context
        return context

    def _project(self, directory: str) -> str | None:
        """The root of the DVC project holding `directory`: the nearest directory with `.dvc/config`."""
        while True:
            if directory in self.roots:
                return directory
            if directory == "":
                return None
            directory = parent(directory)

    def _config(self, root: str) -> dvcconfig.ProjectConfig | None:
        if root not in self.configs:
            path = posixpath.join(root, _CONFIG)
            data = self.read(path)
            try:
                self.configs[root] = dvcconfig.parse_config(data or b"")
            except dvcconfig.ConfigProblem as exc:
                self.problems.append(f"{path}: {exc}")
                self.configs[root] = None
        return self.configs[root]

    def _outs(self, root: str) -> list[dvcouts.TrackedOut]:
        if root in self.outs:
            return self.outs[root]
        found: list[dvcouts.TrackedOut] = []
        for path in self.dvcfiles:
            if self._project(parent(path)) == root:
                data = self.read(path)
                if data is not None:
                    outs, problems = dvcouts.outs_of_dvcfile(path, data)
                    found.extend(outs)
                    self.problems.extend(problems)
        for dvcyaml in self.dvcyamls:
            doc = self._doc(dvcyaml)
            if doc and "stages" in doc and self._project(parent(dvcyaml)) == root:
                lock = self.read(posixpath.join(parent(dvcyaml), "dvc.lock"))
                outs, problems = dvcouts.outs_of_pipeline(
                    dvcyaml, doc, lock, functools.partial(self._context, dvcyaml), self.read
                )
                found.extend(outs)
                self.problems.extend(problems)
        self.outs[root] = found
        return found

    # -- artifacts --

    def _artifact(self, dvcyaml: str, raw_name: object, entry: object) -> Artifact | None:
        directory = parent(dvcyaml)
        if not isinstance(raw_name, str) or not raw_name:
            self.problems.append(f"{dvcyaml}: an artifact name must be a string, not {shown(raw_name)}")
            return None
        schema_problem = _schema_problem(entry)
        if schema_problem is not None:
            self.problems.append(f"{dvcyaml}: artifact {shown(raw_name)}: {schema_problem}")
            return None
        assert isinstance(entry, dict)
        name, fields, problem = raw_name, entry, None
        if templating.has_template([raw_name, entry]):
            try:
                context = self._context(dvcyaml)
                resolved = templating.resolve({raw_name: entry}, context)
                assert isinstance(resolved, dict)
                ((name, fields),) = resolved.items()
                problem = _schema_problem(fields)
            except templating.TemplateError as exc:
                problem = f"cannot resolve its templating: {exc}"
        if problem is not None:
            fields = entry
        name = str(name)
        if not _NAME.match(name):
            self.problems.append(
                f"{dvcyaml}: artifact name {shown(name)} is outside GTO's grammar "
                "(letters, digits, '-', '_', '/'); "
                "GTO cannot register versions of it"
            )
        full_name = f"{directory}:{name}" if directory else name
        written = fields["path"] if isinstance(fields.get("path"), str) else str(fields.get("path"))
        path = repo_join(directory, written)
        if problem is None:
            if is_url(written):
                problem = f"{shown(written)} is not a repository path"
            elif path is None or path == "":
                problem = f"{shown(written)} is outside the repository"
        try:
            meta = yamlload.plain(fields.get("meta"))
        except yamlload.TooLarge:
            meta = None
            self.problems.append(f"{dvcyaml}: artifact {shown(name)}: its meta is too large; it is dropped")
        labels = fields.get("labels")
        artifact_path = path if path else written
        output, inner, out_problem = (None, None, None) if problem else self._output(artifact_path, directory)
        return Artifact(
            name=full_name,
            dvcyaml=dvcyaml,
            path=artifact_path,
            type=fields.get("type") if isinstance(fields.get("type"), str) else None,
            desc=fields.get("desc") if isinstance(fields.get("desc"), str) else None,
            labels=tuple(x for x in labels if isinstance(x, str)) if isinstance(labels, list) else (),
            meta=meta,
            output=output,
            inner=inner,
            problem=problem or out_problem,
        )

    def _output(self, path: str, directory: str) -> tuple[Output | None, str | None, str | None]:
        root = self._project(directory)
        if root is None:
            return None, None, f"{path} is not tracked by DVC (no .dvc/config above {directory or '/'})"
        covering = [o for o in self._outs(root) if is_within(path, o.path)]
        if not covering:
            return None, None, f"{path} is not tracked by DVC"
        deepest = max(len(o.path) for o in covering)
        best = [o for o in covering if len(o.path) == deepest]
        out = best[0]
        if len(best) > 1:
            sources = ", ".join(sorted({o.source for o in best}))
            return None, None, f"{out.path} is tracked twice ({sources})"
        inner = posixpath.relpath(path, out.path) if path != out.path else None
        if out.cloud_versioned:
            return None, inner, "cloud-versioned outputs are not supported"
        if not out.cache:
            return None, inner, f"{out.path} is not cached by DVC (cache: false), so no remote holds it"
        if not out.push:
            return None, inner, f"{out.path} is never pushed to a remote (push: false)"
        if out.md5 is None:
            return None, inner, f"the output {out.path} has no md5 in {out.source} (run dvc repro/commit)"
        is_dir = out.md5.endswith(".dir")
        if inner is not None and not is_dir:
            return None, None, f"{path} lies inside {out.path}, which DVC tracks as a file"
        remote, remote_problem = self._remote(root, out.remote)
        problem = remote_problem
        if out.hash_name not in _LEGACY_HASHES and out.hash_name != "md5":
            problem = f"the output {out.path} uses the hash {shown(out.hash_name)}, which is not supported"
        output = Output(
            path=out.path,
            md5=out.md5.removesuffix(".dir"),
            is_dir=is_dir,
            size=out.size,
            nfiles=out.nfiles,
            legacy=out.hash_name in _LEGACY_HASHES,
            remote=remote,
        )
        return output, inner, problem

    def _remote(self, root: str, name: str | None) -> tuple[Remote | None, str | None]:
        config = self._config(root)
        if config is None:
            return None, f"{posixpath.join(root, _CONFIG)} cannot be read"
        name = name or config.default
        if name is None:
            return None, "no DVC remote is configured"
        remote = dvcconfig.resolve_remote(config, name)
        return (remote, None) if isinstance(remote, Remote) else (None, remote)


def _schema_problem(entry: object) -> str | None:
    """What breaks DVC's ARTIFACT_SCHEMA: `path` required; desc/type strings; labels a list of strings."""
    if not isinstance(entry, dict):
        return "it must be a mapping with a 'path'"
    extra = sorted(str(k) for k in entry if k not in _ARTIFACT_KEYS)
    if extra:
        return f"unknown field {shown(extra[0])}"
    if not isinstance(entry.get("path"), str) or not entry["path"]:
        return "'path' is required and must be a string"
    for key in ("desc", "type"):
        if key in entry and not isinstance(entry[key], str):
            return f"{key!r} must be a string"
    labels = entry.get("labels", [])
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        return "'labels' must be a list of strings"
    return None


_NAME = re.compile(r"^[a-zA-Z0-9]([a-zA-Z0-9-/_]*[a-zA-Z0-9])?$")
