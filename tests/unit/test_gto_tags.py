"""GTO's tag grammar and version ordering, checked against gto 1.10.1 itself (run once in the tools venv)."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest

from modelshelf.errors import InvalidArgument
from modelshelf.gitindex.gto import Action, ParsedTag, is_valid_name, is_version, parse_tag, version_key
from tests.fixtures.dvc_tools import ensure_dvc_tools

NAMES = ["m", "M", "model", "my-model_2", "a/b", "A1/b-2_c", "x9"]
DIRS = ["", "path/to=", "nested=", "a.b/c-d_e=", "./x=", "../up="]
SUFFIXES = [
    "@v1.2.3", "@v1.2.3!", "@v1.2.3#4", "@v1.2.3!#12", "@v0.0.1", "@v1.0.0-rc.1", "@v1.0.0-rc.1+build.5",
    "@v10.20.30-alpha.beta-1", "@v1.0.0+b", "#prod", "#prod#1", "#prod!#2", "#prod!", "#staging#10",
    "#a/b-c_d#7", "#P1", "@deprecated", "@deprecated#5", "@created", "@created#3",
]  # fmt: skip
ALMOST = [
    "", "m", "m@", "m#", "m@v1.0", "m@1.0.0", "m@V1.0.0", "m@v01.0.0", "m@v1.2.3.4", "m@v1.0.0-", "m@v1.0.0+",
    "m@v1.0.0-01", "m@v1.0.0-rc..1", "m@v1.0.0 ", " m@v1.0.0", "m@v1.0.0!!", "m@v1.0.0#", "m@v1.0.0#x",
    "m@v1.0.0#-1", "m#prod#", "m#prod!!", "m#-prod", "m#prod-", "m#pr.od", "m#prod#1#2", "m@deprecated!",
    "m@deprecated!#1", "m@created!", "m@latest", "m@greatest", "-m@v1.0.0", "m-@v1.0.0", "_m#prod", "m_#prod",
    "/m#prod", "m/#prod", "m.x@v1.0.0", "m:x@v1.0.0", "a:b=c@v1.0.0", "a=b=c@v1.0.0", "=m@v1.0.0",
    "m@@v1.0.0", "m#prod@v1.0.0", "m@v1.0.0#prod", "m @v1.0.0", "m#prod #1", "m@deprecatedx",
    "m@v1.0.0-rc.1!+b", "m@v1.0.0+b!", "m@v1.0.0!+b", "m#pröd", "mödel@v1.0.0", "m@v1.٣.0", "m#prod#٣",
]  # fmt: skip
TAG_NAMES = sorted({d + n + s for d in DIRS for n in NAMES for s in SUFFIXES} | set(ALMOST))

VERSIONS = [
    "v0.0.1", "v1.0.0", "v1.0.0+build", "v1.0.0+other", "v1.0.0-rc.1", "v1.0.0-rc.2", "v1.0.0-rc.10",
    "v1.0.0-alpha", "v1.0.0-alpha.1", "v1.0.0-alpha.beta", "v1.0.0-beta", "v1.0.0-beta.2", "v1.0.0-beta.11",
    "v1.0.0-1", "v1.0.0-2", "v1.0.0-10", "v1.0.0-a-1", "v1.0.0-0a", "v1.2.0", "v1.10.0", "v2.0.0-alpha",
    "v2.0.0", "v10.0.0", "v1.0.0-rc.1+b2",
]  # fmt: skip
NOT_VERSIONS = [
    "",
    "v",
    "1.0.0",
    "V1.0.0",
    "v1.0",
    "v01.0.0",
    "v1.2.3.4",
    "v1.0.0-",
    "v1.0.0-01",
    "latest",
    "vv1.0.0",
]

GTO_SCRIPT = """
import json, sys
from gto.base import sort_versions
from gto.tag import parse_name
from gto.constants import check_string_is_valid
from gto.versions import SemVer
data = json.load(sys.stdin)
out = {"tags": {}, "names": {}, "is_version": {}}
for name in data["tags"]:
    parsed = parse_name(name, raise_on_fail=False)
    out["tags"][name] = (
        {k: (v.value if hasattr(v, "value") else v) for k, v in parsed.items()} if parsed else None
    )
for name in data["names"]:
    out["names"][name] = check_string_is_valid(name)
for v in data["versions"]:
    out["is_version"][v] = SemVer.is_valid(v)
valid = [v for v in data["versions"] if SemVer.is_valid(v)]
out["order"] = [d["version"] for d in sort_versions([{"version": v} for v in valid], ascending=True)]
json.dump(out, sys.stdout)
"""


@pytest.fixture(scope="module")
def gto_says() -> dict[str, Any]:
    """What gto's own functions answer for every name and version of this module, in one subprocess."""
    names = [*NAMES, "", "a", "-a", "a-", "a.b", "a b", "a@b", "a#b", "a:b", "a_", "/a", "Ab/C_d-9", "ä"]
    payload = json.dumps({"tags": TAG_NAMES, "names": names, "versions": [*VERSIONS, *NOT_VERSIONS]})
    done = subprocess.run(
        [ensure_dvc_tools().python, "-c", GTO_SCRIPT],
        input=payload,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _as_gto(parsed: ParsedTag | None) -> dict[str, Any] | None:
    """Our answer in the shape of gto's `parse_name` dict (which leaves out absent keys and has no action
    for `@created`)."""
    if parsed is None:
        return None
    out: dict[str, Any] = {"name": parsed.artifact}
    if parsed.action is not Action.CREATE:
        out["action"] = parsed.action.value
    if parsed.version is not None:
        out["version"] = parsed.version
    if parsed.stage is not None:
        out["stage"] = parsed.stage
    if parsed.counter is not None:
        out["counter"] = parsed.counter
    return out


def test_parse_tag_agrees_with_gto_on_every_name(gto_says: dict[str, Any]) -> None:
    assert len(TAG_NAMES) > 800
    disagreements = {
        name: (_as_gto(parse_tag(name)), gto_says["tags"][name])
        for name in TAG_NAMES
        if _as_gto(parse_tag(name)) != gto_says["tags"][name]
    }
    assert disagreements == {}
    accepted = sum(1 for name in TAG_NAMES if gto_says["tags"][name] is not None)
    assert 700 < accepted < len(TAG_NAMES)  # the list holds both sides of the grammar


def test_is_valid_name_agrees_with_gto(gto_says: dict[str, Any]) -> None:
    assert {name: is_valid_name(name) for name in gto_says["names"]} == gto_says["names"]


def test_is_version_agrees_with_gto(gto_says: dict[str, Any]) -> None:
    assert {v: is_version(v) for v in gto_says["is_version"]} == gto_says["is_version"]
    assert all(gto_says["is_version"][v] for v in VERSIONS)
    assert not any(gto_says["is_version"][v] for v in NOT_VERSIONS)


def test_version_order_agrees_with_gto(gto_says: dict[str, Any]) -> None:
    ours = sorted(VERSIONS, key=version_key)  # stable, like gto's, so equal versions keep input order
    assert ours == gto_says["order"]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("model@v1.2.3", ParsedTag("model", Action.REGISTER, "v1.2.3", None, None)),
        ("model@v1.2.3#4", ParsedTag("model", Action.REGISTER, "v1.2.3", None, 4)),
        ("model@v1.2.3!", ParsedTag("model", Action.DEREGISTER, "v1.2.3", None, None)),
        ("model@v1.2.3!#7", ParsedTag("model", Action.DEREGISTER, "v1.2.3", None, 7)),
        ("model#prod#3", ParsedTag("model", Action.ASSIGN, None, "prod", 3)),
        ("model#prod", ParsedTag("model", Action.ASSIGN, None, "prod", None)),
        ("path/to=model#prod!#3", ParsedTag("path/to:model", Action.UNASSIGN, None, "prod", 3)),
        ("model#prod!", ParsedTag("model", Action.UNASSIGN, None, "prod", None)),
        ("model@deprecated", ParsedTag("model", Action.DEPRECATE, None, None, None)),
        ("model@deprecated#5", ParsedTag("model", Action.DEPRECATE, None, None, 5)),
        ("model@created", ParsedTag("model", Action.CREATE, None, None, None)),
        ("nested=tiny@v0.1.0-rc.1+b", ParsedTag("nested:tiny", Action.REGISTER, "v0.1.0-rc.1+b", None, None)),
        ("a.b/c=m#dev#10", ParsedTag("a.b/c:m", Action.ASSIGN, None, "dev", 10)),
    ],
)
def test_each_form_of_gtos_table(name: str, expected: ParsedTag) -> None:
    assert parse_tag(name) == expected


@pytest.mark.parametrize(
    "name", ["m@v1.0", "m@1.0.0", "m@V1.0.0", "m@v1.0.0!!", "m#prod#", "m@latest", "m.x#a"]
)
def test_names_outside_the_grammar(name: str) -> None:
    assert parse_tag(name) is None


def test_semver_precedence() -> None:
    order = ["v1.0.0-alpha", "v1.0.0-alpha.1", "v1.0.0-alpha.beta", "v1.0.0-beta", "v1.0.0-beta.2"]
    order += ["v1.0.0-beta.11", "v1.0.0-rc.1", "v1.0.0", "v1.2.0", "v1.10.0", "v2.0.0-alpha", "v2.0.0"]
    assert sorted(reversed(order), key=version_key) == order
    assert version_key("v1.0.0+build") == version_key("v1.0.0") == version_key("v1.0.0+other")
    assert version_key("v1.0.0-2") < version_key("v1.0.0-10") < version_key("v1.0.0-a")


@pytest.mark.parametrize("text", NOT_VERSIONS)
def test_version_key_refuses_what_is_not_a_version(text: str) -> None:
    with pytest.raises(InvalidArgument, match="not a version"):
        version_key(text)
