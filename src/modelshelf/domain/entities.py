"""What each registry entity is made of: one table-driven description used by every layer.

An `Entity` lists its fields once, with the wire name a client sends, the column that stores it, the
kind of value, and whether a create or an update may set it. The API validates and renders with it,
the store compiles filters with it, and the services apply defaults with it, so a field added here
shows up everywhere at once.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Kind(enum.Enum):
    STR = "string"
    URI = "uri"  # a string the spec marks `format: uri`: an absolute RFC 3986 URI
    ID = "id"  # a decimal string on the wire, an int32 in the database
    EPOCH = "epoch"  # epoch milliseconds, a decimal string on the wire
    ENUM = "enum"
    STR_LIST = "string list"
    DOUBLE = "number"
    INT64 = "int64"  # Metric.step: an integer in v1alpha3, a decimal string in v1
    PROPS = "custom properties"


@dataclass(frozen=True)
class Field:
    api: str
    column: str
    kind: Kind = Kind.STR
    values: tuple[str, ...] = ()  # allowed values of an ENUM
    create: bool = True
    update: bool = True
    required: bool = False  # required on create (missing -> 422)
    render: bool = True  # False for columns the wire schema does not have


@dataclass(frozen=True)
class Entity:
    name: str  # human name used in messages: "registered model"
    table: str
    fields: tuple[Field, ...]
    artifact_type: str | None = None  # discriminator value, artifacts only
    parent: str | None = None  # column holding the id that scopes `name`
    name_required: bool = True
    defaults: dict[str, object] = field(default_factory=dict)  # column -> value applied on create
    by_api: dict[str, Field] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_api", {f.api: f for f in self.fields})

    @property
    def create_fields(self) -> frozenset[str]:
        return frozenset(f.api for f in self.fields if f.create)

    @property
    def update_fields(self) -> frozenset[str]:
        return frozenset(f.api for f in self.fields if f.update)


# Names and external ids are stored in indexed columns of this many characters.
NAME_MAX = 255
# Ids are int32 on the wire (upstream parses them with ParseInt(id, 10, 32)).
INT32_MAX = 2**31 - 1

REGISTERED_MODEL_STATES = ("LIVE", "ARCHIVED")
ARTIFACT_STATES = ("UNKNOWN", "PENDING", "LIVE", "MARKED_FOR_DELETION", "DELETED", "ABANDONED", "REFERENCE")
EXECUTION_STATES = ("UNKNOWN", "NEW", "RUNNING", "COMPLETE", "FAILED", "CACHED", "CANCELED")
INFERENCE_SERVICE_STATES = ("DEPLOYED", "UNDEPLOYED")
EXPERIMENT_STATES = ("LIVE", "ARCHIVED")
EXPERIMENT_RUN_STATUSES = ("RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED")
PARAMETER_TYPES = ("string", "number", "boolean", "object")

# Output-only fields every entity has.
_SERVER = (
    Field("id", "id", Kind.ID, create=False, update=False),
    Field("createTimeSinceEpoch", "create_time", Kind.EPOCH, create=False, update=False),
    Field("lastUpdateTimeSinceEpoch", "last_update_time", Kind.EPOCH, create=False, update=False),
)


def _base(name_required: bool) -> tuple[Field, ...]:
    return (
        *_SERVER,
        Field("name", "name", create=True, update=False, required=name_required),
        Field("description", "description"),
        Field("externalId", "external_id"),
        Field("customProperties", "custom_properties", Kind.PROPS),
    )


REGISTERED_MODEL = Entity(
    "registered model",
    "registered_model",
    (
        *_base(True),
        Field("owner", "owner"),
        Field("state", "state", Kind.ENUM, REGISTERED_MODEL_STATES),
        Field("readme", "readme"),
        Field("maturity", "maturity"),
        Field("language", "language", Kind.STR_LIST),
        Field("tasks", "tasks", Kind.STR_LIST),
        Field("provider", "provider"),
        Field("logo", "logo", Kind.URI),
        Field("license", "license"),
        Field("licenseLink", "license_link", Kind.URI),
        Field("libraryName", "library_name"),
    ),
    defaults={"state": "LIVE"},
)

MODEL_VERSION = Entity(
    "model version",
    "model_version",
    (
        *_base(True),
        Field("registeredModelId", "registered_model_id", Kind.ID, update=False, required=True),
        Field("author", "author"),
        Field("state", "state", Kind.ENUM, REGISTERED_MODEL_STATES),
    ),
    parent="registered_model_id",
    defaults={"state": "LIVE"},
)

SERVING_ENVIRONMENT = Entity("serving environment", "serving_environment", _base(True))

INFERENCE_SERVICE = Entity(
    "inference service",
    "inference_service",
    (
        *_base(False),
        Field("servingEnvironmentId", "serving_environment_id", Kind.ID, update=False, required=True),
        Field("registeredModelId", "registered_model_id", Kind.ID, update=False, required=True),
        Field("modelVersionId", "model_version_id", Kind.ID),
        Field("runtime", "runtime"),
        Field("desiredState", "desired_state", Kind.ENUM, INFERENCE_SERVICE_STATES),
    ),
    parent="serving_environment_id",
    name_required=False,
    defaults={"desired_state": "DEPLOYED"},
)

SERVE_MODEL = Entity(
    "serve model",
    "serve_model",
    (
        *_base(False),
        Field(
            "inferenceServiceId", "inference_service_id", Kind.ID, create=False, update=False, render=False
        ),
        Field("modelVersionId", "model_version_id", Kind.ID, update=False, required=True),
        Field("lastKnownState", "last_known_state", Kind.ENUM, EXECUTION_STATES),
    ),
    parent="inference_service_id",
    name_required=False,
)


# The run (and its experiment) that logged an artifact: v1alpha3 renders them, v1 has no such fields.
EXPERIMENT_FIELDS = (
    Field("experimentId", "experiment_id", Kind.ID, create=False, update=False),
    Field("experimentRunId", "experiment_run_id", Kind.ID, create=False, update=False),
)


def _artifact(name: str, artifact_type: str, *extra: Field) -> Entity:
    return Entity(
        name,
        "artifact",
        (
            *_base(False),
            *EXPERIMENT_FIELDS,
            Field("artifactType", "artifact_type", Kind.ENUM, (artifact_type,)),
            Field("uri", "uri"),
            Field("state", "state", Kind.ENUM, ARTIFACT_STATES),
            *extra,
        ),
        artifact_type=artifact_type,
        name_required=False,
        defaults={"state": "UNKNOWN"},
    )


MODEL_ARTIFACT = _artifact(
    "model artifact",
    "model-artifact",
    Field("modelFormatName", "model_format_name"),
    Field("modelFormatVersion", "model_format_version"),
    Field("storageKey", "storage_key"),
    Field("storagePath", "storage_path"),
    Field("serviceAccountName", "service_account_name"),
    Field("modelSourceKind", "model_source_kind"),
    Field("modelSourceClass", "model_source_class"),
    Field("modelSourceGroup", "model_source_group"),
    Field("modelSourceId", "model_source_id"),
    Field("modelSourceName", "model_source_name"),
)
DOC_ARTIFACT = _artifact("doc artifact", "doc-artifact")
DATASET = _artifact(
    "dataset",
    "dataset-artifact",
    Field("digest", "digest"),
    Field("sourceType", "source_type"),
    Field("source", "source"),
    Field("schema", "dataset_schema"),
    Field("profile", "profile"),
)
METRIC = _artifact(
    "metric",
    "metric",
    Field("value", "metric_value", Kind.DOUBLE),
    Field("timestamp", "timestamp", Kind.EPOCH),
    Field("step", "step", Kind.INT64),
)
PARAMETER = _artifact(
    "parameter",
    "parameter",
    Field("value", "parameter_value"),
    Field("parameterType", "parameter_type", Kind.ENUM, PARAMETER_TYPES),
)

ARTIFACTS: dict[str, Entity] = {
    e.artifact_type: e for e in (MODEL_ARTIFACT, DOC_ARTIFACT, DATASET, METRIC, PARAMETER) if e.artifact_type
}

EXPERIMENT = Entity(
    "experiment",
    "experiment",
    (
        *_base(True),
        Field("owner", "owner"),
        Field("state", "state", Kind.ENUM, EXPERIMENT_STATES),
    ),
    defaults={"state": "LIVE"},
)

EXPERIMENT_RUN = Entity(
    "experiment run",
    "experiment_run",
    (
        *_base(False),
        Field("experimentId", "experiment_id", Kind.ID, update=False, required=True),
        Field("owner", "owner"),
        Field("state", "state", Kind.ENUM, EXPERIMENT_STATES),
        Field("status", "status", Kind.ENUM, EXPERIMENT_RUN_STATUSES),
        Field("startTimeSinceEpoch", "start_time", Kind.EPOCH, update=False),
        Field("endTimeSinceEpoch", "end_time", Kind.EPOCH),
    ),
    parent="experiment_id",
    name_required=False,
    defaults={"state": "LIVE", "status": "RUNNING"},
)

# One value a metric had in a run: written (never changed) each time the metric is logged to the run, and
# served as a `Metric` by the metric-history lists. Its fields are those of a metric the history keeps.
METRIC_HISTORY = Entity(
    "metric history",
    "metric_history",
    (
        *_SERVER,
        Field("name", "name", create=False, update=False),
        Field("description", "description", create=False, update=False),
        Field("customProperties", "custom_properties", Kind.PROPS, create=False, update=False),
        *EXPERIMENT_FIELDS,
        Field("artifactType", "artifact_type", Kind.ENUM, ("metric",), create=False, update=False),
        Field("state", "state", Kind.ENUM, ARTIFACT_STATES, create=False, update=False),
        Field("value", "metric_value", Kind.DOUBLE, create=False, update=False),
        Field("timestamp", "timestamp", Kind.EPOCH, create=False, update=False),
        Field("step", "step", Kind.INT64, create=False, update=False),
    ),
    name_required=False,
)

ALL: tuple[Entity, ...] = (
    REGISTERED_MODEL,
    MODEL_VERSION,
    SERVING_ENVIRONMENT,
    INFERENCE_SERVICE,
    SERVE_MODEL,
    EXPERIMENT,
    EXPERIMENT_RUN,
    METRIC_HISTORY,
    *ARTIFACTS.values(),
)

# Any artifact, whatever its type: the generic `/artifacts` endpoints. Its fields are those of a model
# artifact because that is the property set filters use when no `artifactType` is given (as upstream).
ANY_ARTIFACT = Entity("artifact", "artifact", MODEL_ARTIFACT.fields, name_required=False)
