"""The words of the served caption_step: special ids, tokens, and sentences from word ids.

The vocabulary file (``repository_layout.VOCABULARY_FILE``) lists words in id order; the
first four are the special tokens below. Training builds vocabularies with ``tokenize``
and the server turns decoded ids back into text with ``detokenize``, so both sides agree
on what a word is without the server importing the training code.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

SPECIALS = ("<pad>", "<bos>", "<eos>", "<unk>")
PAD, BOS, EOS, UNK = 0, 1, 2, 3  # fixed ids of the special tokens in every vocabulary
_TOKEN = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*|[,:]")


def tokenize(text: str) -> list[str]:
    """Lower-case words (hyphenated ones kept whole) plus ',' and ':' (scene structure)."""
    return _TOKEN.findall(text.lower())


def detokenize(words: Iterable[str]) -> str:
    """Words -> a sentence: punctuation attached, first letter capitalised, full stop."""
    text = re.sub(r" ([,:])", r"\1", " ".join(words)).strip(" ,:")
    return f"{text[:1].upper()}{text[1:]}." if text else ""


def sentence(words: tuple[str, ...] | list[str], ids: Iterable[int]) -> str:
    """The sentence of decoded word ids (specials and unknown ids left out)."""
    return detokenize(words[i] for i in ids if len(SPECIALS) <= i < len(words))
