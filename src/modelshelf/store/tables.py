"""Table definitions. Migrations (store/migrations) are what create them; this module is what queries use.

One table per entity, with a column per typed field. Custom properties are kept twice, by design: as the
JSON map the API returns (`custom_properties`, so a read is one row) and as rows of `custom_property`
(typed columns with indexes, so a filter on a property name and value does not scan).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)

from modelshelf.domain.entities import NAME_MAX

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# How much of a string property value is indexed; longer values are compared in full after the index.
STRING_KEY_LENGTH = 200


def _common() -> list[Column[object]]:
    return [
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("name", String(NAME_MAX), nullable=False),
        Column("description", Text),
        Column("external_id", String(NAME_MAX), unique=True),
        Column("custom_properties", Text, nullable=False, server_default="{}"),
        Column("create_time", BigInteger, nullable=False),
        Column("last_update_time", BigInteger, nullable=False),
    ]


def _time_indexes(table: str) -> list[Index]:
    return [
        Index(f"ix_{table}_create_time", "create_time", "id"),
        Index(f"ix_{table}_last_update_time", "last_update_time", "id"),
    ]


registered_model = Table(
    "registered_model",
    metadata,
    *_common(),
    Column("owner", Text),
    Column("state", String(16), nullable=False),
    Column("readme", Text),
    Column("maturity", Text),
    Column("language", Text),  # JSON array
    Column("tasks", Text),  # JSON array
    Column("provider", Text),
    Column("logo", Text),
    Column("license", Text),
    Column("license_link", Text),
    Column("library_name", Text),
    UniqueConstraint("name"),
    *_time_indexes("registered_model"),
)

model_version = Table(
    "model_version",
    metadata,
    *_common(),
    Column("registered_model_id", Integer, ForeignKey("registered_model.id"), nullable=False),
    Column("author", Text),
    Column("state", String(16), nullable=False),
    UniqueConstraint("registered_model_id", "name"),
    # A name filter over every model's versions (migration 0005 says why each index exists).
    Index("ix_model_version_name", "name"),
    *_time_indexes("model_version"),
)

artifact = Table(
    "artifact",
    metadata,
    *_common(),
    Column("artifact_type", String(32), nullable=False),
    Column("uri", Text),
    Column("state", String(32)),
    # model-artifact
    Column("model_format_name", Text),
    Column("model_format_version", Text),
    Column("storage_key", Text),
    Column("storage_path", Text),
    Column("service_account_name", Text),
    Column("model_source_kind", Text),
    Column("model_source_class", Text),
    Column("model_source_group", Text),
    Column("model_source_id", Text),
    Column("model_source_name", Text),
    # dataset-artifact
    Column("digest", Text),
    Column("source_type", Text),
    Column("source", Text),
    Column("dataset_schema", Text),
    Column("profile", Text),
    # metric
    Column("metric_value", Float),
    Column("timestamp", BigInteger),
    Column("step", BigInteger),
    # parameter
    Column("parameter_value", Text),
    Column("parameter_type", String(16)),
    # the experiment run that logged the artifact (the first one, when several did), and its experiment
    Column("experiment_id", Integer),
    Column("experiment_run_id", Integer),
    # Not (artifact_type, name): without statistics SQLite takes the type as selective (migration 0005).
    Index("ix_artifact_name", "name"),
    *_time_indexes("artifact"),
)

# Artifacts are linked to model versions many-to-many; the link carries the artifact's (immutable) type and
# name so that "one name per type within a version" is a database constraint, not a race.
model_version_artifact = Table(
    "model_version_artifact",
    metadata,
    Column("model_version_id", Integer, ForeignKey("model_version.id"), primary_key=True),
    Column("artifact_id", Integer, ForeignKey("artifact.id"), primary_key=True),
    Column("artifact_type", String(32), nullable=False),
    Column("name", String(NAME_MAX), nullable=False),
    UniqueConstraint("model_version_id", "artifact_type", "name"),
    Index("ix_model_version_artifact_artifact_id", "artifact_id"),
)

serving_environment = Table(
    "serving_environment",
    metadata,
    *_common(),
    UniqueConstraint("name"),
    *_time_indexes("serving_environment"),
)

inference_service = Table(
    "inference_service",
    metadata,
    *_common(),
    Column("serving_environment_id", Integer, ForeignKey("serving_environment.id"), nullable=False),
    Column("registered_model_id", Integer, ForeignKey("registered_model.id"), nullable=False),
    Column("model_version_id", Integer, ForeignKey("model_version.id")),
    Column("runtime", Text),
    Column("desired_state", String(16)),
    UniqueConstraint("serving_environment_id", "name"),
    *_time_indexes("inference_service"),
)

serve_model = Table(
    "serve_model",
    metadata,
    *_common(),
    Column("inference_service_id", Integer, ForeignKey("inference_service.id"), nullable=False),
    Column("model_version_id", Integer, ForeignKey("model_version.id"), nullable=False),
    Column("last_known_state", String(16)),
    UniqueConstraint("inference_service_id", "name"),
    *_time_indexes("serve_model"),
)

experiment = Table(
    "experiment",
    metadata,
    *_common(),
    Column("owner", Text),
    Column("state", String(16), nullable=False),
    UniqueConstraint("name"),
    *_time_indexes("experiment"),
)

experiment_run = Table(
    "experiment_run",
    metadata,
    *_common(),
    Column("experiment_id", Integer, ForeignKey("experiment.id"), nullable=False),
    Column("owner", Text),
    Column("state", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("start_time", BigInteger),
    Column("end_time", BigInteger),
    UniqueConstraint("experiment_id", "name"),
    *_time_indexes("experiment_run"),
)

# Artifacts logged to experiment runs, as model_version_artifact links them to versions.
experiment_run_artifact = Table(
    "experiment_run_artifact",
    metadata,
    Column("experiment_run_id", Integer, ForeignKey("experiment_run.id"), primary_key=True),
    Column("artifact_id", Integer, ForeignKey("artifact.id"), primary_key=True),
    Column("artifact_type", String(32), nullable=False),
    Column("name", String(NAME_MAX), nullable=False),
    UniqueConstraint("experiment_run_id", "artifact_type", "name"),
    Index("ix_experiment_run_artifact_artifact_id", "artifact_id"),
)

# Every value a metric was logged with in a run, in the order logged. The metric artifact itself holds only
# the latest; these rows are written once and never change.
metric_history = Table(
    "metric_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("metric_id", Integer, ForeignKey("artifact.id"), nullable=False),
    Column("experiment_id", Integer, ForeignKey("experiment.id"), nullable=False),
    Column("experiment_run_id", Integer, ForeignKey("experiment_run.id"), nullable=False),
    Column("name", String(NAME_MAX), nullable=False),
    Column("description", Text),
    Column("custom_properties", Text, nullable=False, server_default="{}"),
    Column("artifact_type", String(32), nullable=False, server_default="metric"),
    Column("state", String(32)),
    Column("metric_value", Float),
    Column("timestamp", BigInteger),
    Column("step", BigInteger),
    Column("create_time", BigInteger, nullable=False),
    Column("last_update_time", BigInteger, nullable=False),
    Index("ix_metric_history_experiment_run_id", "experiment_run_id", "id"),
    Index("ix_metric_history_metric_id", "metric_id"),
    *_time_indexes("metric_history"),
)

custom_property = Table(
    "custom_property",
    metadata,
    Column("entity_table", String(32), primary_key=True),
    Column("entity_id", Integer, primary_key=True),
    Column("name", String(NAME_MAX), primary_key=True),
    Column("string_value", Text),
    Column("string_key", String(STRING_KEY_LENGTH)),
    Column("int_value", BigInteger),
    Column("double_value", Float),
    Column("bool_value", Boolean),
    Index("ix_custom_property_string", "entity_table", "name", "string_key", "entity_id"),
    Index("ix_custom_property_int", "entity_table", "name", "int_value", "entity_id"),
    Index("ix_custom_property_double", "entity_table", "name", "double_value", "entity_id"),
    Index("ix_custom_property_bool", "entity_table", "name", "bool_value", "entity_id"),
)

# --- principals, tokens, audit -----------------------------------------------------------------------

user = Table(
    "user_account",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(NAME_MAX), nullable=False, unique=True),
    Column("is_admin", Boolean, nullable=False, server_default=false()),
    Column("disabled", Boolean, nullable=False, server_default=false()),
    Column("create_time", BigInteger, nullable=False),
)

team = Table(
    "team",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(NAME_MAX), nullable=False, unique=True),
    Column("disabled", Boolean, nullable=False, server_default=false()),
    Column("create_time", BigInteger, nullable=False),
)

team_member = Table(
    "team_member",
    metadata,
    Column("team_id", Integer, ForeignKey("team.id"), primary_key=True),
    Column("user_id", Integer, ForeignKey("user_account.id"), primary_key=True),
    Column("role", String(16), nullable=False),  # owner | member
    Index("ix_team_member_user_id", "user_id"),
)

api_token = Table(
    "api_token",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", Integer, ForeignKey("user_account.id"), nullable=False),
    Column("name", String(NAME_MAX), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),  # sha256 hex of the whole token
    Column("display_prefix", String(16), nullable=False),
    Column("scopes", Text, nullable=False),  # space-separated
    Column("create_time", BigInteger, nullable=False),
    Column("expire_time", BigInteger),
    Column("last_used_time", BigInteger),
    Column("revoke_time", BigInteger),
    UniqueConstraint("user_id", "name"),
)

audit_event = Table(
    "audit_event",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("time", BigInteger, nullable=False),
    Column("principal", String(NAME_MAX)),  # the user's name; NULL for the CLI and --no-auth
    Column("token_id", Integer, ForeignKey("api_token.id")),
    Column("via", String(16), nullable=False),  # api | cli | no-auth
    Column("action", String(64), nullable=False),
    Column("entity_type", String(64), nullable=False),
    Column("entity_id", String(NAME_MAX)),
    Column("detail", Text),  # JSON object, or NULL
    Index("ix_audit_event_principal_id", "principal", "id"),
    Index("ix_audit_event_entity", "entity_type", "entity_id", "id"),
)

BY_NAME: dict[str, Table] = {
    t.name: t
    for t in (
        registered_model,
        model_version,
        artifact,
        serving_environment,
        inference_service,
        serve_model,
        experiment,
        experiment_run,
        metric_history,
    )
}

# --- Git models: projects, and the index of their repositories -----------------------------------------
# A repository is fetched and indexed once however many projects point at it. What a commit holds never
# changes, so `git_commit` and `git_artifact` rows are written once; tags come and go, so `git_tag` and the
# resolution built from them (`git_ref`) are brought up to date on each refresh.

PATH_MAX = 1024  # repository identities, artifact names and paths
SHA_LENGTH = 40

git_repository = Table(
    "git_repository",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("identity", String(PATH_MAX), nullable=False, unique=True),  # host/path, see gitindex.urls
    Column("host", String(255), nullable=False),
    Column("path", String(PATH_MAX), nullable=False),  # org/repo: what a short `repo=org/repo` matches
    Column("clone_url", Text, nullable=False),
    Column("state", String(16), nullable=False),  # pending | ready | error
    Column("error", Text),  # why the last fetch or index failed, for users to read
    Column("fingerprint", String(64)),  # digest of the tags at the last index
    Column("tags_ignored", Integer, nullable=False, server_default="0"),
    Column("fetch_time", BigInteger),  # the last successful fetch
    Column("index_time", BigInteger),  # the last successful index
    Column("attempt_time", BigInteger),  # the last fetch tried, successful or not
    Column("create_time", BigInteger, nullable=False),
    Index("ix_git_repository_path", "path"),
)

git_project = Table(
    "git_project",
    metadata,
    Column("id", String(10), primary_key=True),  # 10 lowercase letters and digits, as Studio's
    Column("name", String(NAME_MAX), nullable=False),
    Column("repository_id", Integer, ForeignKey("git_repository.id"), nullable=False),
    Column("subdir", String(PATH_MAX), nullable=False),  # "" for the repository root
    Column("owner_id", Integer, ForeignKey("user_account.id")),  # who created it (NULL: the CLI)
    Column("team_id", Integer, ForeignKey("team.id")),  # set: the project is in the team's namespace
    # "user:<id>" or "team:<id>": one project per repository, subdir and namespace (NULLs are never equal
    # in a unique constraint, so the namespace is spelled out).
    Column("namespace", String(32), nullable=False),
    Column("public", Boolean, nullable=False, server_default=false()),
    Column("webhook_secret", String(64), nullable=False),
    Column("create_time", BigInteger, nullable=False),
    UniqueConstraint("repository_id", "subdir", "namespace"),
    Index("ix_git_project_team_id", "team_id"),
    Index("ix_git_project_owner_id", "owner_id"),
)

git_tag = Table(
    "git_tag",
    metadata,
    Column("repository_id", Integer, ForeignKey("git_repository.id"), primary_key=True),
    Column("name", String(PATH_MAX), primary_key=True),
    Column("commit", String(SHA_LENGTH), nullable=False),
    Column("time", BigInteger, nullable=False),  # tagger date, seconds
)

git_ref = Table(
    "git_ref",
    metadata,
    Column("repository_id", Integer, ForeignKey("git_repository.id"), primary_key=True),
    Column("artifact", String(PATH_MAX), primary_key=True),  # full name: name or dir:name
    Column("kind", String(8), primary_key=True),  # version | stage | latest
    Column("key", String(255), primary_key=True),  # the version or stage; "" for latest
    Column("version", String(255), nullable=False),
    Column("commit", String(SHA_LENGTH), nullable=False),
)

git_commit = Table(
    "git_commit",
    metadata,
    Column("repository_id", Integer, ForeignKey("git_repository.id"), primary_key=True),
    Column("commit", String(SHA_LENGTH), primary_key=True),
    Column("problems", Text, nullable=False, server_default="[]"),  # JSON list of file-level problems
    Column("index_time", BigInteger, nullable=False),
)

git_artifact = Table(
    "git_artifact",
    metadata,
    Column("repository_id", Integer, ForeignKey("git_repository.id"), primary_key=True),
    Column("commit", String(SHA_LENGTH), primary_key=True),
    Column("name", String(PATH_MAX), primary_key=True),
    Column("path", Text, nullable=False),  # git-root relative
    Column("type", Text),
    Column("description", Text),
    Column("labels", Text, nullable=False, server_default="[]"),  # JSON list
    Column("meta", Text),  # JSON
    Column("md5", String(32)),  # the DVC output's hash, without .dir
    Column("is_dir", Boolean, nullable=False, server_default=false()),
    Column("size", BigInteger),
    Column("nfiles", Integer),
    Column("legacy", Boolean, nullable=False, server_default=false()),  # DVC 2.x layout
    Column("output_path", Text),  # the DVC output holding the artifact (an ancestor, for `inner`)
    Column("inner", Text),  # the artifact's path inside a tracked directory
    Column("remote_url", Text),
    Column("remote_options", Text),  # JSON object: the remote's non-secret options
    Column("problem", Text),  # why it cannot be downloaded
)

dir_manifest = Table(
    "dir_manifest",
    metadata,
    # A `.dir` object's md5 names its content, which is checked when fetched: one cache for every repo.
    Column("md5", String(32), primary_key=True),
    Column("files", Text, nullable=False),  # JSON list of [relpath, md5]
    Column("fetch_time", BigInteger, nullable=False),
)
