"""Text-search keyword extraction: KeyBERT with OUR local all-MiniLM-L6-v2.

KeyBERT ranks candidate n-grams (1..L words, English stop words removed) by the cosine
between their embedding and the document's. The patent lemmatises; no lemmatiser ships
here, so keywords are normalised instead: lowercased, whitespace collapsed, a plural
``-s`` stripped from words longer than three letters, and duplicates dropped.

Training embeds candidates with the PyTorch MiniLM (sentence-transformers); the server
passes ``embed``, a function calling the SERVED text encoder (ONNX Runtime or Triton),
so the same keywords come out without torch in the serving path.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from vidsearch.networks.text_encoder import _offline, minilm_path

_KEEP_S = ("ss", "us", "is")


def normalise_keyword(text: str) -> str:
    """Lowercase, collapse spaces, crude singular (the stand-in for lemmatisation)."""
    words = re.findall(r"[a-z0-9]+", text.lower())
    out = [w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith(_KEEP_S) else w
           for w in words]
    return " ".join(out)


@lru_cache(maxsize=1)
def _keybert() -> Any:
    _offline()
    from keybert import KeyBERT
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(minilm_path()), device="cpu", local_files_only=True)
    return KeyBERT(model=model)


TextEmbedder = Callable[[list[str]], np.ndarray]


def _keybert_with(embed: TextEmbedder) -> Any:
    """KeyBERT over a caller-supplied embedding function (KeyBERT's backend interface)."""
    from keybert import KeyBERT
    from keybert.backend import BaseEmbedder

    class _Served(BaseEmbedder):
        def embed(self, documents: list[str], verbose: bool = False) -> np.ndarray:
            return np.asarray(embed(list(documents)), dtype=np.float32)

    return KeyBERT(model=_Served())


class KeywordExtractor:
    """K keywords of up to L words per text (text search's keyword enhancement)."""

    def __init__(self, k: int = 4, max_words: int = 2, embed: TextEmbedder | None = None) -> None:
        self.k, self.max_words = k, max_words
        self._keybert = _keybert_with(embed) if embed is not None else None

    def __call__(self, text: str) -> list[str]:
        return self.extract([text])[0]

    def extract(self, texts: Sequence[str]) -> list[list[str]]:
        """Batch extraction; a text with no candidate keywords gets an empty list."""
        if not texts:
            return []
        raw = (self._keybert or _keybert()).extract_keywords(
            list(texts), keyphrase_ngram_range=(1, self.max_words), stop_words="english",
            top_n=self.k * 2)
        if texts and raw and isinstance(raw[0], tuple):  # a single text returns a flat list
            raw = [raw]
        out: list[list[str]] = []
        for pairs in raw:
            seen: list[str] = []
            for phrase, _score in pairs:
                norm = normalise_keyword(phrase)
                if norm and norm not in seen:
                    seen.append(norm)
                if len(seen) == self.k:
                    break
            out.append(seen)
        return out
