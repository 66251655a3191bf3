"""Seed 003 held-out retrieval metrics: computed by the trainer, so they live in
``vidsearch.training.text_video_metrics`` (training never imports evaluation); this name
stays for the benchmarks that import it from here."""

from vidsearch.training.text_video_metrics import evaluate_text_video

__all__ = ["evaluate_text_video"]
