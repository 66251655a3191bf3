"""Check each config.pbtxt against the ONNX files it serves, without a GPU server.

The production repository (onnxruntime_onnx/TensorRT on GPUs) cannot be loaded here,
so its configs are validated statically: every input/output name, data type and
dimension, and the batch dimension, must match every version's ONNX graph. The CPU
twin is checked to mirror production (same names, tensors, batching, versions, bytes).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import onnx

from vidsearch.contract.models import ModelContract, signature_problems
from vidsearch.contract.triton_config import (
    ConfigError,
    ModelConfig,
    TensorConfig,
    read_config,
    triton_type,
)
from vidsearch.exporters.repository import CONFIG_FILE, MODEL_FILE, file_sha256, version_dirs

DYNAMIC = -1


class SignatureMismatchError(ValueError):
    """A config does not describe its ONNX file (all problems in the message)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("signature check failed:\n  " + "\n  ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class OnnxTensor:
    """A graph input or output: numpy dtype name and dims (-1 for symbolic/unknown)."""

    name: str
    dtype: str
    dims: tuple[int, ...]


def onnx_signature(path: Path) -> tuple[tuple[OnnxTensor, ...], tuple[OnnxTensor, ...]]:
    """Inputs (initializers excluded) and outputs of the ONNX graph at ``path``."""
    model = onnx.load(str(path), load_external_data=False)
    initializers = {i.name for i in model.graph.initializer}

    def tensor(value: onnx.ValueInfoProto) -> OnnxTensor:
        ttype = value.type.tensor_type
        dtype = onnx.helper.tensor_dtype_to_np_dtype(ttype.elem_type).name
        dims = tuple(d.dim_value if d.HasField("dim_value") else DYNAMIC for d in ttype.shape.dim)
        return OnnxTensor(value.name, dtype, dims)

    inputs = tuple(tensor(v) for v in model.graph.input if v.name not in initializers)
    return inputs, tuple(tensor(v) for v in model.graph.output)


def contract_problems(contract: ModelContract, onnx_path: Path) -> list[str]:
    """How the graph at ``onnx_path`` differs from the served model's contract."""
    inputs, outputs = onnx_signature(onnx_path)

    def rows(tensors: tuple[OnnxTensor, ...]) -> tuple[tuple[str, str, int], ...]:
        return tuple((t.name, t.dtype, len(t.dims)) for t in tensors)

    return signature_problems(contract, rows(inputs), rows(outputs))


def _compare(
    kind: str,
    where: str,
    configured: tuple[TensorConfig, ...],
    graph: tuple[OnnxTensor, ...],
    max_batch_size: int,
) -> list[str]:
    problems: list[str] = []
    by_name = {t.name: t for t in graph}
    configured_names = [t.name for t in configured]
    for missing in sorted(set(by_name) - set(configured_names)):
        problems.append(f"{where}: ONNX {kind} {missing!r} is not in config.pbtxt")
    for tensor in configured:
        actual = by_name.get(tensor.name)
        if actual is None:
            problems.append(
                f"{where}: config {kind} {tensor.name!r} is not in the ONNX graph "
                f"(ONNX has {sorted(by_name)})"
            )
            continue
        try:
            expected_type = triton_type(actual.dtype)
        except ConfigError as exc:
            problems.append(f"{where}: {kind} {tensor.name!r}: {exc}")
            continue
        if tensor.data_type != expected_type:
            problems.append(
                f"{where}: {kind} {tensor.name!r} data_type {tensor.data_type} but ONNX is "
                f"{actual.dtype} ({expected_type})"
            )
        dims = actual.dims
        if max_batch_size > 0:
            if not dims or dims[0] != DYNAMIC:
                problems.append(
                    f"{where}: {kind} {tensor.name!r}: max_batch_size={max_batch_size} needs a "
                    f"dynamic first (batch) axis, ONNX dims are {list(dims)}"
                )
                continue
            dims = dims[1:]
        model_dims = tensor.reshape if tensor.reshape is not None else tuple(tensor.dims)
        if tuple(model_dims) != dims:
            problems.append(
                f"{where}: {kind} {tensor.name!r} dims {list(tensor.dims)} but ONNX dims "
                f"{'(after the batch axis) ' if max_batch_size > 0 else ''}are {list(dims)}"
            )
    return problems


def check_config(config: ModelConfig, onnx_path: Path) -> list[str]:
    """Problems found comparing ``config`` with the graph at ``onnx_path`` (empty = ok)."""
    where = f"{config.name} ({onnx_path})"
    inputs, outputs = onnx_signature(onnx_path)
    return _compare("input", where, config.inputs, inputs, config.max_batch_size) + _compare(
        "output", where, config.outputs, outputs, config.max_batch_size
    )


def check_model(repository: Path, model: str) -> list[str]:
    """Check ``model``'s config against every version's model.onnx."""
    model_dir = repository / model
    config_path = model_dir / CONFIG_FILE
    if not config_path.is_file():
        return [f"{model}: {config_path} is missing"]
    try:
        config = read_config(config_path)
    except ConfigError as exc:
        return [str(exc)]
    problems: list[str] = []
    if config.name != model:
        problems.append(f"{model}: config name is {config.name!r}, folder is {model!r}")
    versions = version_dirs(model_dir)
    if not versions:
        problems.append(f"{model}: no version folder")
    for version, folder in sorted(versions.items()):
        onnx_path = folder / MODEL_FILE
        if not onnx_path.is_file():
            problems.append(f"{model} v{version}: {onnx_path} is missing")
            continue
        problems.extend(check_config(config, onnx_path))
    return problems


def check_repository(repository: Path) -> None:
    """Raise SignatureMismatchError listing every problem in the repository."""
    models = (
        sorted(p.name for p in repository.iterdir() if p.is_dir() and not p.name.startswith("."))
        if repository.is_dir()
        else []
    )
    problems = [p for model in models for p in check_model(repository, model)]
    if not models:
        problems.append(f"{repository}: no model found")
    if problems:
        raise SignatureMismatchError(problems)


def check_twin(production: Path, twin: Path, model: str) -> list[str]:
    """Problems making ``twin`` differ from ``production`` for ``model`` (empty = ok)."""
    try:
        prod = read_config(production / model / CONFIG_FILE)
        cpu = read_config(twin / model / CONFIG_FILE)
    except (ConfigError, OSError) as exc:
        return [f"{model}: {exc}"]
    problems: list[str] = []
    for attribute in ("name", "max_batch_size", "inputs", "outputs", "dynamic_batching"):
        if getattr(prod, attribute) != getattr(cpu, attribute):
            problems.append(f"{model}: twin {attribute} differs from production")
    if prod.effective_version_policy() != cpu.effective_version_policy():
        problems.append(f"{model}: twin version_policy differs from production")
    prod_versions, twin_versions = version_dirs(production / model), version_dirs(twin / model)
    if sorted(prod_versions) != sorted(twin_versions):
        problems.append(
            f"{model}: twin versions {sorted(twin_versions)} != production {sorted(prod_versions)}"
        )
    for version in sorted(set(prod_versions) & set(twin_versions)):
        a, b = prod_versions[version] / MODEL_FILE, twin_versions[version] / MODEL_FILE
        if not b.is_file() or file_sha256(a) != file_sha256(b):
            problems.append(f"{model} v{version}: twin model.onnx differs from production")
    return problems
