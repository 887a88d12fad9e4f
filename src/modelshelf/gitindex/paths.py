"""Repository paths: git-root-relative POSIX strings, "" for the root, never absolute, never `..`."""

from __future__ import annotations

import posixpath
import re

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def is_url(path: str) -> bool:
    return bool(_URL.match(path))


def repo_join(base: str, path: str) -> str | None:
    """`path` (relative to the directory `base`) as a normalised git-root-relative path; None when it is
    absolute or climbs out of the repository. Backslashes count as separators: DVC files written on
    Windows use them, and a repository path never holds one."""
    path = path.replace("\\", "/")
    if path.startswith("/") or re.match(r"^[A-Za-z]:/", path):
        return None
    joined = posixpath.normpath(posixpath.join(base, path))
    if joined == ".":
        return ""
    if joined == ".." or joined.startswith(("../", "/")):
        return None
    return joined


def parent(path: str) -> str:
    """The directory holding `path` ("" at the root)."""
    return posixpath.dirname(path)


def is_within(path: str, directory: str) -> bool:
    """Whether `path` is `directory` itself or lies under it ("" holds everything)."""
    return directory == "" or path == directory or path.startswith(directory + "/")
