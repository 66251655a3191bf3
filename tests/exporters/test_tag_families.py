"""Tag export seam: tiny random tag networks export under the TAG_MODELS names and verify."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from transformers import BertConfig, BertModel

from vidsearch.contract.models import TAG_MODELS
from vidsearch.contract.repository_layout import TRAINING_TAGS_FILE
from vidsearch.exporters.pipeline import export_models
from vidsearch.exporters.signature_check import contract_problems
from vidsearch.exporters.tag_families import tag_family
from vidsearch.networks.semantic import SemanticConfig, SemanticEncoder
from vidsearch.networks.tag_video import (
    TagEncoder,
    TagVideoConfig,
    TagVideoNetwork,
    VideoTagEncoder,
)
from vidsearch.networks.text_encoder import TextEncoder
from vidsearch.training.tags import TRAIN_TAGS

SIZE = 32


def _tiny_models(fusion: str) -> tuple[TagEncoder, VideoTagEncoder]:
    torch.manual_seed(0)
    bert = BertModel(BertConfig(vocab_size=30522, hidden_size=24, num_hidden_layers=1,
                                num_attention_heads=2, intermediate_size=32,
                                attn_implementation="eager"), add_pooling_layer=False)
    tags = TagEncoder(TextEncoder(bert), dim=8, text_dim=24)
    semantic = SemanticEncoder(SemanticConfig(widths=(8, 8, 16, 16), input_size=SIZE,
                                              dropout=0.0))
    cfg = TagVideoConfig.model_validate(
        {"frame_dim": semantic.feature_dim, "dim": 8, "temporal": "gru", "frame_hidden": 6,
         "audio_hidden": 4, "text_dim": 24, "fusion": fusion})
    return tags, VideoTagEncoder(semantic, TagVideoNetwork(cfg)).eval()


@pytest.mark.parametrize("fusion", ["moe", "concat", "mean"])
def test_tag_models_export_and_verify(tmp_path: Path, fusion: str) -> None:
    tags, video = _tiny_models(fusion)
    exported = export_models([tag_family(tags, video, SIZE)], tmp_path / "repo")
    assert [e.model for e in exported] == [m.name for m in TAG_MODELS]
    for e, contract in zip(exported, TAG_MODELS, strict=True):
        assert e.verification.passed, e.verification.failures
        assert contract_problems(contract, e.path / "model.onnx") == []
    if fusion == "concat":
        return  # the concat baseline zero-fills instead of masking: no frames-only identity
    # The served video feature is the frames-only fusion: sound and title are masked out.
    frames = np.random.default_rng(1).integers(0, 256, (2, 4, SIZE, SIZE, 3), dtype=np.uint8)
    session = ort.InferenceSession(str(exported[1].path / "model.onnx"),
                                   providers=["CPUExecutionProvider"])
    served, scenes = session.run(None, {"frames": frames})
    with torch.no_grad():
        feats = video.semantic(torch.from_numpy(frames))
        experts, _ = video.network.experts(feats, torch.ones(2, 4), torch.zeros(2, 1, 13),
                                           torch.zeros(2, 1), torch.zeros(2, 24), torch.zeros(2))
        expected = video.network.scene_features(feats, torch.ones(2, 4))
    np.testing.assert_allclose(served, experts["frames"].numpy(), atol=1e-4)
    # 4 frames in the 8 scenes: each frame twice, in order (the export kept the arithmetic)
    assert scenes.shape == (2, 8, 8)
    np.testing.assert_allclose(scenes, expected.numpy(), atol=1e-4)
    np.testing.assert_allclose(scenes[:, 0], scenes[:, 1], atol=1e-6)


def test_a_tags_checkpoint_exports_as_the_tags_family(tmp_path: Path) -> None:
    """`vidsearch export starter` finds the family by the checkpoint's kind; the served tag
    encoder is the bundled MiniLM with the checkpoint's projection."""
    from vidsearch.exporters.families import family_for_kind
    from vidsearch.training.checkpoint import Checkpoint, save_checkpoint
    from vidsearch.training.tag_training import TagModel, TagTrainConfig, load_tag_model

    torch.manual_seed(0)
    semantic = SemanticEncoder(SemanticConfig(widths=(8, 8, 16, 16), input_size=SIZE))
    cfg = TagTrainConfig.model_validate(
        {"model": {"frame_dim": semantic.feature_dim, "dim": 8, "audio_hidden": 4}})
    model = TagModel(semantic, TagVideoNetwork(cfg.model))
    config = {**cfg.model_dump(mode="json"), "semantic": semantic.cfg.model_dump(mode="json")}
    path = save_checkpoint(tmp_path / "tags.pt", Checkpoint(
        kind="tags", model_version=1, config=config, data_version="tiny", metrics={},
        state_dict=model.state_dict()))
    spec = family_for_kind("tags")
    assert spec.served == tuple(m.name for m in TAG_MODELS)
    loaded = spec.loader(path, 0)
    assert loaded.data_version == "tiny" and loaded.checkpoint_sha256
    exported = export_models([loaded], tmp_path / "repo")
    for e, contract in zip(exported, TAG_MODELS, strict=True):
        assert e.verification.passed, e.verification.failures
        assert contract_problems(contract, e.path / "model.onnx") == []
    # The exported tag encoder is the checkpoint's projection over MiniLM.
    reloaded = load_tag_model(path)
    assert torch.equal(reloaded.tag_encoder().projection.weight, model.tag_projection.weight)
    # Beside the tag encoder: the tags it trained on, which the server's thesaurus reads.
    trained = json.loads((exported[0].path / TRAINING_TAGS_FILE).read_text())
    assert trained == [t.text for t in TRAIN_TAGS] and "red" in trained
