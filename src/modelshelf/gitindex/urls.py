"""Repository URLs: the forms users write, one identity per repository, and where the server fetches from.

Identity rules (one string per repository, the key a project is stored and looked up by):
- `host/path` for network forms: the host lower-cased, with no user and no port, and the path without a
  trailing "/" or ".git". The port is left out on purpose: a self-hosted GitLab or Gitea commonly serves
  SSH on 2222 and HTTPS on 443, and `ssh://git@host:2222/g/r.git` and `https://host/g/r` must be one
  repository; two different repositories on one host told apart only by the port are not a real case.
- The path keeps its case, because a self-hosted server may be case-sensitive, except on github.com,
  gitlab.com and bitbucket.org, which resolve paths case-insensitively, so `Org/Repo` and `org/repo`
  there are one repository and are stored lower-case.
- For a local repository (`file:///srv/git/x.git` or `/srv/git/x.git`) the absolute path, without
  ".git", since git itself finds `/srv/git/x` as `/srv/git/x.git`.

Error messages quote only the offending piece (a scheme, a host), never the whole text, which may hold a
password.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass

from modelshelf.errors import InvalidArgument
from modelshelf.settings import GitCredential, GitRewrite

MAX_URL_LENGTH = 2048
SHORTHANDS = {"github": "github.com", "gitlab": "gitlab.com", "bitbucket": "bitbucket.org"}
# These forges resolve paths case-insensitively; a repository there is exactly owner/repo
# (github.com, bitbucket.org) or group/.../repo (gitlab.com, with subgroups).
CASE_INSENSITIVE_HOSTS = frozenset(SHORTHANDS.values())
TWO_PART_HOSTS = frozenset({"github.com", "bitbucket.org"})
SCHEMES = ("https", "http", "ssh", "git", "file")
SCHEME_ALIASES = {"git+ssh": "ssh", "ssh+git": "ssh"}
DEFAULT_PORTS = {"https": 443, "http": 80, "ssh": 22, "git": 9418}
ALL_SCHEMES = frozenset(SCHEMES)

_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://(.*)", re.DOTALL)
_LABEL = r"[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?"
_HOST = re.compile(rf"{_LABEL}(?:\.{_LABEL})*|\[[0-9a-f:.]+\]")
_USER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]*")
# git's scp-like syntax: [user@]host:path, where no "/" comes before the first ":".
_HELPER = re.compile(r"[A-Za-z0-9+.-]+::")
_SCP = re.compile(r"(?:([^@/:]+)@)?(\[[^\]/]*\]|[^@/:\[\]]+):(.*)", re.DOTALL)


@dataclass(frozen=True, slots=True)
class RepoUrl:
    identity: str  # see the module's docstring: "github.com/org/repo", "/srv/git/models"
    scheme: str  # https | http | ssh | git | file; scp-like "git@host:org/repo" is ssh
    host: str  # lower-case, no user, no port; "" for file
    path: str  # "org/repo" as in the identity (lower-case on the case-insensitive forges); file: the identity
    clone_url: str  # the URL as the user wrote it, tidied (scheme and host lower-cased, default port and
    # trailing "/" dropped; ".git" and the path's case kept, as the server may need them): fetch it
    name: str  # the last path component without ".git", case kept: the default project name


@dataclass(frozen=True, slots=True)
class LookupKey:
    """What get-download-uris looks up for a `repo` value.

    `identities`: full identities, best first (the form as given, then the repositories that the
    configured rewrites map to or from it); the first one that names a visible project wins.
    `paths`: set only for a host-less `org/repo`; it matches a repository on any host whose
    `RepoUrl.path` equals it (see `matches`), and a lookup should answer only when exactly one
    repository matches. A database can select candidates with `path IN paths` and keep those for which
    `matches` is true.
    """

    identities: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()

    def matches(self, host: str, path: str) -> bool:
        """Whether the repository stored as `host` + `path` (RepoUrl fields) is one this key names."""
        if host and f"{host}/{path}" in self.identities:
            return True
        if not host or not self.paths:
            return False
        wanted = self.paths[0]
        return path == (wanted.lower() if host in CASE_INSENSITIVE_HOSTS else wanted)


@dataclass(frozen=True, slots=True)
class _Parts:
    scheme: str
    user: str | None
    host: str
    port: int | None
    path: str  # as written, without the leading "/" of a URL (for file: the absolute path)
    form: str  # "url", "scp", "shorthand" or "local"


def parse_repo_url(text: str, *, schemes: Collection[str]) -> RepoUrl:
    """The repository named by a create-project `repo_url`; InvalidArgument (one line) when it is malformed,
    hostile, or uses a scheme not in `schemes`."""
    parts = _split(text)
    if parts is None:
        raise InvalidArgument(
            "not a repository URL: expected https://host/org/repo, ssh://git@host/org/repo.git "
            "or git@host:org/repo.git"
        )
    if parts.scheme not in schemes:
        allowed = ", ".join(s for s in SCHEMES if s in schemes)
        raise InvalidArgument(f"scheme '{parts.scheme}' is not allowed on this server (allowed: {allowed})")
    return _repo(parts)


def lookup_identities(text: str, *, rewrites: Sequence[GitRewrite]) -> LookupKey:
    """What to look for in the database for a get-download-uris `repo`: any form parse_repo_url accepts
    (whatever the allowed schemes: only creating a project is restricted), a host-less `org/repo`, the
    `github:`/`gitlab:`/`bitbucket:` shorthands, and a form that a rewrite's `to` side produces
    (`file:///srv/git/acme/models.git` -> the identity of `https://github.com/acme/models`)."""
    _check_text(text)
    identities: list[str] = []
    problem: InvalidArgument | None = None
    try:
        parts = _split(text)
        if parts is None:
            raise _no_url()
        repo = _repo(parts)
    except InvalidArgument as err:
        problem = err
    else:
        identities.append(repo.identity)
        forward = _identity_of(fetch_url(repo, rewrites))
        if forward:
            identities.append(forward)
    for original in _reverse_rewrites(text, rewrites):
        if identity := _identity_of(original):
            identities.append(identity)
    if identities:
        return LookupKey(identities=tuple(dict.fromkeys(identities)))
    if paths := _bare_path(text):
        return LookupKey(paths=paths)
    raise problem or _no_url()


def fetch_url(repo: RepoUrl, rewrites: Sequence[GitRewrite]) -> str:
    """Where to fetch `repo` from, with git's `url.<to>.insteadOf <prefix>` semantics: the rule with the
    longest prefix of the URL wins, and the URL becomes `to` + the rest. The prefixes are tried on
    `clone_url` and on the forms users write for the same repository (https with and without ".git",
    scp-like and ssh:// with user git), so one rule covers a repository however its project was created."""
    best: tuple[int, str] | None = None
    for form in _forms(repo):
        for rule in rewrites:
            if form.startswith(rule.prefix) and (best is None or len(rule.prefix) > best[0]):
                best = (len(rule.prefix), rule.to + form[len(rule.prefix) :])
    return repo.clone_url if best is None else best[1]


def credential_for(url: str, credentials: Sequence[GitCredential]) -> GitCredential | None:
    """The configured credentials for the host that `url` (a fetch URL, after rewrites) names: an entry
    with a port matches that port only, one without matches any port of its host; None for file URLs."""
    host, port = _host_and_port(url)
    if not host:
        return None
    names = {host, f"{host}:{port}"} if port is not None else {host}
    matching = [c for c in credentials if c.host.lower() in names]
    chosen = [c for c in matching if ":" in c.host] or matching  # a port's own entry first
    return chosen[0] if chosen else None


def _host_and_port(url: str) -> tuple[str, int | None]:
    match = _SCHEME.fullmatch(url)
    if match:
        authority = match[2].partition("/")[0].rpartition("@")[2]
        host, _, port = authority.rpartition(":") if not authority.endswith("]") else (authority, "", "")
        if not host:
            host, port = authority, ""
        return host.lower(), int(port) if port.isdigit() else None
    if url.startswith("/"):
        return "", None
    if scp := _SCP.fullmatch(url):
        return scp[2].lower(), None
    return "", None


# --- parsing ---------------------------------------------------------------------------------------------


def _no_url() -> InvalidArgument:
    return InvalidArgument(
        "not a repository URL: expected https://host/org/repo, git@host:org/repo.git, github:org/repo "
        "or org/repo"
    )


def _check_text(text: str) -> None:
    if not text:
        raise InvalidArgument("the repository URL is empty")
    if len(text) > MAX_URL_LENGTH:
        raise InvalidArgument(f"the repository URL is longer than {MAX_URL_LENGTH} characters")
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in text):
        raise InvalidArgument("the repository URL contains whitespace or control characters")
    if text.startswith("-"):
        raise InvalidArgument("the repository URL must not start with '-' (git would read it as an option)")
    if "\\" in text:
        raise InvalidArgument("the repository URL must not contain '\\'")
    if _HELPER.match(text):
        # git reads "<name>::<address>" as "run git-remote-<name>" (ext:: runs any command)
        raise InvalidArgument("a '<transport>::<address>' repository address is not accepted")


def _split(text: str) -> _Parts | None:
    """The parts of `text`, None when it has none of the URL shapes; InvalidArgument when it has one but
    is malformed."""
    _check_text(text)
    if match := _SCHEME.fullmatch(text):
        return _split_url(match[1].lower(), match[2])
    if text.startswith("/"):
        return _Parts("file", None, "", None, _local_path(text), "local")
    if match := _SCP.fullmatch(text):
        user, host, path = match[1], match[2].lower(), match[3]
        if user is None and host in SHORTHANDS:
            return _Parts("https", None, SHORTHANDS[host], None, _no_query(path), "shorthand")
        if len(host) == 1 and host.isalpha():
            return None  # a Windows drive ("C:foo"), which git reads as a local path
        return _Parts("ssh", _user(user, "ssh"), _host(host), None, _no_query(path).lstrip("/"), "scp")
    return None


def _split_url(scheme: str, rest: str) -> _Parts:
    scheme = SCHEME_ALIASES.get(scheme, scheme)
    if scheme not in ALL_SCHEMES:
        raise InvalidArgument(
            f"scheme '{scheme[:20]}' is not a Git transport (use https, ssh, git, http or file)"
        )
    rest = _no_query(rest)
    authority, _, path = rest.partition("/")
    if scheme == "file":
        if authority not in ("", "localhost"):
            raise InvalidArgument("a file URL names no host: file:///absolute/path")
        return _Parts("file", None, "", None, _local_path("/" + path), "url")
    userinfo, at, hostport = authority.rpartition("@")
    user = _user(userinfo, scheme) if at else None
    host, port = _host_port(hostport, scheme)
    return _Parts(scheme, user, host, port, path, "url")


def _no_query(text: str) -> str:
    if "?" in text or "#" in text:
        raise InvalidArgument("a repository URL takes no query ('?') or fragment ('#')")
    return text


def _user(userinfo: str | None, scheme: str) -> str | None:
    if userinfo is None:
        return None
    if ":" in userinfo or scheme not in ("ssh",):
        raise InvalidArgument(
            "the repository URL must not contain credentials: the server's [[git.credentials]] supply them"
        )
    if not _USER.fullmatch(userinfo):
        raise InvalidArgument("the user name in the repository URL is not valid")
    return userinfo


def _host_port(hostport: str, scheme: str) -> tuple[str, int | None]:
    host, port_text = hostport, ""
    if hostport.startswith("["):
        end = hostport.find("]")
        host, port_text = hostport[: end + 1], hostport[end + 1 :].removeprefix(":")
        if end < 0 or (hostport[end + 1 :] and not hostport[end + 1 :].startswith(":")):
            raise InvalidArgument("the repository URL has a malformed host")
    elif ":" in hostport:
        host, _, port_text = hostport.partition(":")
    port: int | None = None
    if port_text:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise InvalidArgument("the port in the repository URL is not a number from 1 to 65535")
        port = int(port_text)
    if port == DEFAULT_PORTS[scheme]:
        port = None
    return _host(host.lower()), port


def _host(host: str) -> str:
    if not host:
        raise InvalidArgument("the repository URL has no host")
    if host.startswith("-"):
        raise InvalidArgument("the host must not start with '-' (git would read it as an option)")
    if not _HOST.fullmatch(host):
        raise InvalidArgument(f"the host {host[:80]!r} is not a valid host name")
    return host


def _local_path(path: str) -> str:
    """An absolute local path, checked: no '.', '..' or empty component."""
    _components(path.rstrip("/").removeprefix("/"), "a local repository path")
    return path.rstrip("/") or "/"


def _components(path: str, what: str) -> list[str]:
    if not path:
        raise InvalidArgument(f"{what} is missing")
    parts = path.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise InvalidArgument(f"{what} must not contain empty, '.' or '..' components")
    if "%" in path:
        raise InvalidArgument(f"{what} must not contain percent-encoded characters")
    return parts


def _repo(parts: _Parts) -> RepoUrl:
    written = parts.path.rstrip("/")
    if written.startswith("-"):
        raise InvalidArgument("the repository path must not start with '-' (git would read it as an option)")
    if parts.scheme == "file":
        bare = written.removesuffix(".git")
        name = bare.rsplit("/", 1)[-1]
        if not name:
            raise InvalidArgument("the local repository path has no repository name")
        return RepoUrl(bare, "file", "", bare, "file://" + written, name)
    components = _components(written, "the org/repo part of the repository URL")
    name = components[-1].removesuffix(".git")
    if not name:
        raise InvalidArgument("the repository URL has no repository name")
    components[-1] = name
    host = parts.host
    if host in TWO_PART_HOSTS and len(components) != 2:
        raise InvalidArgument(f"a {host} repository URL has the form https://{host}/<owner>/<repo>")
    if host in CASE_INSENSITIVE_HOSTS and len(components) < 2:
        raise InvalidArgument(f"a {host} repository URL has the form https://{host}/<group>/<repo>")
    path = "/".join(components)
    if host in CASE_INSENSITIVE_HOSTS:
        path = path.lower()
    return RepoUrl(f"{host}/{path}", parts.scheme, host, path, _clone_url(parts, written), name)


def _clone_url(parts: _Parts, written: str) -> str:
    user = f"{parts.user}@" if parts.user else ""
    if parts.form == "scp":
        return f"{user}{parts.host}:{written}"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{user}{parts.host}{port}/{written}"


def _identity_of(url: str) -> str | None:
    try:
        parts = _split(url)
        return _repo(parts).identity if parts else None
    except InvalidArgument:
        return None


def _bare_path(text: str) -> tuple[str, ...]:
    """The keys of a host-less `org/repo` ("" when `text` is not one)."""
    if ":" in text or text.startswith((".", "/")):
        return ()
    written = text.rstrip("/").removesuffix(".git")
    try:
        components = _components(written, "the repository path")
    except InvalidArgument:
        return ()
    if len(components) < 2:
        return ()
    return tuple(dict.fromkeys((written, written.lower())))


def _reverse_rewrites(text: str, rewrites: Sequence[GitRewrite]) -> Iterator[str]:
    """The URLs that the rewrites turn into `text` (its forms with and without ".git" and "file://"),
    from the rule with the longest `to` down."""
    variants = [text, text.rstrip("/")]
    variants += [v + ".git" for v in variants if not v.endswith(".git")]
    if text.startswith("/"):
        variants += ["file://" + v for v in variants]
    for rule in sorted(rewrites, key=lambda r: len(r.to), reverse=True):
        for variant in variants:
            if variant.startswith(rule.to):
                yield rule.prefix + variant[len(rule.to) :]


def _forms(repo: RepoUrl) -> Iterator[str]:
    """`repo.clone_url`, then the other forms users write for it, for matching rewrite prefixes."""
    yield repo.clone_url
    if repo.scheme == "file":
        return
    written = _split(repo.clone_url)
    path = written.path.rstrip("/").removesuffix(".git") if written else repo.path
    for suffix in (".git", ""):
        yield f"https://{repo.host}/{path}{suffix}"
        yield f"git@{repo.host}:{path}{suffix}"
        yield f"ssh://git@{repo.host}/{path}{suffix}"
        yield f"http://{repo.host}/{path}{suffix}"
        yield f"git://{repo.host}/{path}{suffix}"
