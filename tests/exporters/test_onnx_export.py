"""ONNX export of tiny modules: named tensors, dynamic axes, exact shapes, verification."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from vidsearch.exporters import toy
from vidsearch.exporters.families import frame_encoder_model, hash_heads_model, video_embedder_model
from vidsearch.exporters.onnx_export import ExportError, export_onnx
from vidsearch.exporters.signature_check import onnx_signature
from vidsearch.exporters.verify import VerificationError, verify_onnx

SIZE = 32


def _export(served, path: Path, *, dynamo: bool = False):  # type: ignore[no-untyped-def]
    return export_onnx(
        served.module,
        [served.samples[0][n] for n in served.input_names],
        path,
        input_names=served.input_names,
        output_names=served.output_names,
        dynamic_axes=served.dynamic_axes,
        dynamo=dynamo,
    )


def test_frame_encoder_export_has_named_dynamic_batch(tmp_path: Path) -> None:
    served = frame_encoder_model(toy.seeded(toy.ToyFrameEncoder, 0), SIZE)
    result = _export(served, tmp_path / "m.onnx")
    assert result.opset >= 17 and result.exporter == "torchscript"
    assert len(result.sha256) == 64
    inputs, outputs = onnx_signature(result.path)
    assert [(t.name, t.dtype, t.dims) for t in inputs] == [("frames", "uint8", (-1, SIZE, SIZE, 3))]
    assert [(t.name, t.dtype, t.dims) for t in outputs] == [("feature", "float32", (-1, 32))]
    session = ort.InferenceSession(str(result.path), providers=["CPUExecutionProvider"])
    for batch in (1, 7):
        frames = np.zeros((batch, SIZE, SIZE, 3), np.uint8)
        assert session.run(None, {"frames": frames})[0].shape == (batch, 32)


def test_video_embedder_has_dynamic_batch_and_frame_axes(tmp_path: Path) -> None:
    served = video_embedder_model(toy.seeded(toy.ToyVideoEmbedder, 0), SIZE)
    result = _export(served, tmp_path / "m.onnx")
    inputs, outputs = onnx_signature(result.path)
    assert inputs[0].dims == (-1, -1, SIZE, SIZE, 3)
    assert outputs[0].dims == (-1, 24)  # the traced exporter's symbolic name is replaced
    report = verify_onnx(served.module, result.path, served.samples)
    assert report.passed, report.failures
    assert report.samples == 3
    assert report.outputs[0].max_abs_diff < 1e-5


def test_heads_verify_reports_diffs_and_identical_bits(tmp_path: Path) -> None:
    served = hash_heads_model(toy.seeded(toy.ToyHashTextureHeads, 0), 32)
    result = _export(served, tmp_path / "m.onnx")
    report = verify_onnx(served.module, result.path, served.samples)
    assert report.passed, report.failures
    by_name = {o.name: o for o in report.outputs}
    assert set(by_name) == {"texture", "hash_logits", "hash_bits"}
    assert by_name["hash_bits"].exact and by_name["hash_bits"].mismatches == 0
    assert by_name["hash_bits"].elements == 36 * 128
    assert by_name["texture"].max_abs_diff < 1e-5
    assert "0/4608 mismatching" in report.summary()


def test_verify_catches_different_weights(tmp_path: Path) -> None:
    served = hash_heads_model(toy.seeded(toy.ToyHashTextureHeads, 0), 32)
    result = _export(served, tmp_path / "m.onnx")
    other = toy.seeded(toy.ToyHashTextureHeads, 1)
    report = verify_onnx(other, result.path, served.samples)
    assert not report.passed
    bits = next(o for o in report.outputs if o.name == "hash_bits")
    assert bits.mismatches > 0
    assert any("hash_bits" in f and "differ" in f for f in report.failures)
    assert any("texture: max abs diff" in f for f in report.failures)
    with pytest.raises(VerificationError, match="hash_bits"):
        raise VerificationError(report)


def test_export_refuses_batch_one_sample_on_dynamic_axis(tmp_path: Path) -> None:
    module = toy.seeded(toy.ToyFrameEncoder, 0)
    with pytest.raises(ExportError, match="dynamic axis"):
        export_onnx(
            module,
            [np.zeros((1, SIZE, SIZE, 3), np.uint8)],
            tmp_path / "m.onnx",
            input_names=["frames"],
            output_names=["feature"],
            dynamic_axes={"frames": {0: "batch"}, "feature": {0: "batch"}},
        )


def test_export_refuses_wrong_output_count(tmp_path: Path) -> None:
    served = hash_heads_model(toy.seeded(toy.ToyHashTextureHeads, 0), 32)
    with pytest.raises(ExportError, match="3 outputs"):
        export_onnx(
            served.module,
            [served.samples[0]["feature"]],
            tmp_path / "m.onnx",
            input_names=["feature"],
            output_names=["texture"],
            dynamic_axes={},
        )


@pytest.mark.slow  # the dynamo exporter takes ~6 s here
def test_dynamo_exporter_gives_the_same_signature(tmp_path: Path) -> None:
    served = hash_heads_model(toy.seeded(toy.ToyHashTextureHeads, 0), 32)
    legacy = _export(served, tmp_path / "ts.onnx")
    dynamo = _export(served, tmp_path / "dynamo.onnx", dynamo=True)
    assert dynamo.exporter == "dynamo"
    assert onnx_signature(dynamo.path) == onnx_signature(legacy.path)
    assert verify_onnx(served.module, dynamo.path, served.samples).passed
