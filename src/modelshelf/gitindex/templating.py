"""`${...}` in dvc.yaml, resolved as DVC's parametrization does (dvc/parsing): the context is the dvc.yaml
directory's params.yaml (when present) merged with the `vars:` entries in order (a file path, optionally
`path:key1,key2`, or an inline mapping); a key defined twice is an error, as in DVC. `${a.b[0]}` selects
into mappings and lists; a string that is exactly one `${...}` takes the value's type; `\\${` is a literal.

Not supported (each one gives a TemplateError, so the caller records a problem): `.py` vars files,
`foreach`/`matrix` items, interpolating a mapping or list into a longer string.
"""

from __future__ import annotations

import copy
import json
import posixpath
import re
import tomllib
from collections.abc import Callable
from typing import Any

from modelshelf.errors import shown
from modelshelf.gitindex import yamlload
from modelshelf.gitindex.paths import repo_join

Read = Callable[[str], bytes | None]

DEFAULT_PARAMS_FILE = "params.yaml"
_KEYCRE = re.compile(r"(?<!\\)\$\{(?P<inner>.*?)\}")
_EXPR = re.compile(r"^[^.\[\]]+(?:\.[^.\[\]]+|\[[^.\[\]]+\])*$")


class TemplateError(Exception):
    """A `${...}` that cannot be resolved, or a context that cannot be loaded; `str()` says why."""


def has_template(value: object, budget: int = yamlload.NODE_BUDGET) -> bool:
    """Whether any string inside `value` (mapping keys included) holds a `${...}`."""
    try:
        flat = yamlload.plain(value, budget)
    except yamlload.TooLarge:
        return True  # resolving would walk it too; let that report the size
    stack: list[object] = [flat]
    while stack:
        node = stack.pop()
        if isinstance(node, str) and _KEYCRE.search(node):
            return True
        if isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return False


def load_context(
    dvcyaml_dir: str, vars_: object, read: Read, *, base: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The templating context of the dvc.yaml in `dvcyaml_dir` (git-root relative, "" for the root), or,
    given the file's context as `base`, that context extended by a stage's own `vars:`."""
    context: dict[str, Any] = copy.deepcopy(base) if base is not None else {}
    loaded: dict[str, list[str] | None] = {}
    default = repo_join(dvcyaml_dir, DEFAULT_PARAMS_FILE)
    if base is None and default is not None and read(default) is not None:
        _merge_file(context, loaded, dvcyaml_dir, DEFAULT_PARAMS_FILE, read)
    if vars_ is None:
        return context
    if not isinstance(vars_, list):
        raise TemplateError("'vars' must be a list of file names and mappings")
    if has_template(vars_):
        raise TemplateError("interpolating is not allowed in 'vars'")
    for index, item in enumerate(vars_):
        if isinstance(item, str):
            _merge_file(context, loaded, dvcyaml_dir, item, read)
        elif isinstance(item, dict):
            _merge(context, _plain_mapping(item, f"vars[{index}]"), f"vars[{index}]")
        else:
            raise TemplateError(f"vars[{index}] must be a file name or a mapping")
    return context


def resolve(value: object, context: dict[str, Any]) -> object:
    """`value` with every `${...}` in its strings (and mapping keys) replaced from `context`."""
    try:
        flat = yamlload.plain(value)
    except yamlload.TooLarge:
        raise TemplateError("the value is too large to resolve") from None
    return _resolve(flat, context)


def _resolve(node: object, context: dict[str, Any]) -> object:
    if isinstance(node, str):
        return _resolve_str(node, context)
    if isinstance(node, dict):
        out: dict[str, object] = {}
        for key, value in node.items():
            new_key = _resolve_str(key, context)
            if not isinstance(new_key, str):
                raise TemplateError(f"key {shown(key)} must resolve to a string")
            out[new_key] = _resolve(value, context)
        return out
    if isinstance(node, list):
        return [_resolve(v, context) for v in node]
    return node


def _resolve_str(text: str, context: dict[str, Any]) -> object:
    matches = list(_KEYCRE.finditer(text))
    if not matches:
        return text.replace(r"\${", "${")
    if len(matches) == 1 and matches[0].group(0) == text:
        return _select(matches[0]["inner"], context)
    parts, index = [], 0
    for match in matches:
        value = _select(match["inner"], context)
        if isinstance(value, dict | list):
            raise TemplateError(f"cannot interpolate a {type(value).__name__} into {shown(text)}")
        parts.append(text[index : match.start()])
        parts.append(_to_str(value))
        index = match.end()
    parts.append(text[index:])
    return "".join(parts).replace(r"\${", "${")


def _select(expr: str, context: dict[str, Any]) -> object:
    if not _EXPR.match(expr):
        raise TemplateError(f"${{{expr}}} is not a valid expression")
    node: object = context
    for raw in expr.replace("[", ".").replace("]", "").split("."):
        key = raw.strip()
        if isinstance(node, dict) and key in node:
            node = node[key]
        elif isinstance(node, list) and key.lstrip("-").isdigit() and -len(node) <= int(key) < len(node):
            node = node[int(key)]
        else:
            raise TemplateError(f"could not find {shown('${' + expr + '}')} in params.yaml or vars")
    return node


def _to_str(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _merge_file(
    context: dict[str, Any], loaded: dict[str, list[str] | None], base: str, item: str, read: Read
) -> None:
    name, _, keys_text = item.partition(":")
    keys = [k for k in keys_text.split(",") if k] or None
    path = repo_join(base, name)
    if path is None:
        raise TemplateError(f"vars file {shown(name)} is outside the repository")
    if path in loaded:
        if keys is None and loaded[path] is None:
            return  # DVC allows naming a whole file twice
        raise TemplateError(f"vars file {shown(path)} is loaded twice")
    data = read(path)
    if data is None:
        raise TemplateError(f"vars file {shown(path)} does not exist")
    doc = _parse_params(path, data)
    if keys is not None:
        missing = [k for k in keys if k not in doc]
        if missing:
            raise TemplateError(f"could not find {shown(missing[0])} in {shown(path)}")
        doc = {k: doc[k] for k in keys}
    loaded[path] = keys
    _merge(context, doc, path)


def _parse_params(path: str, data: bytes) -> dict[str, Any]:
    suffix = posixpath.splitext(path)[1].lower()
    try:
        if suffix == ".json":
            doc: object = json.loads(data)
        elif suffix == ".toml":
            doc = tomllib.loads(data.decode("utf-8"))
        elif suffix == ".py":
            raise TemplateError(f"python params files are not supported ({shown(path)})")
        else:
            doc = yamlload.load(data)
    except (ValueError, RecursionError, yamlload.YamlProblem) as exc:
        raise TemplateError(f"{shown(path)} cannot be read: {exc}") from None
    return _plain_mapping(doc, path)


def _plain_mapping(doc: object, where: str) -> dict[str, Any]:
    try:
        flat = yamlload.plain(doc)
    except yamlload.TooLarge:
        raise TemplateError(f"{shown(where)} is too large") from None
    if not isinstance(flat, dict):
        raise TemplateError(f"{shown(where)} must be a mapping")
    return flat


def _merge(into: dict[str, Any], update: dict[str, Any], source: str) -> None:
    for key, value in update.items():
        if isinstance(into.get(key), dict) and isinstance(value, dict):
            _merge(into[key], value, source)
        elif key in into:
            raise TemplateError(f"{shown(key)} from {shown(source)} is already defined")
        else:
            into[key] = value
