"""The Triton model repository layout: ``<repository>/<model>/<version>/model.onnx``.

The exporters write this layout and the embedded backend serves it, so its file names
and version folders are defined here, below both.
"""

from __future__ import annotations

from pathlib import Path

MODEL_FILE = "model.onnx"
CONFIG_FILE = "config.pbtxt"
# Beside a caption_step version's model.onnx: its words in id order (a JSON list).
VOCABULARY_FILE = "vocabulary.json"
# Beside it: the spoken-query language model (ARPA bigrams of the training captions).
SPEECH_LM_FILE = "speech_lm.arpa"
# Beside it: the captions' synonym groups, {term: [phrases]} (JSON), for SearchBySentence.
SYNONYMS_FILE = "synonyms.json"
# Beside a tag_encoder version's model.onnx: the texts of the tags it was trained on (a JSON
# list), so a live tag's unseen words can be rewritten to trained ones (contract.thesaurus).
TRAINING_TAGS_FILE = "training_tags.json"
# Beside a text_encoder version's model.onnx: the words of the captions it was trained on
# and their fact phrases, {"words": [...], "targets": [...]} (JSON), for the same rewrite of
# a text query's unseen words.
TRAINING_WORDING_FILE = "training_wording.json"


def version_dir(repository: Path, model: str, version: int) -> Path:
    """The folder of one version of one model: its model.onnx and the files beside it."""
    return repository / model / str(version)


def version_dirs(model_dir: Path) -> dict[int, Path]:
    """Numeric version folders of one model (hidden staging folders are ignored)."""
    if not model_dir.is_dir():
        return {}
    return {
        int(child.name): child
        for child in model_dir.iterdir()
        if child.is_dir() and child.name.isdigit() and int(child.name) > 0
    }
