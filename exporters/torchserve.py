"""Model families -> TorchServe ``.mar`` archives (TorchScript + the vidsearch handler).

Triton is the recommended server; these archives exist for sites that run TorchServe.
Each served model (``frame_encoder``, ``hash_texture_heads``, ``video_embedder``) becomes
``<model_store>/<model>.v<version>.mar`` holding the module traced with ``torch.jit.trace``
(the format TorchServe loads natively), ``signature.json`` (tensor contract),
``model-config.yaml`` (workers, batching) and ``provenance.json``. Tracing is checked
against the eager module on every sample; with ``repository`` it is also checked
against that version's ``model.onnx`` through ONNX Runtime (1e-4, ``hash_bits``
bit-identical), so an archive version always means the same weights as the Triton one.

    vidsearch archive --family toy --model-store var/torchserve [--repository model_repository]
    vidsearch archive starter --checkpoints models/starter --model-store var/torchserve ...
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import shutil
import sys
import tempfile
import threading
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vidsearch.cli_args import existing_dir, existing_file
from vidsearch.contract.repository_layout import MODEL_FILE, version_dir

if TYPE_CHECKING:
    from vidsearch.exporters.families import ServedModel

ARCHIVE_SUFFIX = ".mar"
HANDLER_SOURCE = Path(__file__).with_name("torchserve_handler.py")
HANDLER_NAME = "vidsearch_handler.py"  # module name inside the archive
_ARCHIVE = re.compile(r"^(?P<model>[A-Za-z0-9][A-Za-z0-9_\-]*)\.v(?P<version>[1-9][0-9]*)\.mar$")
_TEMPDIR_LOCK = threading.Lock()


class ArchiveError(RuntimeError):
    """The archive could not be built, or would replace an existing one."""


@dataclass(frozen=True)
class ArchivedModel:
    model: str
    version: int
    path: Path
    trace_max_abs_diff: float
    onnx_check: str | None  # VerificationReport.summary() against the repository's ONNX
    seconds: float


def archive_name(model: str, version: int) -> str:
    return f"{model}.v{version}{ARCHIVE_SUFFIX}"


def list_archives(model_store: Path) -> dict[str, list[int]]:
    """``{model: [versions ascending]}`` of the archives in ``model_store``."""
    found: dict[str, list[int]] = {}
    if model_store.is_dir():
        for path in sorted(model_store.iterdir()):
            match = _ARCHIVE.match(path.name)
            if match and path.is_file():
                found.setdefault(match["model"], []).append(int(match["version"]))
    return {model: sorted(versions) for model, versions in found.items()}


def _signature(served: ServedModel, outputs: list[Any], version: int) -> dict[str, Any]:
    def spec(name: str, array: Any, dynamic: dict[int, str]) -> dict[str, Any]:
        shape = [-1 if axis in dynamic else int(size) for axis, size in enumerate(array.shape)]
        return {"name": name, "dtype": str(array.dtype), "shape": shape[1:]}

    sample = served.samples[0]
    return {
        "model": served.name,
        "version": version,
        "max_batch_size": served.max_batch_size,
        "inputs": [spec(n, sample[n], served.dynamic_axes.get(n, {})) for n in served.input_names],
        "outputs": [
            spec(n, o, served.dynamic_axes.get(n, {}))
            for n, o in zip(served.output_names, outputs, strict=True)
        ],
    }


def _run(module: Any, sample: dict[str, Any], names: tuple[str, ...]) -> list[Any]:
    import torch

    with torch.no_grad():
        result = module(*(torch.from_numpy(sample[n]) for n in names))
    values = (result,) if isinstance(result, torch.Tensor) else tuple(result)
    return [v.detach().numpy() for v in values]


def trace_model(served: ServedModel, *, atol: float = 1e-5) -> tuple[Any, float]:
    """TorchScript trace of ``served.module`` on samples[0], checked on every sample."""
    import numpy as np
    import torch

    from vidsearch.exporters.verify import EXACT_OUTPUTS

    module = served.module.eval()
    example = tuple(torch.from_numpy(served.samples[0][n]) for n in served.input_names)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch 2.13 marks torch.jit deprecated
        traced = torch.jit.trace(module, example, check_trace=False)
    worst = 0.0
    for sample in served.samples:
        want = _run(module, sample, served.input_names)
        got = _run(traced, sample, served.input_names)
        for name, a, b in zip(served.output_names, got, want, strict=True):
            if a.shape != b.shape or (name in EXACT_OUTPUTS and not np.array_equal(a, b)):
                raise ArchiveError(f"{served.name}: traced {name} differs from the module")
            worst = max(worst, float(np.abs(a.astype(np.float64) - b).max(initial=0.0)))
    if worst > atol:
        raise ArchiveError(f"{served.name}: traced module differs by {worst:.3g} > {atol:g}")
    return traced, worst


def _model_config(served: ServedModel, workers: int, batch_size: int) -> dict[str, Any]:
    return {
        "minWorkers": workers,
        "maxWorkers": workers,
        "batchSize": batch_size,
        "maxBatchDelay": max(1, served.max_queue_delay_us // 1000),
        "responseTimeout": 120,
        "startupTimeout": 120,
        "handler": {"intra_op_threads": 1},
    }


def _package(name: str, version: int, folder: Path, out_dir: Path) -> Path:
    """torch-model-archiver's Python API; its scratch folder is ``tempdir/<name>``, so
    that is pointed at a private folder (parallel archiving would clash otherwise)."""
    from model_archiver.model_archiver_config import ModelArchiverConfig
    from model_archiver.model_packaging import package_model
    from model_archiver.model_packaging_utils import ModelExportUtils

    config = ModelArchiverConfig(
        model_name=name,
        handler=str(folder / HANDLER_NAME),
        version=str(version),
        serialized_file=str(folder / "model.pt"),
        extra_files=",".join(str(folder / f) for f in ("signature.json", "provenance.json")),
        export_path=str(out_dir),
        config_file=str(folder / "model-config.yaml"),
    )
    with _TEMPDIR_LOCK:
        saved = tempfile.tempdir
        tempfile.tempdir = str(folder / "scratch")
        try:
            (folder / "scratch").mkdir()
            package_model(config, ModelExportUtils.generate_manifest_json(config))
        finally:
            tempfile.tempdir = saved
    return out_dir / f"{name}{ARCHIVE_SUFFIX}"


def archive_model(
    served: ServedModel,
    model_store: Path,
    version: int,
    *,
    repository: Path | None = None,
    provenance: dict[str, Any] | None = None,
    workers: int = 1,
    batch_size: int = 8,
    force: bool = False,
) -> ArchivedModel:
    """Trace, check and pack one served model as ``<model>.v<version>.mar``."""
    import torch
    import yaml

    from vidsearch.exporters.verify import verify_onnx

    target = model_store / archive_name(served.name, version)
    if target.exists() and not force:
        raise ArchiveError(f"{target} exists; archive versions are never replaced (use --force)")
    started = time.perf_counter()
    traced, worst = trace_model(served)
    onnx_check = None
    if repository is not None:
        onnx_path = version_dir(repository, served.name, version) / MODEL_FILE
        if not onnx_path.is_file():
            raise ArchiveError(f"{onnx_path} does not exist: export version {version} first")
        report = verify_onnx(traced, onnx_path, served.samples)
        if not report.passed:
            raise ArchiveError(
                f"{served.name} v{version}: the traced module does not reproduce {onnx_path}: "
                + "; ".join(report.failures)
            )
        onnx_check = report.summary()
    outputs = _run(served.module, served.samples[0], served.input_names)
    record = {
        **(provenance or {}),
        "model": served.name,
        "version": version,
        "format": "torchscript",
        "trace_max_abs_diff": worst,
        "onnx_check": onnx_check,
        "torch": torch.__version__,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    model_store.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".archive-", dir=model_store) as tmp:
        folder = Path(tmp)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.jit.save(traced, str(folder / "model.pt"))
        shutil.copy2(HANDLER_SOURCE, folder / HANDLER_NAME)
        signature = _signature(served, outputs, version)
        (folder / "signature.json").write_text(json.dumps(signature, indent=2) + "\n")
        (folder / "provenance.json").write_text(json.dumps(record, indent=2, default=str) + "\n")
        config = _model_config(served, workers, batch_size)
        (folder / "model-config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        (folder / "out").mkdir()
        built = _package(served.name, version, folder, folder / "out")
        built.replace(target)  # same file system: the store never holds half an archive
    return ArchivedModel(
        served.name, version, target, worst, onnx_check, time.perf_counter() - started
    )


def _choose_version(
    names: list[str], model_store: Path, repository: Path | None, version: int | None
) -> int:
    """Explicit, else the repository's latest (same weights), else the store's next free."""
    if version is not None:
        return version
    if repository is not None:
        from vidsearch.exporters.repository import version_dirs

        latest = {n: max(version_dirs(repository / n), default=0) for n in names}
        if not all(latest.values()):
            raise ArchiveError(f"{repository} lacks some of {names}: export them first")
        return max(latest.values())
    existing = list_archives(model_store)
    return max((max(existing.get(n, [0])) for n in names), default=0) + 1


def archive_family(
    name: str,
    checkpoint: Path | None,
    model_store: Path,
    *,
    version: int | None = None,
    repository: Path | None = None,
    seed: int = 0,
    force: bool = False,
) -> list[ArchivedModel]:
    """Archive every model of family ``name`` (loaded from ``checkpoint``) at one version."""
    from vidsearch.exporters.families import get_family

    spec = get_family(name)
    if spec.needs_checkpoint and checkpoint is None:
        raise ArchiveError(f"family {name!r} needs a checkpoint")
    family = spec.loader(checkpoint, seed)
    chosen = _choose_version([m.name for m in family.models], model_store, repository, version)
    provenance = {
        "family": family.family,
        "checkpoint": str(checkpoint) if checkpoint else None,
        "checkpoint_sha256": family.checkpoint_sha256,
        "training_config": family.training_config,
        "data_version": family.data_version,
    }
    return [
        archive_model(
            served,
            model_store,
            chosen,
            repository=repository,
            provenance=provenance,
            force=force,
        )
        for served in family.models
    ]


# ---- CLI ---------------------------------------------------------------------------


def register(subparsers: Any) -> None:
    """Add ``vidsearch archive`` (torch is imported only when it runs)."""
    parser = subparsers.add_parser(
        "archive",
        help="package model families as TorchServe .mar archives (Triton stays recommended)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "target", nargs="?", choices=["starter"], help="every checkpoint of a folder"
    )
    parser.add_argument("--family", help="model family (video_hash, video_embedder, toy)")
    parser.add_argument("--checkpoint", type=existing_file, help="checkpoint file")
    parser.add_argument("--checkpoints", type=existing_dir, help="folder of checkpoints (starter)")
    parser.add_argument("--model-store", type=Path, default=Path("var/torchserve"))
    parser.add_argument(
        "--repository",
        type=existing_dir,
        help="check against (and take the version of) this export",
    )
    parser.add_argument("--version", type=int, help="default: the repository's latest version")
    parser.add_argument("--seed", type=int, default=0, help="toy family weights / sample seed")
    parser.add_argument("--force", action="store_true", help="replace an existing archive")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.target == "starter":
        from vidsearch.exporters.families import family_for_kind
        from vidsearch.training.checkpoint import load_checkpoint

        if args.checkpoints is None or not args.checkpoints.is_dir():
            raise SystemExit(f"--checkpoints must be a folder (got {args.checkpoints})")
        jobs = [
            (family_for_kind(load_checkpoint(p).kind).name, p)
            for p in sorted(args.checkpoints.glob("*.pt"))
        ]
        if not jobs:
            raise SystemExit(f"no *.pt checkpoint in {args.checkpoints}")
    elif args.family:
        jobs = [(args.family, args.checkpoint)]
    else:
        raise SystemExit("--family is required (or: vidsearch archive starter --checkpoints DIR)")
    archived: list[ArchivedModel] = []
    for family, checkpoint in jobs:
        archived += archive_family(
            family,
            checkpoint,
            args.model_store,
            version=args.version,
            repository=args.repository,
            seed=args.seed,
            force=args.force,
        )
    json.dump([asdict(a) for a in archived], sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")
    return 0
