"""Where DVC puts an object in a remote, and what a directory's `.dir` manifest lists.

Layout (dvc/data_cloud.py): DVC 3 outputs (`hash: md5`) live at `<url>/files/md5/ab/cdef...`, DVC 2.x
outputs (no `hash:`) at `<url>/ab/cdef...`; a directory's manifest is the object `<md5>.dir`, whose bytes
are `json.dumps(sorted entries, sort_keys=True)` and whose md5 is the directory's hash
(dvc_data/hashfile/tree.py). Because the manifest is content-addressed, a verified one can be cached
for every repository at once.
"""

from __future__ import annotations

import hashlib
import json
import re

from modelshelf.errors import InvalidArgument, shown

_HEX32 = re.compile(r"^[0-9a-f]{32}$")
MAX_DIR_ENTRIES = 200_000


def object_url(remote_url: str, md5: str, *, legacy: bool, is_dir: bool) -> str:
    """The storage URL of the object with hash `md5` (with or without ".dir") under `remote_url`."""
    digest = md5.lower().removesuffix(".dir")
    if not _HEX32.match(digest):
        raise InvalidArgument(f"{shown(md5)} is not an md5 hash")
    layout = "" if legacy else "files/md5/"
    suffix = ".dir" if is_dir else ""
    return f"{remote_url.rstrip('/')}/{layout}{digest[:2]}/{digest[2:]}{suffix}"


def parse_dir_manifest(data: bytes, md5: str) -> list[tuple[str, str]]:
    """The (relpath, md5) of each file in the `.dir` manifest `data`, which must hash to `md5`."""
    expected = md5.lower().removesuffix(".dir")
    if hashlib.md5(data, usedforsecurity=False).hexdigest() != expected:
        raise InvalidArgument(f"the directory manifest does not match its hash {shown(expected)}")
    try:
        entries = json.loads(data)
    except (ValueError, RecursionError):
        raise InvalidArgument("the directory manifest is not JSON") from None
    if not isinstance(entries, list):
        raise InvalidArgument("the directory manifest is not a list")
    if len(entries) > MAX_DIR_ENTRIES:
        raise InvalidArgument(f"the directory manifest lists over {MAX_DIR_ENTRIES} files")
    files: list[tuple[str, str]] = []
    seen: set[str] = set()
    for entry in entries:
        relpath = entry.get("relpath") if isinstance(entry, dict) else None
        digest = entry.get("md5") if isinstance(entry, dict) else None
        if not isinstance(relpath, str) or not isinstance(digest, str) or not _HEX32.match(digest.lower()):
            raise InvalidArgument("a directory manifest entry is not {relpath, md5}")
        _check_relpath(relpath)
        if relpath in seen:
            raise InvalidArgument(f"the directory manifest lists {shown(relpath)} twice")
        seen.add(relpath)
        files.append((relpath, digest.lower()))
    return files


def _check_relpath(relpath: str) -> None:
    # Each relpath becomes a key of the download answer and a path the client writes to: nothing that
    # could leave the artifact's directory, and one spelling per file.
    if not relpath or "\\" in relpath or "\0" in relpath or relpath.startswith("/"):
        raise InvalidArgument(f"the directory manifest has a bad path {shown(relpath)}")
    if any(part in ("", ".", "..") for part in relpath.split("/")):
        raise InvalidArgument(f"the directory manifest has a bad path {shown(relpath)}")
