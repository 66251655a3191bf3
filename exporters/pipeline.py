"""Checkpoint -> verified ONNX -> production repository version (+ CPU twin).

Every model of one export run gets the same version number (the highest next version
among them), because the orchestrator pins one ``model_version`` for all its models.
Nothing is written unless every model verifies and matches its contract
(``vidsearch.contract.models``) and its generated config.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import onnx
import onnxruntime
import torch

from vidsearch.contract.triton_config import (
    Accelerator,
    DynamicBatching,
    InstanceGroup,
    ModelConfig,
    ModelWarmup,
    TensorConfig,
    VersionPolicy,
    WarmupInput,
    triton_type,
)
from vidsearch.exporters.cpu_twin import sync_cpu_twin
from vidsearch.exporters.families import LoadedFamily, ServedModel, get_family
from vidsearch.exporters.onnx_export import DEFAULT_OPSET, ExportResult, export_onnx
from vidsearch.exporters.repository import (
    MODEL_FILE,
    RepositoryError,
    file_sha256,
    next_version,
    read_provenance,
    version_dirs,
    write_model_version,
)
from vidsearch.exporters.signature_check import (
    SignatureMismatchError,
    check_config,
    contract_problems,
    onnx_signature,
)
from vidsearch.exporters.verify import VerificationError, VerificationReport, verify_onnx

EXPORTER_VERSION = "1.0"
DEFAULT_NUM_VERSIONS = 2  # current + previous, so a rollback or a pinned client still works


@dataclass(frozen=True)
class ExportedModel:
    model: str
    version: int
    path: Path
    export: ExportResult
    verification: VerificationReport


def batched_tensor(name: str, data_type: str, shape: tuple[int, ...]) -> TensorConfig:
    """The config of a tensor whose first axis is the batch; a per-row scalar ([B]) gets
    ``dims: [1]`` + an empty reshape (Triton refuses empty dims)."""
    if len(shape) == 1:
        return TensorConfig(name, data_type, (1,), reshape=())
    return TensorConfig(name, data_type, shape[1:])


def production_config(
    served: ServedModel,
    onnx_path: Path,
    *,
    tensorrt: bool = False,
    num_versions: int = DEFAULT_NUM_VERSIONS,
    instances: int = 1,
) -> ModelConfig:
    """The GPU config for ``served``, with tensors read from its ONNX graph."""
    inputs, outputs = onnx_signature(onnx_path)

    def tensors(items: tuple[Any, ...]) -> tuple[TensorConfig, ...]:
        return tuple(batched_tensor(t.name, triton_type(t.dtype), tuple(t.dims)) for t in items)

    by_name = {t.name: t for t in inputs}
    warmup: tuple[ModelWarmup, ...] = ()
    if served.warmup_dims:
        warmup = (
            ModelWarmup(
                name="zeros_batch_1",
                batch_size=1,
                inputs={
                    name: WarmupInput(triton_type(by_name[name].dtype), dims)
                    for name, dims in served.warmup_dims.items()
                },
            ),
        )
    accelerators: tuple[Accelerator, ...] = ()
    if tensorrt:
        accelerators = (
            Accelerator(
                "tensorrt",
                {"precision_mode": "FP16", "max_workspace_size_bytes": str(1 << 30)},
            ),
        )
    return ModelConfig(
        name=served.name,
        platform="onnxruntime_onnx",
        max_batch_size=served.max_batch_size,
        inputs=tensors(inputs),
        outputs=tensors(outputs),
        version_policy=VersionPolicy("latest", num_versions),
        dynamic_batching=DynamicBatching(served.preferred_batch_size, served.max_queue_delay_us),
        instance_groups=(InstanceGroup("KIND_GPU", instances),),
        gpu_accelerators=accelerators,
        model_warmup=warmup,
    )


def exporter_sources_sha256() -> str:
    """sha256 over this package's sources (names and bytes), recorded in every version's
    provenance: ``export --if-missing`` exports again what other exporter code wrote (a
    hand-bumped EXPORTER_VERSION would be forgotten). The Makefile's export rule depends
    on the same files, so make runs the check when they change."""
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def stale_models(repository: Path, checkpoints: Mapping[str, Path | None]) -> dict[str, str]:
    """Why each served model (name -> the checkpoint it is exported from) needs exporting
    again: it has no version, or its latest version came from another checkpoint or from
    other exporter code. Empty when every model is up to date."""
    code = exporter_sources_sha256()
    checkpoint_sha: dict[Path, str] = {}
    reasons: dict[str, str] = {}
    for model, checkpoint in checkpoints.items():
        versions = version_dirs(repository / model)
        if not versions:
            reasons[model] = "no version"
            continue
        try:
            record = read_provenance(repository, model, max(versions))
        except (RepositoryError, ValueError):
            reasons[model] = f"version {max(versions)} has no readable provenance"
            continue
        if record.get("exporter_sources_sha256") != code:
            reasons[model] = f"version {max(versions)} was written by other exporter code"
        elif checkpoint is not None:
            if checkpoint not in checkpoint_sha:
                checkpoint_sha[checkpoint] = file_sha256(checkpoint)
            if record.get("checkpoint_sha256") != checkpoint_sha[checkpoint]:
                reasons[model] = f"version {max(versions)} came from another {checkpoint.name}"
    return reasons


def _provenance(
    family: LoadedFamily, result: ExportResult, report: VerificationReport, sources_sha256: str
) -> dict[str, Any]:
    return {
        "family": family.family,
        "checkpoint": str(family.checkpoint) if family.checkpoint else None,
        "checkpoint_sha256": family.checkpoint_sha256,
        "checkpoint_model_version": family.checkpoint_model_version,
        "training_config": family.training_config,
        "metrics": family.metrics,
        "data_version": family.data_version,
        "exporter_version": EXPORTER_VERSION,
        "exporter_sources_sha256": sources_sha256,
        "onnx": {
            "opset": result.opset,
            "exporter": result.exporter,
            "sha256": result.sha256,
            "export_seconds": round(result.seconds, 3),
        },
        "verification": report.to_dict(),
        "libraries": {
            "torch": torch.__version__,
            "onnx": onnx.__version__,
            "onnxruntime": onnxruntime.__version__,
        },
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def export_models(
    families: list[LoadedFamily],
    repository: Path,
    *,
    cpu_twin: Path | None = None,
    version: int | None = None,
    force: bool = False,
    tensorrt: bool = False,
    dynamo: bool = False,
    opset: int = DEFAULT_OPSET,
    atol: float = 1e-4,
    num_versions: int = DEFAULT_NUM_VERSIONS,
) -> list[ExportedModel]:
    """Export, verify and write every model of ``families`` under one version number."""
    pairs = [(family, served) for family in families for served in family.models]
    if not pairs:
        raise ValueError("nothing to export")
    chosen = version or max(next_version(repository, s.name) for _, s in pairs)
    repository.mkdir(parents=True, exist_ok=True)
    staged: list[tuple[LoadedFamily, ServedModel, ExportResult, VerificationReport, ModelConfig]]
    staged = []
    # Staged next to the repository so the final hard link stays on one file system.
    with tempfile.TemporaryDirectory(prefix=".export-", dir=repository) as tmp:
        for family, served in pairs:
            result = export_onnx(
                served.module,
                [served.samples[0][n] for n in served.input_names],
                Path(tmp) / served.name / MODEL_FILE,
                input_names=served.input_names,
                output_names=served.output_names,
                dynamic_axes=served.dynamic_axes,
                opset=opset,
                dynamo=dynamo,
            )
            report = verify_onnx(served.module, result.path, served.samples, atol=atol)
            if not report.passed:
                raise VerificationError(report)
            config = production_config(
                served, result.path, tensorrt=tensorrt, num_versions=num_versions
            )
            problems = contract_problems(served.contract, result.path)
            problems += check_config(config, result.path)
            # Versions the policy keeps loaded next to the new one must fit the new config.
            present = {
                v: folder / MODEL_FILE
                for v, folder in version_dirs(repository / served.name).items()
                if (folder / MODEL_FILE).is_file() and v != chosen
            }
            for old in config.effective_version_policy().select([*present, chosen]):
                if old != chosen:
                    problems += check_config(config, present[old])
            if problems:
                raise SignatureMismatchError(problems)
            staged.append((family, served, result, report, config))
        exported = []
        sources_sha256 = exporter_sources_sha256()
        for family, served, result, report, config in staged:
            path = write_model_version(
                repository,
                served.name,
                onnx_path=result.path,
                config=config,
                provenance=_provenance(family, result, report, sources_sha256),
                version=chosen,
                force=force,
                extra_files=served.extra_files,
            )
            exported.append(ExportedModel(served.name, chosen, path, result, report))
    if cpu_twin is not None:
        sync_cpu_twin(repository, cpu_twin, [e.model for e in exported], force=force)
    return exported


def export_family(
    name: str, checkpoint: Path | None, repository: Path, *, seed: int = 0, **options: Any
) -> list[ExportedModel]:
    """Load ``checkpoint`` with family ``name`` and export its models."""
    spec = get_family(name)
    if spec.needs_checkpoint and checkpoint is None:
        raise ValueError(f"family {name!r} needs a checkpoint")
    return export_models([spec.loader(checkpoint, seed)], repository, **options)


def summary(exported: list[ExportedModel]) -> list[dict[str, Any]]:
    """JSON-friendly lines for the CLI and logs."""
    return [
        {
            "model": e.model,
            "version": e.version,
            "path": str(e.path),
            "export_seconds": round(e.export.seconds, 3),
            "opset": e.export.opset,
            "verification": e.verification.summary(),
            "outputs": [asdict(o) for o in e.verification.outputs],
        }
        for e in exported
    ]
