"""Typed view of the parts of Triton's ``config.pbtxt`` that vidsearch uses.

Generation is hand-written so the files stay readable and stable (golden-file tested);
parsing goes through ``google.protobuf.text_format`` with Triton's own ``ModelConfig``
descriptor (shipped in tritonclient), so a typo in a field name is an error here and
not only when the server loads the model.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from google.protobuf import text_format

from vidsearch.exporters.pbtxt import Enum as _Enum
from vidsearch.exporters.pbtxt import Message as _Message
from vidsearch.exporters.pbtxt import Repeated as _Repeated
from vidsearch.exporters.pbtxt import emit as _emit

# numpy dtype name <-> Triton config data type <-> Triton wire datatype.
_DTYPES: tuple[tuple[str, str], ...] = (
    ("bool", "TYPE_BOOL"),
    ("uint8", "TYPE_UINT8"),
    ("uint16", "TYPE_UINT16"),
    ("uint32", "TYPE_UINT32"),
    ("uint64", "TYPE_UINT64"),
    ("int8", "TYPE_INT8"),
    ("int16", "TYPE_INT16"),
    ("int32", "TYPE_INT32"),
    ("int64", "TYPE_INT64"),
    ("float16", "TYPE_FP16"),
    ("float32", "TYPE_FP32"),
    ("float64", "TYPE_FP64"),
    ("object", "TYPE_STRING"),
)
NUMPY_TO_TRITON: dict[str, str] = dict(_DTYPES)
TRITON_TO_NUMPY: dict[str, str] = {t: n for n, t in _DTYPES}


class ConfigError(ValueError):
    """A config.pbtxt could not be parsed or describes something unsupported."""


def triton_type(numpy_dtype: str) -> str:
    """``float32`` -> ``TYPE_FP32``."""
    try:
        return NUMPY_TO_TRITON[numpy_dtype]
    except KeyError:
        raise ConfigError(f"no Triton data type for numpy dtype {numpy_dtype!r}") from None


def wire_type(config_type: str) -> str:
    """``TYPE_FP32`` -> ``FP32`` (the datatype string of requests and metadata)."""
    return "BYTES" if config_type == "TYPE_STRING" else config_type.removeprefix("TYPE_")


@dataclass(frozen=True)
class TensorConfig:
    """One model input or output; ``dims`` exclude the batch dimension when batching.

    ``reshape``: the shape the model itself has, when it differs from ``dims``; a batched
    model with a per-row scalar ([B]) is written ``dims: [1]``, ``reshape { shape: [] }``,
    since Triton refuses empty dims."""

    name: str
    data_type: str
    dims: tuple[int, ...]
    reshape: tuple[int, ...] | None = None


@dataclass(frozen=True)
class DynamicBatching:
    preferred_batch_size: tuple[int, ...] = ()
    max_queue_delay_microseconds: int = 0


@dataclass(frozen=True)
class InstanceGroup:
    kind: Literal["KIND_GPU", "KIND_CPU"] = "KIND_GPU"
    count: int = 1
    gpus: tuple[int, ...] = ()


@dataclass(frozen=True)
class VersionPolicy:
    """``latest {num_versions}``, ``all {}`` or ``specific {versions}``."""

    kind: Literal["latest", "all", "specific"] = "latest"
    num_versions: int = 1
    versions: tuple[int, ...] = ()

    def select(self, available: Iterable[int]) -> list[int]:
        """The versions Triton would load from ``available`` (ascending)."""
        ordered = sorted(set(available))
        if self.kind == "all":
            return ordered
        if self.kind == "specific":
            return [v for v in ordered if v in self.versions]
        return ordered[-self.num_versions :] if self.num_versions > 0 else []


@dataclass(frozen=True)
class WarmupInput:
    data_type: str
    dims: tuple[int, ...]
    zero_data: bool = True


@dataclass(frozen=True)
class ModelWarmup:
    name: str
    batch_size: int
    inputs: dict[str, WarmupInput] = field(default_factory=dict)
    count: int = 0


@dataclass(frozen=True)
class Accelerator:
    """An execution accelerator, e.g. ``tensorrt`` with ``precision_mode: FP16``."""

    name: str
    parameters: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelConfig:
    """The subset of Triton's ModelConfig that vidsearch writes and reads."""

    name: str
    platform: str = ""
    backend: str = ""
    max_batch_size: int = 0
    inputs: tuple[TensorConfig, ...] = ()
    outputs: tuple[TensorConfig, ...] = ()
    version_policy: VersionPolicy | None = None
    dynamic_batching: DynamicBatching | None = None
    instance_groups: tuple[InstanceGroup, ...] = ()
    gpu_accelerators: tuple[Accelerator, ...] = ()
    model_warmup: tuple[ModelWarmup, ...] = ()
    parameters: dict[str, str] = field(default_factory=dict)

    def effective_version_policy(self) -> VersionPolicy:
        """Triton's default when the file names none: the latest version only."""
        return self.version_policy or VersionPolicy()


# ---- generation -------------------------------------------------------------------


def _msg(*items: tuple[str, object] | None) -> _Message:
    return _Message(item for item in items if item is not None)


def _tensor(tensor: TensorConfig) -> _Message:
    reshape = None if tensor.reshape is None else ("reshape", _msg(("shape", tensor.reshape)))
    return _msg(
        ("name", tensor.name), ("data_type", _Enum(tensor.data_type)), ("dims", tensor.dims),
        reshape,
    )


def _policy(policy: VersionPolicy) -> _Message:
    if policy.kind == "latest":
        return _msg(("latest", _msg(("num_versions", policy.num_versions))))
    if policy.kind == "specific":
        return _msg(("specific", _msg(("versions", policy.versions))))
    return _msg(("all", _Message()))


def _warmup(warmup: ModelWarmup) -> _Message:
    message = _msg(
        ("name", warmup.name),
        ("batch_size", warmup.batch_size),
        ("count", warmup.count) if warmup.count else None,
    )
    for key, spec in sorted(warmup.inputs.items()):
        value = _msg(
            ("data_type", _Enum(spec.data_type)),
            ("dims", spec.dims),
            ("zero_data" if spec.zero_data else "random_data", True),
        )
        message.append(("inputs", _msg(("key", key), ("value", value))))
    return message


def to_pbtxt(config: ModelConfig) -> str:
    """Render ``config`` as Triton ``config.pbtxt`` text (stable, diff-friendly)."""
    top = _msg(
        ("name", config.name),
        ("platform", config.platform) if config.platform else None,
        ("backend", config.backend) if config.backend else None,
        ("max_batch_size", config.max_batch_size),
    )
    if config.version_policy is not None:
        top.append(("version_policy", _policy(config.version_policy)))
    if config.inputs:
        top.append(("input", _Repeated(_tensor(t) for t in config.inputs)))
    if config.outputs:
        top.append(("output", _Repeated(_tensor(t) for t in config.outputs)))
    if config.dynamic_batching is not None:
        batching = config.dynamic_batching
        preferred = batching.preferred_batch_size
        top.append(
            (
                "dynamic_batching",
                _msg(
                    ("preferred_batch_size", preferred) if preferred else None,
                    ("max_queue_delay_microseconds", batching.max_queue_delay_microseconds),
                ),
            )
        )
    if config.instance_groups:
        groups = _Repeated(
            _msg(
                ("count", group.count),
                ("kind", _Enum(group.kind)),
                ("gpus", group.gpus) if group.gpus else None,
            )
            for group in config.instance_groups
        )
        top.append(("instance_group", groups))
    if config.gpu_accelerators:
        accelerators = _Repeated()
        for acc in config.gpu_accelerators:
            accelerator = _msg(("name", acc.name))
            for key, value in sorted(acc.parameters.items()):
                accelerator.append(("parameters", _msg(("key", key), ("value", value))))
            accelerators.append(accelerator)
        execution = _msg(("gpu_execution_accelerator", accelerators))
        top.append(("optimization", _msg(("execution_accelerators", execution))))
    if config.model_warmup:
        top.append(("model_warmup", _Repeated(_warmup(w) for w in config.model_warmup)))
    for key, value in sorted(config.parameters.items()):
        entry = _msg(("key", key), ("value", _msg(("string_value", value))))
        top.append(("parameters", entry))
    return "\n".join(_emit(top, 0)) + "\n"


# ---- parsing ------------------------------------------------------------------------


def _proto_module():  # type: ignore[no-untyped-def]
    # Imported lazily: tritonclient.grpc pulls grpc, which only parsing needs.
    from tritonclient.grpc import model_config_pb2

    return model_config_pb2


def parse_pbtxt(text: str, *, source: str = "<text>") -> ModelConfig:
    """Parse config.pbtxt text; unknown fields or bad syntax raise ConfigError."""
    pb = _proto_module()
    message = pb.ModelConfig()
    try:
        text_format.Parse(text, message)
    except text_format.ParseError as exc:
        raise ConfigError(f"{source}: not a valid Triton model config: {exc}") from exc
    enum_name = pb.DataType.Name
    kind_name = pb.ModelInstanceGroup.Kind.Name

    def tensors(items: Iterable[object]) -> tuple[TensorConfig, ...]:
        return tuple(
            TensorConfig(
                t.name,  # type: ignore[attr-defined]
                enum_name(t.data_type),  # type: ignore[attr-defined]
                tuple(t.dims),  # type: ignore[attr-defined]
                tuple(t.reshape.shape) if t.HasField("reshape") else None,  # type: ignore[attr-defined]
            )
            for t in items
        )

    policy = None
    if message.HasField("version_policy"):
        choice = message.version_policy.WhichOneof("policy_choice")
        if choice == "latest":
            policy = VersionPolicy("latest", message.version_policy.latest.num_versions)
        elif choice == "specific":
            policy = VersionPolicy(
                "specific", versions=tuple(message.version_policy.specific.versions)
            )
        else:
            policy = VersionPolicy("all")
    batching = None
    if message.HasField("dynamic_batching"):
        db = message.dynamic_batching
        batching = DynamicBatching(tuple(db.preferred_batch_size), db.max_queue_delay_microseconds)
    warmups = []
    for w in message.model_warmup:
        inputs = {}
        for key, spec in w.inputs.items():
            choice = spec.WhichOneof("input_data_type")
            if choice not in ("zero_data", "random_data"):
                raise ConfigError(f"{source}: warmup input {key!r} uses unsupported {choice}")
            inputs[key] = WarmupInput(
                enum_name(spec.data_type), tuple(spec.dims), zero_data=choice == "zero_data"
            )
        warmups.append(ModelWarmup(w.name, w.batch_size, inputs, w.count))
    accelerators = tuple(
        Accelerator(acc.name, dict(acc.parameters))
        for acc in message.optimization.execution_accelerators.gpu_execution_accelerator
    )
    return ModelConfig(
        name=message.name,
        platform=message.platform,
        backend=message.backend,
        max_batch_size=message.max_batch_size,
        inputs=tensors(message.input),
        outputs=tensors(message.output),
        version_policy=policy,
        dynamic_batching=batching,
        instance_groups=tuple(
            InstanceGroup(kind_name(g.kind), g.count, tuple(g.gpus)) for g in message.instance_group
        ),
        gpu_accelerators=accelerators,
        model_warmup=tuple(warmups),
        parameters={k: v.string_value for k, v in message.parameters.items()},
    )


def read_config(path: Path) -> ModelConfig:
    """Parse the config.pbtxt at ``path``."""
    return parse_pbtxt(path.read_text(), source=str(path))


def write_config(path: Path, config: ModelConfig) -> None:
    """Write atomically so a server never reads a half-written config."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(to_pbtxt(config))
    tmp.replace(path)
