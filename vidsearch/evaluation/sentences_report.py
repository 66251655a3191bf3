"""The 'sentences' section of BENCHMARKS.md from `vidsearch eval sentences`' result: typed
recall beside the true-caption ceiling and the visual text search, and each spoken
condition's word error rate, recall and recognition time beside issue 15's targets."""

from __future__ import annotations

from typing import Any

import numpy as np

from vidsearch.evaluation.report import md_table

TYPED_ROWS = (
    ("generated", "SearchBySentence, generated captions"),
    ("generated_rrf", "… fused by reciprocal rank instead (`captions.fusion=rrf`)"),
    ("true_caption", "SearchBySentence, a true caption stored (ceiling)"),
    ("true_caption_rrf", "… fused by reciprocal rank instead"),
    ("held_out_wording", "SearchBySentence, query in the held-out wording"),
    ("held_out_wording_rrf", "… fused by reciprocal rank instead"),
    ("as_heard", "SearchBySentence, query as heard without error (lower case, no punctuation "
     "or hyphens, counts in words)"),
    ("search_by_text", "SearchByText (visual features), same queries"),
)


def to_markdown(result: dict[str, Any]) -> str:
    """The 'sentences' section's body (its header comes from ``section_header``)."""
    typed = result["typed"]
    ceiling = typed["true_caption"]

    def cells(r: dict[str, float]) -> list[str]:
        return [f"{r['r@1']:.3f}", f"{r['r@5']:.3f}", f"{r['r@10']:.3f}"]

    rows = [["issue 15 targets", "≥ 0.35", "", "≥ 0.75, ≥ 0.8× ceiling"]]
    rows += [[label, *cells(typed[key])] for key, label in TYPED_ROWS if key in typed]
    spoken = result["spoken"]
    srows = [["issue 15 targets", "", "", "≤ 10%", "≥ 0.95× typed", "", "", "≤ 0.5 s (3 s)"]]
    for c in spoken:
        ratio = c["r@5"] / c["typed_r@5"] if c["typed_r@5"] else float("nan")
        short = c["recognition_s_p50_2to4s"]
        srows.append(
            [
                c["voice"],
                str(c["speed"]),
                f"{result['snr_db']:g} dB" if c["noisy"] else "clean",
                f"{100 * c['wer']:.1f}%",
                f"{c['r@5']:.3f} ({ratio:.2f}×)",
                f"{c['typed_r@5']:.3f}",
                f"{c['recognition_s_per_audio_s']:.3f}",
                f"{short:.2f}" if short is not None else "—",
            ]
        )
    words = sum(c["words"] for c in spoken)
    wer = sum(c["wer"] * c["words"] for c in spoken) / max(1, words)
    per_voice = {
        v: max(c["wer"] for c in spoken if c["voice"] == v)
        for v in dict.fromkeys(c["voice"] for c in spoken)
    }
    spoken_r5 = np.mean([c["r@5"] for c in spoken]) if spoken else float("nan")
    typed_r5 = np.mean([c["typed_r@5"] for c in spoken]) if spoken else float("nan")
    return (
        f"{result['videos']} test videos of the captioner (test seeds, never trained on; "
        f"{result['duration_s']:g} s each), indexed through the serving code in process "
        "(ONNX Runtime, Qdrant Edge; decode, encoders, beam-5 caption and its MiniLM "
        f"vector: {result['index_s_per_video']:.2f} s per video). Query of each video: "
        f"a training-wording caption that is not among its {result['references_per_video']} "
        "references (one query per video, top 10 asked). Ceiling: the same videos with a "
        "true caption stored in place of the generated one. Fusion as served: "
        f"`captions.fusion={result.get('fusion', 'rrf')}` (keywords: by how many of the query's "
        "facts a caption names, the captioner's synonyms matched as one, the sentence vector "
        "breaking ties; rrf: reciprocal-rank fusion of the vector and keyword rankings). "
        "Ceiling share at R@10: "
        f"{typed['generated']['r@10'] / max(1e-9, ceiling['r@10']):.2f}×.\n\n"
        + md_table(["typed query (one per video)", "R@1", "R@5", "R@10"], rows)
        + f"\n\nSpoken: {result['spoken_queries']} of the queries (evenly spread over the "
        "videos; a subsample to keep the run short) read by espeak-ng in each voice and "
        f"speed, clean and with white noise at {result['snr_db']:g} dB SNR, sent through "
        "SearchByAudio (PyAV decode, pocketsphinx with the exported language model, the same "
        "sentence search). WER against the words said (digits spelled out); R@5 of the "
        "heard text beside the same queries typed; recognition time per second of audio, "
        "and the median recognition time of the queries 2-4 s long.\n\n"
        + md_table(
            [
                "voice",
                "wpm",
                "noise",
                "WER",
                "spoken R@5 (vs typed)",
                "typed R@5",
                "recognition s / audio s",
                "s for a 2-4 s query",
            ],
            srows,
        )
        + f"\n\nAll conditions: WER {100 * wer:.1f}% (worst condition per voice: "
        + ", ".join(f"{v} {100 * w:.1f}%" for v, w in per_voice.items())
        + f"); spoken R@5 {spoken_r5:.3f} vs typed {typed_r5:.3f} "
        f"({spoken_r5 / typed_r5 if typed_r5 else float('nan'):.2f}×)"
        + (f"; the same queries as heard without error: R@5 {result['spoken_as_heard_r@5']:.3f}"
           if "spoken_as_heard_r@5" in result else "")
        + ". "
        f"Run time {result['seconds'] / 60:.1f} min.\n"
    )
