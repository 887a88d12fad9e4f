"""The one typed settings object, declared once, and its loader.

Sources, highest first: command-line flags (the CLI applies them with `Settings.with_changes`),
`MODELSHELF_*` environment variables, the TOML file named by `--config` or `MODELSHELF_CONFIG`, then the
defaults below. `load_settings` reads the environment and the file; `Settings(...)` reads nothing, so
tests build their own. Every key is documented in docs/configuration.md.

A later section (`[git]`, `[[storage]]`, ...) is a `Section` subclass held by a field of `Settings`:
validation, unknown keys and error paths (`git.fetch_timeout`, `storage[0].bucket`) work for it as they
do for the top level. Environment variables set top-level keys only.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import tomllib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, Self, get_args, get_origin

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

PREFIX = "MODELSHELF_"
CONFIG_ENV = PREFIX + "CONFIG"
MIB = 1024 * 1024
# Turning authentication off is a decision made at the command line, on a loopback address, never a
# value that a file or a container's environment can slip in.
FLAG_ONLY = frozenset({"auth"})
FLAG_ONLY_PROBLEM = "authentication can only be turned off on the command line: 'modelshelf serve --no-auth'"

Location = tuple[str | int, ...]  # a key's path in the configuration, as pydantic reports it
DATABASE_BACKENDS = ("sqlite", "postgresql", "postgres")


class SettingsError(Exception):
    """A configuration that cannot be used; the message is one line, names its source and holds no secret."""


# --- value types: what a file or an environment variable may write --------------------------------------

_DURATION = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|h)?\s*")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
_SIZE = re.compile(r"\s*(\d+)\s*(b|kb|mb|gb|kib|mib|gib)?\s*", re.IGNORECASE)
_SIZE_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "kib": 2**10, "mib": 2**20, "gib": 2**30}
_INTEGER = re.compile(r"\s*[+-]?\d+\s*")
_BOOLEANS = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}


def parse_duration(value: object) -> float:
    """Seconds from a number of seconds or a string such as "250ms", "30s", "10m", "1h" (or "30")."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str) and (match := _DURATION.fullmatch(value)):
        return float(match[1]) * _DURATION_UNITS[match[2]]
    raise ValueError(
        'expected a duration: a number of seconds or a string such as "250ms", "30s", "10m", "1h"'
    )


def parse_size(value: object) -> int:
    """Bytes from an integer or a string such as "65536", "64KiB", "4MiB" (KB, MB, GB are powers of 1000)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and (match := _SIZE.fullmatch(value)):
        return int(match[1]) * _SIZE_UNITS[(match[2] or "b").lower()]
    raise ValueError('expected a size in bytes: an integer or a string such as "64KiB" or "4MiB"')


def parse_bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _BOOLEANS:
        return _BOOLEANS[value.strip().lower()]
    raise ValueError("expected a boolean: true or false (or 1/0, yes/no)")


def _integer(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _INTEGER.fullmatch(value):
        return int(value)
    raise ValueError("expected an integer")


def _path(value: object) -> Path:
    if isinstance(value, Path):
        return value
    if isinstance(value, str) and value.strip():
        return Path(value)
    raise ValueError("expected a non-empty path")


def _optional_text(value: object) -> object:
    return None if value == "" else value  # an empty variable or `${NAME}` means "not set"


def _lower(value: object) -> object:
    return value.strip().lower() if isinstance(value, str) else value


Duration = Annotated[float, BeforeValidator(parse_duration)]
Size = Annotated[int, BeforeValidator(parse_size)]
Integer = Annotated[int, BeforeValidator(_integer)]
Flag = Annotated[bool, BeforeValidator(parse_bool)]
DirPath = Annotated[Path, BeforeValidator(_path)]
OptionalText = Annotated[str | None, BeforeValidator(_optional_text)]


class Section(BaseModel):
    """A table of the configuration: immutable, and a key it does not declare is an error, not a no-op."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


GitScheme = Literal["https", "ssh", "git", "file", "http"]
# "git" (unauthenticated, unencrypted) and "file" (the server's own disk) only where the operator lists them.
DEFAULT_GIT_SCHEMES: tuple[GitScheme, ...] = ("https", "ssh")
GIT_SCHEMES: tuple[GitScheme, ...] = get_args(GitScheme)
STORAGE_SCHEMES = ("s3", "azure", "gs", "http", "https")
SECRET = Field(None, repr=False)  # a secret's value is in no repr and no error message


class GitRewrite(Section):
    """Like git's `url.<to>.insteadOf <prefix>`: a repository URL that starts with `prefix` is fetched from
    `to` + the rest. Written by the operator, so `to` may use any scheme (file:// included)."""

    prefix: str = Field(min_length=1)
    to: str = Field(min_length=1)


class GitCredential(Section):
    """How to authenticate to one Git host: a username and password (or token) over HTTPS, or an SSH key."""

    host: str = Field(min_length=1, pattern=r"^[A-Za-z0-9.-]+(:[0-9]+)?$")
    username: OptionalText = None
    password: OptionalText = SECRET
    ssh_key: Annotated[Path | None, BeforeValidator(lambda v: None if v == "" else _path(v))] = None

    @model_validator(mode="after")
    def _one_method(self) -> Self:
        if (self.password is None) == (self.ssh_key is None):
            raise ValueError("give either password (with username) or ssh_key")
        return self


class GitSettings(Section):
    schemes: list[GitScheme] = Field(default_factory=lambda: list(DEFAULT_GIT_SCHEMES), min_length=1)
    fetch_timeout: Duration = Field(120.0, gt=0)
    refresh_interval: Duration = Field(600.0, ge=0)  # 0: no periodic refresh
    rewrite: list[GitRewrite] = Field(default_factory=list)
    credentials: list[GitCredential] = Field(default_factory=list)


class StorageSettings(Section):
    """Credentials and endpoint for the DVC remotes whose URL starts with `url` (the longest match wins)."""

    url: str = Field(min_length=1)
    endpoint_url: OptionalText = None
    region: OptionalText = None
    access_key_id: OptionalText = None
    secret_access_key: OptionalText = SECRET
    session_token: OptionalText = SECRET
    connection_string: OptionalText = SECRET
    account_name: OptionalText = None
    account_key: OptionalText = SECRET
    credentials_file: Annotated[Path | None, BeforeValidator(lambda v: None if v == "" else _path(v))] = None

    @field_validator("url")
    @classmethod
    def _storage_url(cls, url: str) -> str:
        scheme = url.partition("://")[0].lower() if "://" in url else ""
        if scheme not in STORAGE_SCHEMES:
            raise ValueError(
                "expected a remote URL such as s3://bucket, azure://container, gs://bucket or https://host/path"
            )
        return url

    @field_validator("endpoint_url")
    @classmethod
    def _endpoint(cls, url: str | None) -> str | None:
        if url is not None and not re.match(r"^https?://[^/\s]+", url):
            raise ValueError("expected an http:// or https:// URL")
        return url


class SigningSettings(Section):
    # SigV4, GCS V4 and SAS all allow at most 7 days.
    expires_in: Duration = Field(3600.0, ge=1, le=7 * 24 * 3600)


class Settings(Section):
    data_dir: DirPath = Path(".modelshelf")
    database_url: OptionalText = None  # default: the SQLite file inside data_dir
    host: str = Field("127.0.0.1", min_length=1)
    port: Integer = Field(8080, ge=1, le=65535)
    log_level: Annotated[
        Literal["critical", "error", "warning", "info", "debug"], BeforeValidator(_lower)
    ] = "info"
    log_format: Annotated[Literal["text", "json"], BeforeValidator(_lower)] = "text"
    access_log: Flag = True
    metrics_public: Flag = False
    max_body_bytes: Size = Field(4 * MIB, gt=0)
    max_header_bytes: Size = Field(65536, gt=0)
    auth: Flag = True  # off only through `serve --no-auth`, which insists on a loopback address
    # The bootstrap admin's token for an empty database; in no repr, dump or error message.
    admin_token: OptionalText = Field(None, repr=False, exclude=True)
    request_timeout: Duration = Field(30.0, gt=0)  # one request, its database statements included
    worker_threads: Integer = Field(8, ge=1)  # threads for database and other blocking work
    max_connections: Integer = Field(900, ge=1)
    header_timeout: Duration = Field(10.0, gt=0)
    keep_alive_timeout: Duration = Field(5.0, gt=0)
    body_timeout: Duration = Field(30.0, gt=0)
    shutdown_timeout: Duration = Field(30.0, ge=0)
    # How long `serve` and `db upgrade` wait for another process that is migrating the same database.
    migration_lock_timeout: Duration = Field(60.0, gt=0)
    # SQLite: "full" syncs the WAL at every commit, so an acknowledged write survives a power loss;
    # "normal" syncs only at checkpoints (the last commits may be lost, the file is never corrupted).
    sqlite_synchronous: Annotated[Literal["full", "normal"], BeforeValidator(_lower)] = "full"
    # Git models (the DVC Studio face): the base of project URLs, then the [git], [[storage]] and [signing]
    # tables, which only the configuration file can set.
    public_url: OptionalText = None  # default: http://<host>:<port>
    git: GitSettings = Field(default_factory=lambda: GitSettings.model_validate({}))
    storage: list[StorageSettings] = Field(default_factory=list)
    signing: SigningSettings = Field(default_factory=lambda: SigningSettings.model_validate({}))

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, url: str | None) -> str | None:
        if url is not None and not re.fullmatch(r"https?://[^/\s?#]+(/[^\s?#]*)?", url):
            raise ValueError(
                "expected an http:// or https:// URL without a query, such as https://models.example.com"
            )
        return url.rstrip("/") if url else url

    @property
    def effective_public_url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}"

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, url: str | None) -> str | None:
        if url is None:
            return None
        example = "such as sqlite:///path/to/modelshelf.db or postgresql://user:password@host/database"
        try:
            backend = make_url(url).get_backend_name()
        except (ArgumentError, ValueError):
            # SQLAlchemy's own message repeats the URL, password included.
            raise ValueError(f"expected a database URL {example}") from None
        if backend not in DATABASE_BACKENDS:
            raise ValueError(f"unsupported database {backend!r}: expected a URL {example}")
        return url

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'modelshelf.db').resolve()}"

    def with_changes(self, **changes: Any) -> Self:
        """A copy with these fields changed, validated like any other source (flags use this)."""
        current = {name: getattr(self, name) for name in type(self).model_fields}
        try:
            return type(self).model_validate({**current, **changes})
        except ValidationError as exc:
            raise SettingsError(_describe(exc, type(self), _dotted)) from None

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None, config_path: str | Path | None = None) -> Self:
        """The environment over the TOML file over the defaults; `config_path` (the --config flag) wins
        over MODELSHELF_CONFIG. Raises SettingsError with one line that names the source and the key."""
        env = os.environ if environ is None else environ
        path = config_path if config_path is not None else env.get(CONFIG_ENV) or None
        from_file = _read_file(Path(path), env) if path is not None else {}
        from_env = _read_env(cls, env)
        try:
            return cls.model_validate({**from_file, **from_env})
        except ValidationError as exc:
            raise SettingsError(_describe(exc, cls, _FileAndEnv(str(path), from_env))) from None

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for name, value in super().__repr_args__():
            yield name, redact_url(value) if name == "database_url" and value else value


def redact_url(url: str) -> str:
    """`url` with its password, if any, replaced by ***."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return re.sub(r"(//[^/@:]*:)[^@/]*@", r"\1***@", url)


# --- the loader ---------------------------------------------------------------------------------------


def load_settings(
    environ: Mapping[str, str] | None = None, config_path: str | Path | None = None
) -> Settings:
    """`Settings.load`: what every command runs with, before its flags."""
    return Settings.load(environ, config_path)


def _read_env(model: type[Section], env: Mapping[str, str]) -> dict[str, str]:
    """The MODELSHELF_<KEY> variables of top-level keys. Other MODELSHELF_* names are left alone: clients
    and tools share the prefix (MODELSHELF_TOKEN in the README's examples). An empty variable is unset."""
    values = {}
    for name, field in model.model_fields.items():
        variable = PREFIX + name.upper()
        if not env.get(variable) or _section(field.annotation):
            continue
        if name in FLAG_ONLY:
            raise SettingsError(f"environment variable {variable}: {FLAG_ONLY_PROBLEM}")
        values[name] = env[variable]
    return values


def _read_file(path: Path, env: Mapping[str, str]) -> dict[str, Any]:
    try:
        with path.open("rb") as file:
            data = tomllib.load(file)
    except OSError as exc:
        raise SettingsError(f"{path}: cannot read the configuration file: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:  # the message ends with "(at line L, column C)"
        raise SettingsError(f"{path}: not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise SettingsError(f"{path}: not valid TOML: the file is not UTF-8") from None
    if clash := sorted(FLAG_ONLY & data.keys()):
        raise SettingsError(f"{path}: {clash[0]}: {FLAG_ONLY_PROBLEM}")
    return {key: _substitute(value, (key,), path, env) for key, value in data.items()}


# `${NAME}` is replaced by the variable NAME; `$${` is a literal `${`; any other `${` is an error.
_REFERENCE = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$\{")


def _substitute(value: Any, loc: Location, path: Path, env: Mapping[str, str]) -> Any:
    if isinstance(value, dict):
        return {key: _substitute(item, (*loc, key), path, env) for key, item in value.items()}
    if isinstance(value, list):
        return [_substitute(item, (*loc, index), path, env) for index, item in enumerate(value)]
    if not isinstance(value, str):
        return value

    def replace(match: re.Match[str]) -> str:
        if match[0] == "$${":
            return "${"
        if match[1] is None:
            raise SettingsError(
                f"{path}: {_dotted(loc)}: malformed reference: write ${{NAME}} with NAME made of letters, "
                "digits and _, or $${ for a literal ${"
            )
        if match[1] not in env:
            raise SettingsError(f"{path}: {_dotted(loc)}: environment variable {match[1]} is not set")
        return env[match[1]]

    return _REFERENCE.sub(replace, value)


# --- one line per error -------------------------------------------------------------------------------


class _FileAndEnv:
    """Names where a value came from: its MODELSHELF_* variable, else the file and the dotted key."""

    def __init__(self, path: str, from_env: Mapping[str, str]) -> None:
        self.path, self.from_env = path, from_env

    def __call__(self, loc: Location) -> str:
        if loc and loc[0] in self.from_env:
            return f"environment variable {PREFIX}{str(loc[0]).upper()}"
        return f"{self.path}: {_dotted(loc)}"


def _describe(exc: ValidationError, model: type[Section], where: Callable[[Location], str]) -> str:
    errors = exc.errors(include_url=False)
    first = errors[0]
    others = len(errors) - 1
    more = f" (and {others} more problem{'s' if others > 1 else ''})" if others else ""
    return f"{where(first['loc'])}: {_problem(first, model)}{more}"


def _problem(error: ErrorDetails, model: type[Section]) -> str:
    loc, value = error["loc"], error.get("input")
    if error["type"] == "extra_forbidden":
        table = _table_at(model, loc[:-1])
        close = difflib.get_close_matches(str(loc[-1]), list(table.model_fields) if table else [], n=1)
        return "unknown key" + (f" (did you mean {close[0]!r}?)" if close else "")
    message = error["msg"].removeprefix("Value error, ")
    message = message[:1].lower() + message[1:]
    table = _table_at(model, loc[:-1])
    field = table.model_fields.get(str(loc[-1])) if table and loc else None
    if field is not None and field.repr is False:  # a secret: not even a part of it is shown
        return message
    if isinstance(value, str) and "database_url" in loc:
        value = redact_url(value)
    shown = json.dumps(value, default=str)
    return f"{message} (got {shown[:80] + '...' if len(shown) > 80 else shown})"


def _table_at(model: type[Section], loc: Location) -> type[Section] | None:
    """The section at this key path (list indexes skipped), or None if the path leads to a plain value."""
    table: type[Section] | None = model
    for part in loc:
        if isinstance(part, int):
            continue
        field = table.model_fields.get(part) if table else None
        table = _section(field.annotation) if field else None
    return table


def _section(annotation: Any) -> type[Section] | None:
    if get_origin(annotation) is list:  # an array of tables, [[name]]
        annotation = get_args(annotation)[0]
    return annotation if isinstance(annotation, type) and issubclass(annotation, Section) else None


def _dotted(loc: Location) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text
