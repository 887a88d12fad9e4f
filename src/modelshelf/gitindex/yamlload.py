"""YAML as DVC reads it, made safe for files from an untrusted repository.

DVC reads dvc.yaml with ruamel in YAML 1.2 mode, where `yes`, `no`, `on` and `off` are strings; PyYAML speaks
YAML 1.1, where they are booleans, so the loader here keeps only 1.2's booleans. `safe_load` builds only
plain data, and aliases share one object, so loading is linear in the file's size; but walking a
"billion laughs" document is not, so every walk over a loaded value goes through `plain` with a budget.
"""

from __future__ import annotations

import datetime
import math
import re
from typing import Any

import yaml

_BOOL_TAG = "tag:yaml.org,2002:bool"
_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_Base):  # type: ignore[misc]
    pass


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _BOOL_TAG]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(_BOOL_TAG, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))

# What one value (an artifact's meta, a templating context) may expand to when walked.
NODE_BUDGET = 20_000


class YamlProblem(Exception):
    """The file cannot be read as YAML; `str()` says why, without quoting the file at length."""


class TooLarge(Exception):
    """A value expands to more than its node budget (a YAML alias bomb, or simply too much data)."""


def load(data: bytes) -> object:
    """The one YAML document in `data`; an empty file is None."""
    try:
        text = data.decode("utf-8")
        return yaml.load(text, Loader=_Loader)  # a SafeLoader: plain data only
    except UnicodeDecodeError:
        raise YamlProblem("it is not UTF-8 text") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise YamlProblem(f"it is not valid YAML{where}: {exc.problem or exc.context}") from None
    except (yaml.YAMLError, ValueError, OverflowError, RecursionError) as exc:
        raise YamlProblem(f"it is not valid YAML: {type(exc).__name__}") from None


def plain(value: object, budget: int = NODE_BUDGET) -> object:
    """A JSON-able deep copy of a loaded YAML value: mapping keys become strings, dates ISO strings,
    non-finite floats None, anything else its string form. Raises TooLarge past `budget` nodes."""
    left = [budget]

    def walk(node: object, depth: int) -> object:
        left[0] -= 1
        if left[0] < 0 or depth > 100:
            raise TooLarge
        if node is None or isinstance(node, bool | int | str):
            return node
        if isinstance(node, float):
            return node if math.isfinite(node) else None
        if isinstance(node, dict):
            return {_key(k): walk(v, depth + 1) for k, v in node.items()}
        if isinstance(node, list | tuple):
            return [walk(v, depth + 1) for v in node]
        if isinstance(node, datetime.date):
            return node.isoformat()
        return str(node)

    return walk(value, 0)


def _key(key: object) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    return key if isinstance(key, str) else str(key)
