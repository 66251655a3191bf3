"""The CPU twin of the production repository, served by the real tritonserver here.

Same model names, tensors, versions, batching and version policy as production, but
``backend: "python"`` on ``KIND_CPU`` with a ``model.py`` that runs the very same
model.onnx (hard-linked, so the bytes are provably identical) through onnxruntime.
Production needs the onnxruntime/TensorRT backends and GPUs, which this machine lacks.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

from vidsearch.contract.repository_layout import SPEECH_LM_FILE, VOCABULARY_FILE, version_dir
from vidsearch.contract.triton_config import InstanceGroup, ModelConfig, read_config
from vidsearch.exporters.repository import (
    CONFIG_FILE,
    MODEL_FILE,
    RepositoryError,
    VersionExistsError,
    file_sha256,
    list_models,
    read_provenance,
    version_dirs,
    write_model_version,
)
from vidsearch.exporters.triton_config import write_config

TWIN_MODEL_SOURCE = Path(__file__).with_name("twin_model.py")
DEFAULT_TWIN = Path("var/model_repository_cpu")


def twin_config(production: ModelConfig, *, threads: int = 1, instances: int = 1) -> ModelConfig:
    """Production config re-targeted to the python backend on CPU (no TensorRT)."""
    parameters = dict(production.parameters)
    parameters["intra_op_num_threads"] = str(threads)
    return replace(
        production,
        platform="",
        backend="python",
        instance_groups=(InstanceGroup("KIND_CPU", instances),),
        gpu_accelerators=(),
        parameters=parameters,
    )


def _carried(folder: Path) -> dict[str, str]:
    """Files a production version holds beside its model that the served model needs."""
    files = (folder / name for name in (VOCABULARY_FILE, SPEECH_LM_FILE))
    return {path.name: path.read_text() for path in files if path.is_file()}


def sync_cpu_twin(
    production: Path,
    twin: Path,
    models: list[str] | None = None,
    *,
    force: bool = False,
    threads: int = 1,
) -> dict[str, list[int]]:
    """Mirror ``models`` (default: all) of ``production`` into ``twin``; returns versions.

    An existing twin version whose model.onnx differs from production is refused
    unless ``force``; twin versions that production no longer has are removed.
    """
    available = list_models(production)
    chosen = sorted(available) if models is None else models
    source = TWIN_MODEL_SOURCE.read_text()
    mirrored: dict[str, list[int]] = {}
    for model in chosen:
        if model not in available:
            raise RepositoryError(f"{model} is not in the production repository {production}")
        config = twin_config(read_config(production / model / CONFIG_FILE), threads=threads)
        prod_versions = version_dirs(production / model)
        twin_versions = version_dirs(twin / model)
        for version, folder in sorted(prod_versions.items()):
            onnx_path = folder / MODEL_FILE
            existing = twin_versions.get(version)
            if existing is not None and (existing / MODEL_FILE).is_file():
                same = file_sha256(existing / MODEL_FILE) == file_sha256(onnx_path)
                if same:
                    for name, text in {"model.py": source, **_carried(folder)}.items():
                        (existing / name).write_text(text)
                    continue
                if not force:
                    raise VersionExistsError(
                        f"twin {model} v{version} holds a different model.onnx than production; "
                        f"pass force=True to replace it"
                    )
            provenance = read_provenance(production, model, version)
            provenance["cpu_twin_of"] = str(version_dir(production, model, version))
            write_model_version(
                twin,
                model,
                onnx_path=onnx_path,
                config=config,
                provenance=provenance,
                version=version,
                force=True,
                extra_files={"model.py": source, **_carried(folder)},
            )
        for version, folder in twin_versions.items():
            if version not in prod_versions:
                shutil.rmtree(folder)
        (twin / model).mkdir(parents=True, exist_ok=True)
        write_config(twin / model / CONFIG_FILE, config)
        mirrored[model] = sorted(prod_versions)
    return mirrored
