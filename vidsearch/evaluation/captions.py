"""The 'captions' section of BENCHMARKS.md from `vidsearch eval captions`' result: each
decoding's language metrics and fact accuracy beside issue 15's targets and the ceiling a
true caption reaches against the same references."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vidsearch.evaluation.report import md_table

TARGETS = ["issue 15 targets", "≥ 0.45", "≥ 1.2", "", "", "≥ 90%", "≥ 85%", "", "≥ 75%", "≤ 100"]
HEADERS = ["decoding", "BLEU-4", "CIDEr-D", "METEOR", "ROUGE-L", "colour", "shape", "size",
           "motion", "ms per video (decode)"]
ROWS = (("greedy", "greedy"), ("beam", "beam {beam}"),
        ("reference_caption", "a true caption (ceiling)"))


def _row(label: str, scores: Mapping[str, Any]) -> list[str]:
    def number(key: str) -> str:
        return f"{scores[key]:.3f}" if key in scores else "—"

    def share(key: str) -> str:
        return f"{100 * scores[key]:.1f}%" if key in scores else "—"

    ms = scores.get("decode_ms_per_video")
    return [label, number("bleu4"), number("cider_d"), number("meteor"), number("rouge_l"),
            share("fact_colour"), share("fact_shape"), share("fact_size"),
            share("fact_motion"), f"{ms:.1f}" if ms is not None else ""]


def to_markdown(result: Mapping[str, Any]) -> str:
    """The section's body (its header comes from ``section_header``)."""
    rows = [TARGETS] + [_row(label.format(beam=result.get("beam_width", "")), result[key])
                        for key, label in ROWS if key in result]
    tokenizer = next((result[k]["tokenizer"] for k, _ in ROWS
                      if k in result and "tokenizer" in result[k]), "pycocoevalcap")
    return (
        f"{result['test_videos']} test videos (test seeds, never trained on), "
        f"{result['references_per_video']} reference captions each in the training wording; "
        f"pycocoevalcap, tokenizer {tokenizer}. Facts: colour, shape, size and motion parsed "
        "from the generated sentence and checked against the renderer's facts. The true-caption "
        "row scores one unused reference caption of each video against the others the same "
        "way: the ceiling these references allow. Decode ms: the numpy greedy / beam loop over "
        "the PyTorch-free step, beyond the frame features.\n\n"
        + md_table(HEADERS, rows) + "\n"
    )
