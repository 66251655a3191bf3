"""The model contract is what gets exported: the pipeline refuses a network whose ONNX
signature differs from it, and the ONNX dynamic axes come from it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from vidsearch.contract.models import (
    HASH_TEXTURE_HEADS,
    MODELS,
    TEXT_VIDEO_SCORER,
    VIDEO_EMBEDDER,
    Tensor,
)
from vidsearch.exporters.families import get_family
from vidsearch.exporters.pipeline import export_models
from vidsearch.exporters.repository import list_models
from vidsearch.exporters.signature_check import SignatureMismatchError, onnx_signature


def test_dynamic_axes_are_the_per_request_sizes() -> None:
    assert VIDEO_EMBEDDER.dynamic_axes() == {
        "frames": {0: "batch", 1: "frames"},
        "embedding": {0: "batch"},
    }
    keywords = MODELS[TEXT_VIDEO_SCORER.name].dynamic_axes()["keyword_features"]
    assert keywords == {0: "batch"}  # K keyword slots are fixed by the network


def test_toy_export_has_the_contract_signature(tmp_path: Path) -> None:
    family = get_family("toy").loader(None, 0)
    exported = export_models([family], tmp_path / "repo")
    for model in exported:
        inputs, outputs = onnx_signature(model.path / "model.onnx")
        contract = MODELS[model.model]
        assert [(t.name, t.dtype, len(t.dims)) for t in inputs] == [
            (t.name, t.dtype, len(t.shape)) for t in contract.inputs
        ]
        assert [(t.name, t.dtype, len(t.dims)) for t in outputs] == [
            (t.name, t.dtype, len(t.shape)) for t in contract.outputs
        ]


def test_export_refuses_a_network_that_breaks_the_contract(tmp_path: Path) -> None:
    family = get_family("toy").loader(None, 0)
    heads = next(m for m in family.models if m.contract == HASH_TEXTURE_HEADS)
    # The float32 network exported under a contract that promises float16 textures.
    half = replace(
        HASH_TEXTURE_HEADS,
        outputs=(Tensor("texture", "float16", ("batch", "texture_dim")),
                 *HASH_TEXTURE_HEADS.outputs[1:]),
    )
    family.models = [replace(heads, contract=half)]
    with pytest.raises(SignatureMismatchError, match="float16"):
        export_models([family], tmp_path / "repo")
    assert list_models(tmp_path / "repo") == {}  # nothing written
