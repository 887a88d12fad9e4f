"""Remotes from a DVC project's `.dvc/config` (configobj INI, read as DVC reads it: section and option names
lower-cased, `['remote "name"']` sections, `[core] remote` naming the default)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlparse

from configobj import ConfigObj, ConfigObjError  # type: ignore[import-untyped]

from modelshelf.errors import shown
from modelshelf.gitindex.dvctypes import Remote

_NAMED = re.compile(r'^\s*remote\s*"(.*)"\s*$')
# Option names that hold or point to a secret. A signer never needs them: the server signs with its own
# credentials (DESIGN.md), and a repository's must not reach its database, logs or errors.
_SECRET_OPTIONS = frozenset(
    {
        "access_key_id",
        "secret_access_key",
        "session_token",
        "account_key",
        "connection_string",
        "sas_token",
        "password",
        "user",
        "client_secret",
        "custom_auth_header",
        "credentialpath",
        "keyfile",
        "key_path",
        "passphrase",
        "gdrive_client_secret",
        "gdrive_service_account_json_file_path",
        "kerberos_principal",
    }
)
_SECRET_WORDS = re.compile(r"secret|password|passphrase|token|credential|key$|^key|_key_|sas|auth")
_MAX_CHAIN = 8


@dataclass(frozen=True)
class ProjectConfig:
    remotes: dict[str, dict[str, str]]  # lower-cased name -> options (url included), secrets dropped
    default: str | None  # core.remote, lower-cased


class ConfigProblem(Exception):
    """`.dvc/config` cannot be read; `str()` says why."""


def parse_config(data: bytes) -> ProjectConfig:
    try:
        lines = data.decode("utf-8").splitlines()
        parsed = ConfigObj(lines).dict()
    except UnicodeDecodeError:
        raise ConfigProblem("it is not UTF-8 text") from None
    except (ConfigObjError, ValueError, SyntaxError) as exc:
        raise ConfigProblem(f"it is not a valid DVC config: {type(exc).__name__}") from None
    remotes: dict[str, dict[str, str]] = {}
    default: str | None = None
    for section, values in parsed.items():
        if not isinstance(values, dict):
            continue
        options = {str(k).lower(): v for k, v in values.items() if isinstance(v, str)}
        if section.lower().strip() == "core":
            default = options.get("remote", "").lower() or None
        elif match := _NAMED.match(section.lower()):
            remotes[match.group(1)] = {k: v for k, v in options.items() if not _is_secret(k)}
    return ProjectConfig(remotes, default)


def _is_secret(option: str) -> bool:
    return option in _SECRET_OPTIONS or bool(_SECRET_WORDS.search(option))


def resolve_remote(config: ProjectConfig, name: str) -> Remote | str:
    """The remote `name` with `remote://other/sub` URLs followed (DVC's `_resolve_remote_refs`: the base's
    options shadowed by the referring remote's), or a problem saying why there is none."""
    key = name.lower()
    options = config.remotes.get(key)
    if options is None:
        return f"remote {shown(name)} is not defined in .dvc/config"
    merged = dict(options)
    url = merged.get("url", "")
    seen = {key}
    while url.startswith("remote://"):
        parsed = urlparse(url)
        base_name = parsed.netloc.lower()
        base = config.remotes.get(base_name)
        if base is None:
            return f"remote {shown(name)} refers to remote {shown(base_name)}, which is not defined"
        if base_name in seen or len(seen) > _MAX_CHAIN:
            return f"remote {shown(name)} refers to itself through remote:// URLs"
        seen.add(base_name)
        sub = parsed.path.lstrip("/")
        base_url = base.get("url", "")
        url = f"{base_url.rstrip('/')}/{sub}" if sub else base_url
        merged = {**base, **merged}
    if not url:
        return f"remote {shown(name)} has no url"
    if not urlparse(url).netloc:
        return f"remote {shown(name)} is a local path ({shown(url)}), which the server cannot read"
    merged.pop("url", None)
    return Remote(name=key, url=url, options=merged)
