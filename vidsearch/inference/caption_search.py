"""Greedy and beam-search decoding over a one-word caption step (numpy only).

Where the loop runs: here, in the orchestrator, over the served ``caption_step`` model
(explicit h/c state in, log-probabilities and the new state out), not inside a Triton
python/BLS model. The same loop then works unchanged on ONNX Runtime in-process and on
a remote Triton (a BLS model would exist only for Triton, and the embedded backend would
need a second decoder); the step is a few small matrix products, so the per-call
overhead is what a loop pays either way, and each step of a beam is one batched call.
The trainer evaluates with this same function over the PyTorch step, so the reported
caption metrics are those of the served decoding.

``Step``: ``(words [N] int64, h [N,H], c [N,H], rows [N] int64) -> (log_probs [N,V],
h, c)``; ``rows`` says which video (row of the memory the caller bound) each row decodes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

Step = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
                tuple[np.ndarray, np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class Decoded:
    """One sentence: word ids (no BOS/EOS), their summed log-probability, the search score."""

    ids: tuple[int, ...]
    log_prob: float
    score: float


def greedy(step: Step, h: np.ndarray, c: np.ndarray, *, bos: int, eos: int,
           max_len: int) -> list[Decoded]:
    """The most likely word at each step, for every video of the batch (h, c [B,H])."""
    b = h.shape[0]
    rows = np.arange(b, dtype=np.int64)
    words = np.full(b, bos, dtype=np.int64)
    out: list[list[int]] = [[] for _ in range(b)]
    total = np.zeros(b)
    done = np.zeros(b, dtype=bool)
    for _ in range(max_len):
        logp, h, c = step(words, h, c, rows)
        words = logp.argmax(axis=-1).astype(np.int64)
        for i in np.nonzero(~done)[0]:
            total[i] += logp[i, words[i]]
            if words[i] == eos:
                done[i] = True
            else:
                out[i].append(int(words[i]))
        if done.all():
            break
    return [Decoded(tuple(ids), float(s), float(s)) for ids, s in zip(out, total, strict=True)]


def _score(log_prob: float, length: int, alpha: float) -> float:
    """Length-normalised score: log P / ((5 + n) / 6) ** alpha (GNMT); alpha 0 = log P."""
    return log_prob / (((5.0 + length) / 6.0) ** alpha) if alpha else log_prob


def beam_search(step: Step, h: np.ndarray, c: np.ndarray, *, bos: int, eos: int,
                max_len: int, beam: int = 5, alpha: float = 0.0, row: int = 0) -> Decoded:
    """The best sentence of one video (h, c [H]) among ``beam`` hypotheses kept per step.

    A hypothesis ends when it emits EOS; the search stops when ``beam`` have ended (or at
    ``max_len``, where the live ones count too) and returns the best by ``_score``."""
    seqs: list[tuple[int, ...]] = [()]
    logps = np.zeros(1)
    hs, cs = h[None], c[None]
    words = np.array([bos], dtype=np.int64)
    finished: list[Decoded] = []
    for _ in range(max_len):
        logp, hs, cs = step(words, hs, cs, np.full(len(seqs), row, dtype=np.int64))
        total = (logps[:, None] + logp).ravel()
        vocab = logp.shape[1]
        order = np.argsort(-total, kind="stable")
        keep: list[int] = []
        for flat in order:
            src, word = divmod(int(flat), vocab)
            if word == eos:
                n = len(seqs[src]) + 1
                finished.append(Decoded(seqs[src], float(total[flat]),
                                        _score(float(total[flat]), n, alpha)))
            else:
                keep.append(int(flat))
            if len(keep) == beam or len(finished) >= beam:
                break
        if len(finished) >= beam or not keep:
            break
        src_rows = np.array([k // vocab for k in keep])
        words = np.array([k % vocab for k in keep], dtype=np.int64)
        seqs = [(*seqs[k // vocab], k % vocab) for k in keep]
        logps = total[keep]
        hs, cs = hs[src_rows], cs[src_rows]
    if len(finished) < beam:  # max_len words: the unfinished hypotheses compete too
        finished += [Decoded(s, float(lp), _score(float(lp), len(s), alpha))
                     for s, lp in zip(seqs, logps, strict=True)]
    return max(finished, key=lambda d: d.score)
