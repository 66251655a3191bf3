"""Check an exported ONNX file against the PyTorch module it came from.

Run through onnxruntime on several sample batches (different batch and frame counts
exercise the dynamic axes). Float outputs must agree within ``atol``; outputs whose
values are used as exact codes (``hash_bits``) must be bit-identical, since one flipped
bit moves a video in the Hamming index.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import torch

from vidsearch.contract.models import MODELS

# Outputs used as exact codes by any served model (the contract marks them).
EXACT_OUTPUTS: frozenset[str] = frozenset(
    t.name for m in MODELS.values() for t in m.outputs if t.exact
)
DEFAULT_ATOL = 1e-4


@dataclass(frozen=True)
class OutputCheck:
    """Agreement of one output over all samples."""

    name: str
    max_abs_diff: float
    exact: bool
    mismatches: int
    elements: int
    shapes_match: bool
    dtypes_match: bool


@dataclass(frozen=True)
class VerificationReport:
    """What provenance.json records; ``passed`` gates writing the model version."""

    passed: bool
    atol: float
    samples: int
    outputs: tuple[OutputCheck, ...]
    failures: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        parts = []
        for out in self.outputs:
            text = f"{out.name}: max|diff|={out.max_abs_diff:.3g}"
            if out.exact:
                text += f", {out.mismatches}/{out.elements} mismatching"
            parts.append(text)
        return ("PASS " if self.passed else "FAIL ") + "; ".join(parts)


class VerificationError(RuntimeError):
    """The ONNX file does not reproduce the PyTorch module."""

    def __init__(self, report: VerificationReport) -> None:
        super().__init__(f"ONNX verification failed: {'; '.join(report.failures)}")
        self.report = report


def _torch_outputs(module: torch.nn.Module, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            result = module(*(torch.from_numpy(np.ascontiguousarray(x)) for x in inputs))
    finally:
        module.train(was_training)
    values = (result,) if isinstance(result, torch.Tensor) else tuple(result)
    return [v.detach().cpu().numpy() for v in values]


def verify_onnx(
    module: torch.nn.Module,
    onnx_path: Path,
    samples: Iterable[Mapping[str, np.ndarray]],
    *,
    atol: float = DEFAULT_ATOL,
    exact_outputs: Iterable[str] = EXACT_OUTPUTS,
) -> VerificationReport:
    """Compare onnxruntime (CPU) with ``module`` on every sample (name -> array)."""
    exact = frozenset(exact_outputs)
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    input_names = [i.name for i in session.get_inputs()]
    output_names = [o.name for o in session.get_outputs()]
    worst = dict.fromkeys(output_names, 0.0)
    mismatches = dict.fromkeys(output_names, 0)
    elements = dict.fromkeys(output_names, 0)
    shapes_ok = dict.fromkeys(output_names, True)
    dtypes_ok = dict.fromkeys(output_names, True)
    failures: list[str] = []
    count = 0
    for sample in samples:
        count += 1
        missing = set(input_names) - set(sample)
        if missing:
            raise ValueError(f"sample lacks inputs {sorted(missing)}")
        got = session.run(output_names, {n: sample[n] for n in input_names})
        want = _torch_outputs(module, [sample[n] for n in input_names])
        if len(want) != len(got):
            failures.append(f"module returns {len(want)} outputs, ONNX {len(got)}")
            break
        for name, ours, ref in zip(output_names, got, want, strict=True):
            if ours.shape != ref.shape:
                shapes_ok[name] = False
                failures.append(f"{name}: shape {ours.shape} != torch {ref.shape}")
                continue
            if ours.dtype != ref.dtype:
                dtypes_ok[name] = False
                failures.append(f"{name}: dtype {ours.dtype} != torch {ref.dtype}")
            diff = np.abs(ours.astype(np.float64) - ref.astype(np.float64))
            worst[name] = max(worst[name], float(diff.max(initial=0.0)))
            elements[name] += int(ref.size)
            if name in exact:
                mismatches[name] += int(np.count_nonzero(ours != ref))
    for name in output_names:
        if name in exact and mismatches[name]:
            failures.append(f"{name}: {mismatches[name]} of {elements[name]} values differ")
        elif name not in exact and worst[name] > atol:
            failures.append(f"{name}: max abs diff {worst[name]:.3g} > {atol:g}")
    if count == 0:
        failures.append("no sample to verify on")
    checks = tuple(
        OutputCheck(
            name=n,
            max_abs_diff=worst[n],
            exact=n in exact,
            mismatches=mismatches[n],
            elements=elements[n],
            shapes_match=shapes_ok[n],
            dtypes_match=dtypes_ok[n],
        )
        for n in output_names
    )
    return VerificationReport(
        passed=not failures, atol=atol, samples=count, outputs=checks, failures=tuple(failures)
    )
