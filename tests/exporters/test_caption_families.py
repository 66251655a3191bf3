"""Caption export seam (seed 000): the encoder and the one-word step export under the
CAPTION_MODELS names and verify; the exported step, looped by the orchestrator's search in
ONNX Runtime, decodes the same whole sentence as PyTorch from the shipped captioner."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from vidsearch.contract.models import (
    CAPTION_MEMORY,
    CAPTION_MODELS,
    CLIP_FRAMES,
    DECODER_C,
    DECODER_H,
    FRAME_MASK,
    WORDS,
)
from vidsearch.contract.repository_layout import MODEL_FILE, SYNONYMS_FILE, VOCABULARY_FILE
from vidsearch.exporters.caption_families import (
    caption_encoder_model,
    caption_step_model,
    load_caption_family,
)
from vidsearch.exporters.families import LoadedFamily
from vidsearch.exporters.pipeline import export_models
from vidsearch.exporters.signature_check import contract_problems
from vidsearch.inference.caption_search import Step, beam_search, greedy
from vidsearch.media import synthetic
from vidsearch.networks.captioner import (
    BOS,
    EOS,
    CaptionEncoderModel,
    Captioner,
    CaptionerConfig,
    CaptionStepModel,
)
from vidsearch.networks.semantic import SemanticConfig, SemanticEncoder
from vidsearch.training.captioner import load_captioner, torch_step
from vidsearch.training.data import resize_frames

STARTER = Path(__file__).resolve().parents[2] / "models" / "starter" / "captioner.pt"


def _session(path: Path) -> ort.InferenceSession:
    return ort.InferenceSession(str(path / MODEL_FILE), providers=["CPUExecutionProvider"])


def test_tiny_caption_models_export_and_verify(tmp_path: Path) -> None:
    torch.manual_seed(0)
    frames = SemanticEncoder(SemanticConfig(widths=(8, 8, 16, 16), input_size=32, dropout=0.0))
    cap = Captioner(CaptionerConfig(feature_dim=frames.feature_dim, vocab_size=9, hidden=8,
                                    embed=8, attention_dim=8, recon_hidden=8)).eval()
    words = ["<pad>", "<bos>", "<eos>", "<unk>", "a", "red", "disk", ",", "then"]
    family = LoadedFamily("captions", [
        caption_encoder_model(CaptionEncoderModel(frames.eval(), cap), 32),
        caption_step_model(CaptionStepModel(cap), words,
                           synonyms={"shapering": ["ring", "hoop"]})])
    exported = export_models([family], tmp_path / "repo", cpu_twin=tmp_path / "twin")
    assert [e.model for e in exported] == [m.name for m in CAPTION_MODELS]
    for e, contract in zip(exported, CAPTION_MODELS, strict=True):
        assert e.verification.passed, e.verification.failures
        assert contract_problems(contract, e.path / MODEL_FILE) == []
    step_dir = exported[1].path
    assert json.loads((step_dir / VOCABULARY_FILE).read_text()) == words
    twin = tmp_path / "twin" / "caption_step" / step_dir.name / VOCABULARY_FILE
    assert json.loads(twin.read_text()) == words
    # the synonym groups SearchBySentence matches facts by travel beside the words
    assert json.loads((step_dir / SYNONYMS_FILE).read_text()) == {"shapering": ["ring", "hoop"]}


def _onnx_step(session: ort.InferenceSession, memory: np.ndarray, mask: np.ndarray) -> Step:
    def step(w: np.ndarray, h: np.ndarray, c: np.ndarray,
             rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        logp, h2, c2 = session.run(None, {WORDS.name: w, DECODER_H.name: h, DECODER_C.name: c,
                                          CAPTION_MEMORY.name: memory[rows],
                                          FRAME_MASK.name: mask[rows]})
        return logp, h2, c2

    return step


def _recording(step: Step, log: list[np.ndarray]) -> Step:
    def recorded(w: np.ndarray, h: np.ndarray, c: np.ndarray,
                 rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        out = step(w, h, c, rows)
        log.append(out[0])
        return out

    return recorded


@pytest.mark.skipif(not STARTER.exists(), reason="no starter captioner (make models)")
def test_exported_step_decodes_the_same_sentence_as_pytorch(tmp_path: Path) -> None:
    (enc_dir, step_dir) = (e.path for e in export_models(
        [load_caption_family(STARTER, 0)], tmp_path / "repo"))
    stored, vocab = load_captioner(STARTER)
    size = int(stored.frames.input_size)
    video = resize_frames(synthetic.render_video(950_007, 24.0, fps=1.0, width=160,
                                                 height=120), size).numpy()[None]
    memory, h, c = _session(enc_dir).run(None, {CLIP_FRAMES.name: video})
    with torch.no_grad():
        feats = stored.frames(torch.from_numpy(video))
        t_memory, t_h, t_c = stored.captioner.encode(feats, torch.ones(feats.shape[:2]))
    np.testing.assert_allclose(memory, t_memory.numpy(), atol=1e-4)
    np.testing.assert_allclose(h, t_h.numpy(), atol=1e-4)
    np.testing.assert_allclose(c, t_c.numpy(), atol=1e-4)
    mask = np.ones(memory.shape[:2], np.float32)
    onnx_step = _onnx_step(_session(step_dir), memory, mask)
    pt_step = torch_step(stored.captioner, t_memory, torch.from_numpy(mask))
    for search in ("greedy", "beam"):
        logs: tuple[list[np.ndarray], list[np.ndarray]] = ([], [])
        runs = []
        for step, log in zip((onnx_step, pt_step), logs, strict=True):
            if search == "greedy":
                runs.append(greedy(_recording(step, log), h, c, bos=BOS, eos=EOS,
                                   max_len=48)[0])
            else:
                runs.append(beam_search(_recording(step, log), h[0], c[0], bos=BOS, eos=EOS,
                                        max_len=48, beam=5))
        served, reference = runs
        assert served.ids == reference.ids, (vocab.decode(served.ids), vocab.decode(reference.ids))
        assert len(served.ids) >= 5 and EOS not in served.ids
        assert served.log_prob == pytest.approx(reference.log_prob, abs=1e-3)
        assert len(logs[0]) == len(logs[1])
        for a, b in zip(*logs, strict=True):
            np.testing.assert_allclose(a, b, atol=1e-3)
    words = json.loads((step_dir / VOCABULARY_FILE).read_text())
    assert words == list(vocab.words)
