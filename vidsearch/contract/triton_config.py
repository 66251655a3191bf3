"""Typed view of the parts of Triton's ``config.pbtxt`` that vidsearch writes and reads.

Both directions go through Triton's own ``ModelConfig`` protobuf (shipped in
tritonclient) and ``google.protobuf.text_format``: a typo in a field name is an error
here and not only when the server loads the model, and the files are exactly what
Triton's tools print. The exporters write these configs; the embedded backend reads
them to serve the same versions Triton would, so this module sits below both.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from google.protobuf import text_format
from tritonclient.utils import np_to_triton_dtype


class ConfigError(ValueError):
    """A config.pbtxt could not be parsed or describes something unsupported."""


def triton_type(numpy_dtype: str) -> str:
    """``float32`` -> ``TYPE_FP32`` (the data type of config.pbtxt)."""
    try:
        wire = np_to_triton_dtype(np.dtype(numpy_dtype))
    except TypeError:
        wire = None
    if wire is None:
        raise ConfigError(f"no Triton data type for numpy dtype {numpy_dtype!r}")
    return "TYPE_STRING" if wire == "BYTES" else f"TYPE_{wire}"


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


def _proto_module() -> Any:
    # Imported lazily: tritonclient.grpc pulls in grpc, which importers of the dataclasses
    # alone (the exporter registry, the CLI) do not need.
    from tritonclient.grpc import model_config_pb2

    return model_config_pb2


# ---- dataclasses -> protobuf --------------------------------------------------------


def _fill_tensor(message: Any, tensor: TensorConfig) -> None:
    message.name, message.dims[:] = tensor.name, tensor.dims
    message.data_type = _proto_module().DataType.Value(tensor.data_type)
    if tensor.reshape is not None:
        message.reshape.SetInParent()
        message.reshape.shape[:] = tensor.reshape


def to_proto(config: ModelConfig) -> Any:
    """``config`` as Triton's ``inference.ModelConfig`` message."""
    pb = _proto_module()
    message = pb.ModelConfig(
        name=config.name,
        platform=config.platform,
        backend=config.backend,
        max_batch_size=config.max_batch_size,
    )
    if (policy := config.version_policy) is not None:
        choice = getattr(message.version_policy, policy.kind)
        choice.SetInParent()
        if policy.kind == "latest":
            choice.num_versions = policy.num_versions
        elif policy.kind == "specific":
            choice.versions[:] = policy.versions
    for tensor in config.inputs:
        _fill_tensor(message.input.add(), tensor)
    for tensor in config.outputs:
        _fill_tensor(message.output.add(), tensor)
    if (batching := config.dynamic_batching) is not None:
        message.dynamic_batching.SetInParent()
        message.dynamic_batching.preferred_batch_size[:] = batching.preferred_batch_size
        message.dynamic_batching.max_queue_delay_microseconds = (
            batching.max_queue_delay_microseconds
        )
    for group in config.instance_groups:
        message.instance_group.add(
            count=group.count, kind=pb.ModelInstanceGroup.Kind.Value(group.kind), gpus=group.gpus
        )
    accelerators = message.optimization.execution_accelerators.gpu_execution_accelerator
    for accelerator in config.gpu_accelerators:
        accelerators.add(name=accelerator.name, parameters=accelerator.parameters)
    for warmup in config.model_warmup:
        sample = message.model_warmup.add(
            name=warmup.name, batch_size=warmup.batch_size, count=warmup.count
        )
        for key, spec in warmup.inputs.items():
            data = sample.inputs[key]
            data.data_type, data.dims[:] = pb.DataType.Value(spec.data_type), spec.dims
            setattr(data, "zero_data" if spec.zero_data else "random_data", True)
    for key, value in config.parameters.items():
        message.parameters[key].string_value = value
    return message


def to_pbtxt(config: ModelConfig) -> str:
    """Render ``config`` as ``config.pbtxt`` text (protobuf text format, maps sorted)."""
    return str(text_format.MessageToString(to_proto(config)))


# ---- protobuf -> dataclasses --------------------------------------------------------


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

    def tensors(items: Iterable[Any]) -> tuple[TensorConfig, ...]:
        return tuple(
            TensorConfig(
                t.name,
                enum_name(t.data_type),
                tuple(t.dims),
                tuple(t.reshape.shape) if t.HasField("reshape") else None,
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
