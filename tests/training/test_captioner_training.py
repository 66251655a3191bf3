"""Captioner training (seed 000): vocabulary and references, the fact parser on the
captions' own wording, the language metrics on hand-made sentences, and a tiny real run
through the CLI (rendered videos -> cached features -> CE then joint stage -> checkpoint
-> reload -> test summary)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
import torch
import yaml

from vidsearch.evaluation.cli import register as register_eval
from vidsearch.networks.captioner import BOS, EOS, UNK
from vidsearch.training.caption_data import (
    CaptionDataConfig,
    build_vocabulary,
    detokenize,
    load_caption_split,
    tokenize,
)
from vidsearch.training.caption_metrics import (
    fact_accuracy,
    language_metrics,
    parse_sentence,
    score_facts,
)
from vidsearch.training.captioner import CaptionerTrainConfig, caption_sentences, load_captioner
from vidsearch.training.captions import HELD_OUT, captions_for
from vidsearch.training.checkpoint import load_checkpoint
from vidsearch.training.cli import register
from vidsearch.training.facts import SceneFacts, ShapeFacts

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "training"


def test_vocabulary_round_trip_and_unknown_words() -> None:
    vocab = build_vocabulary(["First a red disk, then a big blue box.", "5 scenes: a red ring"])
    ids = vocab.encode("a red disk, then a purple box")
    assert ids[0] == BOS and ids[-1] == EOS and UNK in ids  # "purple": not in training
    assert vocab.decode(vocab.encode("first a red disk, then a big blue box")) == \
        "First a red disk, then a big blue box."
    assert tokenize("A pink-coloured ring: 3 scenes") == ["a", "pink-coloured", "ring", ":",
                                                           "3", "scenes"]
    assert detokenize(["3", "scenes", ":", "a", "disk", ","]) == "3 scenes: a disk."


def test_training_vocabulary_has_no_held_out_wording() -> None:
    cfg = CaptionDataConfig(n_train=30)
    seeds = cfg.seeds("train")
    vocab = build_vocabulary(c for s in seeds for c in captions_for(s, cfg.duration_s, 20))
    held_out = {"disc", "donut", "annulus", "rising", "sinking", "twirling", "blotchy",
                "chessboard", "bullseye", "mosaic", "tiny", "huge", "backdrop", "shots"}
    assert {w for p in HELD_OUT.shapes["ring"] for w in tokenize(p)} <= held_out
    assert not held_out & set(vocab.words), held_out & set(vocab.words)
    assert len(set(cfg.seeds("train")) & set(cfg.seeds("val"))) == 0
    assert len(set(cfg.seeds("val")) & set(cfg.seeds("test"))) == 0


def test_fact_parser_reads_the_training_wording_back() -> None:
    scenes = [SceneFacts(0, 4, "stripes", (ShapeFacts("rect", "pink", "small", None),
                                           ShapeFacts("triangle", "green", None, None))),
              SceneFacts(4, 8, "noise", ()),
              SceneFacts(8, 12, "cells", (ShapeFacts("ring", "blue", "large", "moving up"),))]
    said = ("3 scenes: first a smallish rectangle coloured pink and a green-coloured wedge "
            "over a lined background, then an empty hazy background, finally a giant blue "
            "hoop moving upwards in a patchwork scene.")
    parsed = parse_sentence(said)
    assert [[m.shape for m in part] for part in parsed] == [["rect", "triangle"], [], ["ring"]]
    assert parsed[2][0].motion == "moving up" and parsed[0][0].size == "small"
    facts = score_facts(said, scenes)
    assert facts["colour"] == (3, 3) and facts["shape"] == (3, 3)
    assert facts["motion"] == (1, 1) and facts["coverage"] == (2, 2)
    wrong = score_facts("First a red rectangle and a green triangle, then a blue ring, finally "
                        "a blue ring spinning.", scenes)
    assert wrong["colour"] == (2, 4)  # red; a shape in an empty scene; blue right in scene 3
    assert wrong["shape"] == (3, 4) and wrong["motion"] == (0, 1)


def test_fact_accuracy_of_the_reference_captions_is_high_but_not_perfect() -> None:
    seeds = list(range(950_000, 950_030))
    caps = [c for s in seeds for c in captions_for(s, 24.0, 5)]
    acc = fact_accuracy(caps, [s for s in seeds for _ in range(5)], 24.0)
    # Wrong only where a short query skips an empty scene or starts at a later scene.
    assert 0.85 < acc["fact_colour"] < 1.0 and 0.85 < acc["fact_shape"] < 1.0


def test_language_metrics_on_hand_made_sentences() -> None:
    refs = [["a red disk then a blue box", "a red disk and then a blue box"],
            ["an empty striped background", "a striped empty background"]]
    same = language_metrics([r[0] for r in refs], refs, meteor=False)
    other = language_metrics(["a green ring", "a blue ring"], refs, meteor=False)
    assert same["bleu4"] > 0.9 and same["rouge_l"] > 0.9
    assert other["bleu4"] < 0.1 and other["cider_d"] < same["cider_d"]


@pytest.mark.slow
def test_tiny_captioner_trains_through_the_cli(tmp_path: Path) -> None:
    cfg = {"num_threads": 1,
           "data": {"n_train": 6, "n_val": 2, "n_test": 2, "duration_s": 4.0,
                    "captions_per_video": 5, "cache_dir": str(tmp_path / "cache")},
           "model": {"hidden": 16, "embed": 8, "attention_dim": 8, "recon_hidden": 8,
                     "reconstructor": "local"},
           "ce_epochs": 1, "joint_epochs": 1, "steps_per_epoch": 3, "batch_size": 4,
           "max_words": 12, "beam": 2}
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(cfg))
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    out = tmp_path / "out"
    args = parser.parse_args(["train", "captioner", "--config", str(path), "--out", str(out),
                              "--no-progress"])
    assert args.func(args) == 0
    ck = load_checkpoint(out / "captioner.pt")
    assert ck.kind == "captioner" and ck.optimizer is None
    assert [r["stage"] for r in ck.metrics["history"]] == ["ce", "joint"]
    assert "recon" in ck.metrics["history"][1] and "recon" not in ck.metrics["history"][0]
    summary = json.loads((out / "captioner_summary.json").read_text())
    for how in ("greedy", "beam"):
        assert {"bleu4", "rouge_l", "cider_d", "fact_colour"} <= summary["final"][how].keys()
    stored, vocab = load_captioner(out / "captioner.pt")
    train = load_caption_split(CaptionerTrainConfig.model_validate(cfg).data, "train")
    assert vocab == build_vocabulary(c for refs in train.refs for c in refs)
    sentences = caption_sentences(stored.captioner, vocab, train.feats[:2], max_words=12)
    assert len(sentences) == 2 and all(isinstance(s, str) for s in sentences)
    assert (tmp_path / "cache").is_dir() and any((tmp_path / "cache").iterdir())
    assert torch.equal(train.feats, load_caption_split(
        CaptionerTrainConfig.model_validate(cfg).data, "train").feats)  # read back
    evaluation = argparse.ArgumentParser()
    register_eval(evaluation.add_subparsers(dest="command"))
    report, bench = tmp_path / "captions.json", tmp_path / "BENCHMARKS.md"
    args = evaluation.parse_args(["eval", "captions", "--checkpoint", str(out / "captioner.pt"),
                                  "--decoding", "greedy", "--json", str(report),
                                  "--out", str(bench), "--no-progress"])
    assert args.func(args) == 0
    result = json.loads(report.read_text())
    assert result["test_videos"] == 2 and "beam" not in result
    assert result["reference_caption"]["bleu1"] > 0.3  # a true caption shares its words
    assert result["greedy"]["cider_d"] == summary["final"]["greedy"]["cider_d"]
    # the 'captions' section: targets, the greedy row as measured, the ceiling; no beam row
    section = bench.read_text()
    assert "<!-- bench:captions -->" in section and "Reproduce: `" in section
    greedy = next(line for line in section.splitlines() if line.startswith("| greedy |"))
    assert f"| {result['greedy']['cider_d']:.3f} |" in greedy
    assert "| a true caption (ceiling) |" in section and "| beam" not in section


def test_shipped_captioner_config_parses() -> None:
    cfg = CaptionerTrainConfig.model_validate(yaml.safe_load(
        (CONFIGS / "captioner_starter.yaml").read_text()))
    assert cfg.model.reconstructor == "global" and cfg.beam == 5
    assert cfg.data.captions_per_video >= 5
