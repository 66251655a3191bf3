"""Encoding of one archive chunk: a batch of stored points as a pickle-free ``.npz``."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vidsearch.catalog import schema as sc


@dataclass(frozen=True)
class StoredPoint:
    """One point exactly as stored: id, named vectors, payload."""

    point_id: str
    vectors: dict[str, list[float]]
    payload: dict[str, Any]


def content_digest(members: dict[str, str]) -> str:
    """One SHA-256 naming an archive's content: over its members' names and digests."""
    joined = "\n".join(f"{name} {digest}" for name, digest in sorted(members.items()))
    return hashlib.sha256(joined.encode()).hexdigest()


def vector_sizes(dims: sc.Dims, store: str) -> dict[str, int]:
    """Named vectors of a store and their sizes (embedding, text: videos only, when
    configured; a video may lack either, hence the presence masks)."""
    sizes = {sc.VEC_HASH: sc.HASH_BITS, sc.VEC_TEXTURE: dims.texture}
    if store == sc.VIDEOS and dims.embedding is not None:
        sizes[sc.VEC_EMBEDDING] = dims.embedding
    if store == sc.VIDEOS and dims.text is not None:
        sizes[sc.VEC_TEXT] = dims.text
    if store == sc.VIDEOS and dims.sentence is not None:
        sizes[sc.VEC_SENTENCE] = dims.sentence
    return sizes


def pack_chunk(points: Sequence[StoredPoint], sizes: dict[str, int]) -> bytes:
    """Points as one ``.npz``: ids, JSON payloads, and per vector name a float32 matrix
    with a presence mask (a video may lack an embedding). No pickles."""
    arrays: dict[str, np.ndarray] = {
        "ids": np.array([p.point_id for p in points], dtype=str),
        "payloads": np.array([json.dumps(p.payload, sort_keys=True) for p in points], dtype=str),
    }
    for name, size in sizes.items():
        values = np.zeros((len(points), size), np.float32)
        present = np.zeros(len(points), bool)
        for i, point in enumerate(points):
            if name in point.vectors:
                values[i], present[i] = point.vectors[name], True
        arrays[f"vec_{name}"], arrays[f"has_{name}"] = values, present
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def unpack_chunk(data: bytes, sizes: dict[str, int]) -> list[StoredPoint]:
    """Inverse of ``pack_chunk``; refuses pickled objects (``allow_pickle=False``)."""
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        ids, payloads = npz["ids"], npz["payloads"]
        vectors = {n: (npz[f"vec_{n}"], npz[f"has_{n}"]) for n in sizes}
    return [
        StoredPoint(
            str(point_id),
            {n: v[i].tolist() for n, (v, has) in vectors.items() if has[i]},
            json.loads(str(payloads[i])),
        )
        for i, point_id in enumerate(ids)
    ]


def chunk_summary(
    data: bytes, sizes: dict[str, int], *, with_payloads: bool
) -> tuple[int, list[dict[str, Any]]]:
    """Point count (and payloads if asked) of a chunk, checking every array's shape,
    without building the vectors: the cheap pass a restore makes before it starts."""
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        count = len(npz["ids"])
        for name, size in sizes.items():
            if npz[f"vec_{name}"].shape != (count, size) or npz[f"has_{name}"].shape != (count,):
                raise ValueError(f"vector {name!r} does not have {count} rows of {size}")
        payloads = [json.loads(str(p)) for p in npz["payloads"]] if with_payloads else []
        if len(npz["payloads"]) != count:
            raise ValueError(f"{len(npz['payloads'])} payloads for {count} points")
    return count, payloads
