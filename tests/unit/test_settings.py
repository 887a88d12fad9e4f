"""The settings loader: precedence, value syntaxes, `${NAME}`, one line per error, secrets kept out of sight.

Files are real TOML files in tmp_path; the environment is a plain dict given to the loader, so nothing
here depends on (or changes) the process environment.
"""

from __future__ import annotations

import typing
from pathlib import Path

import pytest
from pydantic import BaseModel, Field, ValidationError

from modelshelf.settings import Section, Settings, SettingsError, load_settings

DURATION_PROBLEM = 'expected a duration: a number of seconds or a string such as "250ms", "30s", "10m", "1h"'
PASSWORD = "hunter2-db-password"
TOKEN = "admin-token-from-the-vault-0123456789abcdef"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "modelshelf.toml"
    path.write_text(text)
    return path


def refused(environ: dict[str, str], path: Path | None = None) -> str:
    with pytest.raises(SettingsError) as caught:
        load_settings(environ, path)
    message = str(caught.value)
    assert "\n" not in message
    return message


# --- sources and precedence ---------------------------------------------------------------------------


def test_defaults_are_the_documented_ones_and_construction_reads_no_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MODELSHELF_PORT", "9999")
    expected = {
        "data_dir": Path(".modelshelf"),
        "database_url": None,
        "host": "127.0.0.1",
        "port": 8080,
        "log_level": "info",
        "log_format": "text",
        "access_log": True,
        "metrics_public": False,
        "max_body_bytes": 4 * 1024 * 1024,
        "max_header_bytes": 65536,
        "auth": True,
        "request_timeout": 30.0,
        "worker_threads": 8,
        "max_connections": 900,
        "header_timeout": 10.0,
        "keep_alive_timeout": 5.0,
        "body_timeout": 30.0,
        "shutdown_timeout": 30.0,
        "migration_lock_timeout": 60.0,
        "sqlite_synchronous": "full",
        "public_url": None,
        "git": {
            "schemes": ["https", "ssh"],
            "fetch_timeout": 120.0,
            "refresh_interval": 600.0,
            "rewrite": [],
            "credentials": [],
        },
        "storage": [],
        "signing": {"expires_in": 3600.0},
    }
    assert Settings().model_dump() == expected
    assert Settings().admin_token is None
    assert load_settings({}) == Settings()


def test_environment_over_file_over_defaults_and_flags_over_both(tmp_path: Path) -> None:
    path = write(tmp_path, 'port = 8100\nhost = "127.0.0.2"\nlog_level = "debug"\n')
    settings = load_settings({"MODELSHELF_PORT": "8200", "MODELSHELF_CONFIG": str(path)})
    assert (settings.port, settings.host, settings.log_level, settings.worker_threads) == (
        8200,
        "127.0.0.2",
        "debug",
        8,
    )
    flagged = settings.with_changes(port=8300)
    assert (flagged.port, flagged.host) == (8300, "127.0.0.2")
    assert settings.port == 8200  # a copy: the loaded settings are unchanged


def test_config_path_argument_wins_over_the_variable(tmp_path: Path) -> None:
    chosen = write(tmp_path, "port = 8100\n")
    ignored = tmp_path / "ignored.toml"
    ignored.write_text("port = 8200\n")
    assert load_settings({"MODELSHELF_CONFIG": str(ignored)}, chosen).port == 8100


def test_empty_variables_are_unset_and_unknown_ones_are_left_to_other_tools() -> None:
    environ = {"MODELSHELF_PORT": "", "MODELSHELF_TOKEN": "a client's token", "MODELSHELF_CONFIG": ""}
    assert load_settings(environ) == Settings()


def test_every_field_but_auth_is_read_from_its_variable(tmp_path: Path) -> None:
    environ = {
        "MODELSHELF_DATA_DIR": str(tmp_path),
        "MODELSHELF_DATABASE_URL": "sqlite:///x.db",
        "MODELSHELF_HOST": "::1",
        "MODELSHELF_PORT": "1",
        "MODELSHELF_LOG_LEVEL": "WARNING",
        "MODELSHELF_LOG_FORMAT": "json",
        "MODELSHELF_ACCESS_LOG": "no",
        "MODELSHELF_METRICS_PUBLIC": "yes",
        "MODELSHELF_MAX_BODY_BYTES": "1MiB",
        "MODELSHELF_MAX_HEADER_BYTES": "8KiB",
        "MODELSHELF_ADMIN_TOKEN": TOKEN,
        "MODELSHELF_REQUEST_TIMEOUT": "2s",
        "MODELSHELF_WORKER_THREADS": "3",
        "MODELSHELF_MAX_CONNECTIONS": "50",
        "MODELSHELF_HEADER_TIMEOUT": "500ms",
        "MODELSHELF_KEEP_ALIVE_TIMEOUT": "1m",
        "MODELSHELF_BODY_TIMEOUT": "7",
        "MODELSHELF_SHUTDOWN_TIMEOUT": "0",
        "MODELSHELF_MIGRATION_LOCK_TIMEOUT": "90s",
        "MODELSHELF_SQLITE_SYNCHRONOUS": "Normal",
        "MODELSHELF_PUBLIC_URL": "https://models.example.com/",
    }
    settings = load_settings(environ)
    assert settings.model_dump() == {
        "data_dir": tmp_path,
        "database_url": "sqlite:///x.db",
        "host": "::1",
        "port": 1,
        "log_level": "warning",
        "log_format": "json",
        "access_log": False,
        "metrics_public": True,
        "max_body_bytes": 1024 * 1024,
        "max_header_bytes": 8192,
        "auth": True,
        "request_timeout": 2.0,
        "worker_threads": 3,
        "max_connections": 50,
        "header_timeout": 0.5,
        "keep_alive_timeout": 60.0,
        "body_timeout": 7.0,
        "shutdown_timeout": 0.0,
        "migration_lock_timeout": 90.0,
        "sqlite_synchronous": "normal",
        "public_url": "https://models.example.com",
        "git": Settings().git.model_dump(),
        "storage": [],
        "signing": {"expires_in": 3600.0},
    }
    assert settings.admin_token == TOKEN
    assert set(Settings.model_fields) - {"auth", *SECTIONS} == {
        name.removeprefix("MODELSHELF_").lower() for name in environ
    }


def test_effective_database_url_defaults_to_sqlite_in_the_data_dir(tmp_path: Path) -> None:
    assert Settings(data_dir=tmp_path).effective_database_url == f"sqlite:///{tmp_path / 'modelshelf.db'}"
    assert Settings(database_url="postgresql://h/db").effective_database_url == "postgresql://h/db"


# --- value syntaxes -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "seconds"),
    [("250ms", 0.25), ("30s", 30.0), ("10m", 600.0), ("1h", 3600.0), ("1.5s", 1.5), ("45", 45.0)],
)
def test_durations_in_the_environment_and_the_file(tmp_path: Path, written: str, seconds: float) -> None:
    assert load_settings({"MODELSHELF_BODY_TIMEOUT": written}).body_timeout == seconds
    path = write(tmp_path, f'body_timeout = "{written}"\n')
    assert load_settings({}, path).body_timeout == seconds


def test_a_bare_number_in_the_file_is_seconds(tmp_path: Path) -> None:
    settings = load_settings({}, write(tmp_path, "request_timeout = 12\nheader_timeout = 0.5\n"))
    assert (settings.request_timeout, settings.header_timeout) == (12.0, 0.5)


@pytest.mark.parametrize("written", ['"soon"', '"10 parsecs"', '"-1s"', '"1d"', "true", '""'])
def test_bad_durations_are_refused(tmp_path: Path, written: str) -> None:
    path = write(tmp_path, f"request_timeout = {written}\n")
    assert refused({}, path) == f"{path}: request_timeout: {DURATION_PROBLEM} (got {written})"


def test_a_zero_or_negative_timeout_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "request_timeout = 0\n")
    assert refused({}, path) == f"{path}: request_timeout: input should be greater than 0 (got 0.0)"
    path = write(tmp_path, "keep_alive_timeout = -1\n")
    assert refused({}, path) == f"{path}: keep_alive_timeout: input should be greater than 0 (got -1.0)"


@pytest.mark.parametrize(
    ("written", "size"),
    [("65536", 65536), ("64KiB", 65536), ("4MiB", 4 * 2**20), ("1MB", 10**6), ("2 gib", 2**31)],
)
def test_sizes(written: str, size: int) -> None:
    assert load_settings({"MODELSHELF_MAX_BODY_BYTES": written}).max_body_bytes == size


def test_a_bad_size_names_the_variable() -> None:
    assert refused({"MODELSHELF_MAX_HEADER_BYTES": "lots"}) == (
        "environment variable MODELSHELF_MAX_HEADER_BYTES: expected a size in bytes: an integer or a string "
        'such as "64KiB" or "4MiB" (got "lots")'
    )
    assert refused({"MODELSHELF_MAX_BODY_BYTES": "0"}) == (
        "environment variable MODELSHELF_MAX_BODY_BYTES: input should be greater than 0 (got 0)"
    )


@pytest.mark.parametrize(
    ("written", "value"),
    [("1", True), ("0", False), ("true", True), ("FALSE", False), ("yes", True), ("No", False)],
)
def test_booleans_in_the_environment(written: str, value: bool) -> None:
    assert load_settings({"MODELSHELF_METRICS_PUBLIC": written}).metrics_public is value


@pytest.mark.parametrize("written", ["on", "maybe", "2"])
def test_other_words_are_not_booleans(written: str) -> None:
    assert refused({"MODELSHELF_ACCESS_LOG": written}) == (
        "environment variable MODELSHELF_ACCESS_LOG: expected a boolean: true or false (or 1/0, yes/no) "
        f'(got "{written}")'
    )


def test_the_file_takes_toml_booleans_but_not_numbers_for_them(tmp_path: Path) -> None:
    assert load_settings({}, write(tmp_path, "access_log = false\n")).access_log is False
    path = write(tmp_path, "access_log = 0\n")
    assert (
        refused({}, path) == f"{path}: access_log: expected a boolean: true or false (or 1/0, yes/no) (got 0)"
    )


# --- ${NAME} in the file ------------------------------------------------------------------------------


def test_variables_are_substituted_in_any_string(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        'database_url = "postgresql://app:${DB_PASSWORD}@${DB_HOST}/registry"\n'
        'admin_token = "${ADMIN_TOKEN}"\n'
        'port = "${PORT}"\n'
        'data_dir = "/srv/$${literal}/$HOME"\n',
    )
    environ = {"DB_PASSWORD": PASSWORD, "DB_HOST": "db.internal", "ADMIN_TOKEN": TOKEN, "PORT": "8181"}
    settings = load_settings(environ, path)
    assert settings.database_url == f"postgresql://app:{PASSWORD}@db.internal/registry"
    assert settings.admin_token == TOKEN
    assert settings.port == 8181
    assert settings.data_dir == Path("/srv/${literal}/$HOME")


def test_a_variable_set_to_nothing_leaves_an_optional_value_unset(tmp_path: Path) -> None:
    path = write(tmp_path, 'admin_token = "${ADMIN_TOKEN}"\n')
    assert load_settings({"ADMIN_TOKEN": ""}, path).admin_token is None


def test_an_unset_variable_names_the_file_the_key_and_the_variable(tmp_path: Path) -> None:
    path = write(tmp_path, 'database_url = "postgresql://app:${DB_PASSWORD}@db/registry"\n')
    assert refused({}, path) == f"{path}: database_url: environment variable DB_PASSWORD is not set"


@pytest.mark.parametrize("written", ["${1ABC}", "${ABC", "${}", "a ${B C} d"])
def test_a_malformed_reference_is_refused(tmp_path: Path, written: str) -> None:
    path = write(tmp_path, f'host = "{written}"\n')
    assert refused({"ABC": "x"}, path) == (
        f"{path}: host: malformed reference: write ${{NAME}} with NAME made of letters, digits and _, "
        "or $${ for a literal ${"
    )


# --- one line per error -------------------------------------------------------------------------------


def test_a_toml_syntax_error_gives_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, 'host = "127.0.0.1"\nport = \n')
    assert refused({}, path) == f"{path}: not valid TOML: Invalid value (at line 2, column 8)"


def test_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"
    assert refused({"MODELSHELF_CONFIG": str(path)}) == (
        f"{path}: cannot read the configuration file: No such file or directory"
    )


def test_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes('host = "caf\xe9"\n'.encode("latin-1"))
    assert refused({}, path) == f"{path}: not valid TOML: the file is not UTF-8"


def test_an_unknown_key_suggests_the_closest(tmp_path: Path) -> None:
    path = write(tmp_path, "prot = 8080\n")
    assert refused({}, path) == f"{path}: prot: unknown key (did you mean 'port'?)"
    path = write(tmp_path, "[git]\nfetch_timout = 3\n")
    assert refused({}, path) == f"{path}: git.fetch_timout: unknown key (did you mean 'fetch_timeout'?)"
    path = write(tmp_path, '[[storage]]\nurl = "s3://b"\nsecret_key = "x"\n')
    expected = "storage[0].secret_key: unknown key (did you mean 'secret_access_key'?)"
    assert refused({}, path) == f"{path}: {expected}"


def test_wrong_types_and_invalid_values(tmp_path: Path) -> None:
    cases = {
        'port = "eighty"': 'port: expected an integer (got "eighty")',
        "port = 70000": "port: input should be less than or equal to 65535 (got 70000)",
        "port = true": "port: expected an integer (got true)",
        "host = 127": "host: input should be a valid string (got 127)",
        'log_level = "loud"': (
            "log_level: input should be 'critical', 'error', 'warning', 'info' or 'debug' (got \"loud\")"
        ),
        'log_format = "xml"': "log_format: input should be 'text' or 'json' (got \"xml\")",
        'sqlite_synchronous = "off"': "sqlite_synchronous: input should be 'full' or 'normal' (got \"off\")",
        "worker_threads = 0": "worker_threads: input should be greater than or equal to 1 (got 0)",
        'data_dir = ""': 'data_dir: expected a non-empty path (got "")',
        "header_timeout = inf": "header_timeout: input should be a finite number (got Infinity)",
    }
    for line, problem in cases.items():
        path = write(tmp_path, line + "\n")
        assert refused({}, path) == f"{path}: {problem}", line


def test_several_problems_are_one_line_naming_the_first(tmp_path: Path) -> None:
    path = write(tmp_path, "port = 0\nworker_threads = 0\nmax_connections = 0\n")
    assert refused({}, path) == (
        f"{path}: port: input should be greater than or equal to 1 (got 0) (and 2 more problems)"
    )


def test_a_bad_environment_value_names_the_variable_not_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "port = 8100\n")
    assert refused({"MODELSHELF_PORT": "http"}, path) == (
        'environment variable MODELSHELF_PORT: expected an integer (got "http")'
    )


def test_authentication_is_not_switched_off_by_a_file_or_the_environment(tmp_path: Path) -> None:
    problem = "authentication can only be turned off on the command line: 'modelshelf serve --no-auth'"
    path = write(tmp_path, "auth = false\n")
    assert refused({}, path) == f"{path}: auth: {problem}"
    assert refused({"MODELSHELF_AUTH": "0"}) == f"environment variable MODELSHELF_AUTH: {problem}"
    assert Settings().with_changes(auth=False).auth is False  # what `serve --no-auth` does


def test_flags_are_validated_like_other_sources() -> None:
    with pytest.raises(SettingsError, match=r"^port: input should be greater than or equal to 1 \(got 0\)$"):
        Settings().with_changes(port=0)
    with pytest.raises(SettingsError, match=r"^prot: unknown key \(did you mean 'port'\?\)$"):
        Settings().with_changes(prot=8080)


def test_settings_are_immutable() -> None:
    with pytest.raises(ValidationError):
        Settings().port = 1  # type: ignore[misc]


# --- sections that later issues add ---------------------------------------------------------------------


class Git(Section):
    fetch_timeout: float = 30.0


class Storage(Section):
    bucket: str


class WithSections(Settings):
    git: Git = Git()
    storage: list[Storage] = Field(default_factory=list)


def test_errors_in_tables_and_arrays_of_tables_have_a_dotted_path(tmp_path: Path) -> None:
    path = write(tmp_path, "[git]\nfetch_timeot = 3\n")
    with pytest.raises(SettingsError) as caught:
        WithSections.load({}, path)
    assert str(caught.value) == f"{path}: git.fetch_timeot: unknown key (did you mean 'fetch_timeout'?)"
    path = write(tmp_path, '[[storage]]\nbucket = "a"\n[[storage]]\nbucket = 3\n')
    with pytest.raises(SettingsError) as caught:
        WithSections.load({}, path)
    assert str(caught.value) == f"{path}: storage[1].bucket: input should be a valid string (got 3)"
    path = write(tmp_path, '[git]\nfetch_timeout = "${SLOW}"\n')
    with pytest.raises(SettingsError) as caught:
        WithSections.load({}, path)
    assert str(caught.value) == f"{path}: git.fetch_timeout: environment variable SLOW is not set"
    loaded = WithSections.load({"SLOW": "90"}, path)
    assert loaded.git.fetch_timeout == 90.0


# --- secrets ------------------------------------------------------------------------------------------


def test_the_admin_token_is_in_no_repr_dump_or_error(tmp_path: Path) -> None:
    settings = Settings(admin_token=TOKEN)
    assert TOKEN not in repr(settings) and TOKEN not in str(settings)
    assert "admin_token" not in settings.model_dump() and TOKEN not in settings.model_dump_json()
    path = write(tmp_path, f"admin_token = [{TOKEN!r}]\n")
    assert refused({}, path) == f"{path}: admin_token: input should be a valid string"


def test_a_database_password_is_redacted_in_errors_and_repr(tmp_path: Path) -> None:
    message = refused({"MODELSHELF_DATABASE_URL": f"mysql://app:{PASSWORD}@db/registry"})
    assert message == (
        "environment variable MODELSHELF_DATABASE_URL: unsupported database 'mysql': expected a URL such as "
        "sqlite:///path/to/modelshelf.db or postgresql://user:password@host/database "
        '(got "mysql://app:***@db/registry")'
    )
    path = write(tmp_path, f'database_url = "postgresql://app:{PASSWORD}@db:port/registry"\n')
    message = refused({}, path)
    assert PASSWORD not in message and "postgresql://app:***@db:port/registry" in message
    settings = Settings(database_url=f"postgresql://app:{PASSWORD}@db/registry")
    assert PASSWORD not in repr(settings) and "postgresql://app:***@db/registry" in repr(settings)


# --- the documentation --------------------------------------------------------------------------------

DOC = Path(__file__).parents[2] / "docs" / "configuration.md"
SECTIONS = ("git", "storage", "signing")


def _keys(name: str, parent: type[BaseModel]) -> list[str]:
    """The dotted keys under the table (or array of tables) `name`, nested tables expanded."""
    annotation = parent.model_fields[name].annotation
    kind = typing.get_args(annotation)[0] if typing.get_origin(annotation) is list else annotation
    if not (isinstance(kind, type) and issubclass(kind, BaseModel)):
        return [name]
    return [f"{name}.{key}" for field in kind.model_fields for key in _keys(field, kind)]


def test_every_key_is_documented_with_its_variable_and_default() -> None:
    rows = [line.split(" | ") for line in DOC.read_text().splitlines() if line.startswith("| `")]
    documented = {row[0].strip("| `"): row for row in rows}
    top_level = {key for key in documented if "." not in key}
    assert top_level == set(Settings.model_fields) - {"auth", *SECTIONS}
    for key in top_level:
        assert documented[key][1] == f"`MODELSHELF_{key.upper()}`", documented[key]
    in_tables = {key.replace("[]", "") for key in documented if "." in key}
    assert in_tables == {key for section in SECTIONS for key in _keys(section, Settings)}


def test_the_example_file_loads(tmp_path: Path) -> None:
    example = DOC.read_text().split("## Example")[1].split("```toml\n")[1].split("```")[0]
    environ = {
        "DB_PASSWORD": PASSWORD,
        "MODELSHELF_BOOTSTRAP_TOKEN": TOKEN,
        "GITHUB_TOKEN": "ghp_example",
        "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "secret-example",
        "AZURE_STORAGE_CONNECTION_STRING": "AccountName=a;AccountKey=b",
    }
    settings = load_settings(environ, write(tmp_path, example))
    assert settings.git.credentials[0].password == "ghp_example"
    assert [s.url for s in settings.storage] == ["s3://acme-models", "azure://acme-blobs"]
    assert "secret-example" not in repr(settings) and "ghp_example" not in repr(settings)
    assert settings.database_url == f"postgresql://registry:{PASSWORD}@db.internal:5432/registry"
    assert (settings.host, settings.log_format, settings.max_header_bytes) == ("0.0.0.0", "json", 65536)
    assert settings.admin_token == TOKEN


# --- Git models' tables -------------------------------------------------------------------------------


def test_git_and_storage_tables_are_validated_with_their_key_named(tmp_path: Path) -> None:
    credentials = '[[git.credentials]]\nhost = "github.com"\n'
    cases = {
        '[git]\nschemes = ["ftp"]': "git.schemes[0]: input should be 'https', 'ssh', 'git', 'file' or 'http'",
        "[git]\nschemes = []": "git.schemes: list should have at least 1 item after validation, not 0",
        '[git]\nfetch_timeout = "soon"': "git.fetch_timeout: expected a duration",
        '[[git.rewrite]]\nprefix = "https://x/"': "git.rewrite[0].to: field required",
        '{credentials}username = "u"': "git.credentials[0]: give either password",
        '[[git.credentials]]\nhost = "git hub"\npassword = "p"': "git.credentials[0].host: string should",
        '[[storage]]\nurl = "ftp://x"': "storage[0].url: expected a remote URL",
        '[[storage]]\nurl = "s3://b"\nendpoint_url = "minio:9000"': "storage[0].endpoint_url: expected",
        '[signing]\nexpires_in = "8d"': "signing.expires_in: expected a duration",
        '[signing]\nexpires_in = "30d"': "signing.expires_in: expected a duration",
        "[signing]\nexpires_in = 700000": "signing.expires_in: input should be less than or equal to 604800",
        'public_url = "models.example.com"': "public_url: expected an http:// or https:// URL",
    }
    for text, expected in cases.items():
        path = write(tmp_path, text.format(credentials=credentials) + "\n")
        assert refused({}, path).startswith(f"{path}: {expected}"), text


def test_a_storage_secret_is_never_shown_in_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, '[[storage]]\nurl = "s3://b"\nsecret_access_key = 123\n')
    message = refused({}, path)
    assert message.startswith(f"{path}: storage[0].secret_access_key: input should be a valid string")
    assert "123" not in message
