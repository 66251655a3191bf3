"""The copy-detection recipe end to end on CPU, tiny: train (procedural + photo videos) ->
export (verified ONNX) -> index -> search through the real orchestrator and Qdrant Edge."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from vidsearch.evaluation.systems import VideoFile, export_release, run_learned
from vidsearch.media.corpus import build_copy_benchmark
from vidsearch.media.synthetic import render_video
from vidsearch.training.checkpoint import load_checkpoint
from vidsearch.training.config import CopyReleaseConfig
from vidsearch.training.descriptor import run_copy_release

STARTER = Path(__file__).resolve().parents[2] / "models" / "starter"


def _photo_root(root: Path) -> Path:
    for seed in (1, 3, 7):
        frame = render_video(seed, 1.0, fps=1.0, width=800, height=600)[0].astype(np.int16)
        noise = np.random.default_rng(seed).integers(-12, 13, frame.shape)
        Image.fromarray(np.clip(frame + noise, 0, 255).astype(np.uint8)).save(root / f"{seed}.jpg")
    return root


def test_train_export_index_search(tmp_path: Path) -> None:
    (tmp_path / "photos").mkdir()
    photos = _photo_root(tmp_path / "photos")
    tiny = {"batch_size": 6, "steps_per_epoch": 2, "max_epochs": 1, "eval_queries": 8,
            "warmup_steps": 1, "augment": {"rot90_p": 0.2}}
    cfg = CopyReleaseConfig.model_validate({
        "num_threads": 1,
        "data": {"n_videos": 4, "photo_videos": 4, "duration_s": 4.0, "render_width": 80,
                 "render_height": 60, "frame_size": 48, "n_val_videos": 4,
                 "photo_roots": [str(photos)]},
        "descriptor": {**tiny, "model": {
            "backbone": {"widths": [8, 8, 16, 16], "input_size": 48},
            "heads": {"texture_dim": 16, "hash_bits": 128, "hidden": 16}}},
        "stage2": {**tiny, "w_distill": 5.0},
    })
    out = tmp_path / "release"
    summary = run_copy_release(cfg, out, progress=False)

    ck = load_checkpoint(out / "video_hash.pt")
    assert ck.optimizer is None  # released: no optimizer state
    assert ck.data_version.startswith("mixed-train-4+4photo")  # photos are in the data
    assert summary["data_version"] == ck.data_version
    provenance = json.loads((out / "copy_release_summary.json").read_text())
    assert {"data", "descriptor", "stage2"} <= provenance["seconds"].keys()
    assert "l_nce" in provenance["final"]["descriptor"]
    # stage 2 trained the hash head only: the descriptor is exactly the trained one
    descriptor = load_checkpoint(out / "stages" / "descriptor.pt").state_dict
    for key, value in ck.state_dict.items():
        if key.startswith(("encoder.", "heads.texture.")):
            assert torch.equal(value, descriptor[key]), key

    corpus = build_copy_benchmark(tmp_path / "corpus", n_references=3, n_queries=2,
                                  positive_ratio=1.0, chain_length=(0, 0),
                                  ref_duration_s=(6.0, 8.0), segment_s=(4.0, 5.0),
                                  progress=False)
    repository = tmp_path / "repository"
    export_release([out / "video_hash.pt", STARTER / "barlow.pt"], repository)
    refs = [VideoFile(r.video_id, r.path) for r in corpus.references]
    queries = [VideoFile(q.video_id, q.path) for q in corpus.queries]
    (run,) = run_learned(repository, refs, queries, modes=[("duration", "tiny")],
                         progress=False, background_videos=0)  # raw cosines: no background
    for query in corpus.queries:
        assert run.ranked[query.video_id][:1] == [query.reference_id]
