"""Fixtures shared by the catalog tests: every backend, and small synthetic videos."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from qdrant_client import QdrantClient

from vidsearch.catalog import (
    HASH_BITS,
    Catalog,
    KeyFrame,
    QdrantCatalog,
    QdrantClusterCatalog,
    QdrantEdgeCatalog,
    VideoRecord,
)
from vidsearch.catalog import schema as sc
from vidsearch.catalog.base import TextFeatures
from vidsearch.catalog.snapshot_chunks import StoredPoint

TEXTURE_DIM = 8
EMBEDDING_DIM = 4
TEXT_DIM = 6
TEXT_LOCAL_DIM = 5


class Backend:
    """Opens (and re-opens, from the same place) one catalog implementation."""

    def __init__(self, kind: str, path: Path) -> None:
        self.kind = kind
        self.path = path
        self.opened: list[Catalog] = []

    def open(
        self,
        texture_dim: int | None = TEXTURE_DIM,
        embedding_dim: int | None = EMBEDDING_DIM,
        text_dim: int | None = TEXT_DIM,
    ) -> Catalog:
        catalog: Catalog
        if self.kind == "edge":
            catalog = QdrantEdgeCatalog(
                self.path, texture_dim=texture_dim, embedding_dim=embedding_dim, text_dim=text_dim
            )
        else:
            client = QdrantClient(path=str(self.path))
            try:
                catalog = QdrantClusterCatalog(
                    client,
                    prefix="t",
                    texture_dim=texture_dim,
                    embedding_dim=embedding_dim,
                    text_dim=text_dim,
                    replication_factor=1,
                    shard_number=1,
                )
            except Exception:
                client.close()
                raise
        self.opened.append(catalog)
        return catalog

    @staticmethod
    def write_frames_only(catalog: Catalog, video: VideoRecord, generation: int) -> None:
        """Simulate a writer that died after its key frames, before the video point."""
        assert isinstance(catalog, QdrantCatalog)
        points = [StoredPoint(*p) for p in sc.keyframe_points(video, generation)]
        catalog.store.upsert(sc.KEYFRAMES, points)
        catalog.store.flush(sc.KEYFRAMES)

    def close_all(self) -> None:
        for catalog in self.opened:
            catalog.close()


@pytest.fixture(params=["edge", "local"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    b = Backend(request.param, tmp_path / "catalog")
    yield b
    b.close_all()


@pytest.fixture
def make_backend(tmp_path: Path) -> Iterator[Callable[[str, str], Backend]]:
    """Further catalogs of any kind in named folders (restore targets), closed after."""
    made: list[Backend] = []

    def make(kind: str, name: str) -> Backend:
        made.append(Backend(kind, tmp_path / name))
        return made[-1]

    yield make
    for b in made:
        b.close_all()


@pytest.fixture
def catalog(backend: Backend) -> Catalog:
    return backend.open()


class Maker:
    """Deterministic synthetic codes, textures and videos."""

    def __init__(self, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)

    def code(self) -> np.ndarray:
        return np.where(self.rng.random(HASH_BITS) < 0.5, -1.0, 1.0).astype(np.float32)

    @staticmethod
    def flip(code: np.ndarray, n: int, start: int = 0) -> np.ndarray:
        """``code`` with bits ``start .. start+n-1`` flipped: Hamming distance exactly n."""
        out = code.copy()
        out[start : start + n] *= -1
        return out

    def texture(self, scale: float = 1.0) -> np.ndarray:
        return (self.rng.normal(size=TEXTURE_DIM) * scale).astype(np.float32)

    def embedding(self) -> np.ndarray:
        return self.rng.normal(size=EMBEDDING_DIM).astype(np.float32)

    def text(self, frames: int = 3, model_version: int = 1) -> TextFeatures:
        emb = self.rng.normal(size=TEXT_DIM).astype(np.float32)
        return TextFeatures(
            embedding=emb / np.linalg.norm(emb),
            local=self.rng.normal(size=(frames, TEXT_LOCAL_DIM)).astype(np.float32),
            frames=self.rng.normal(size=(frames, TEXT_LOCAL_DIM)).astype(np.float32),
            model_version=model_version,
        )

    def frames(self, n: int) -> list[KeyFrame]:
        return [KeyFrame(float(i), self.code(), self.texture()) for i in range(n)]

    def video(
        self,
        video_id: str,
        *,
        code: np.ndarray | None = None,
        texture: np.ndarray | None = None,
        frames: int | list[KeyFrame] = 0,
        embedding: np.ndarray | None = None,
        model_version: int = 1,
        text: TextFeatures | None = None,
    ) -> VideoRecord:
        return VideoRecord(
            video_id=video_id,
            hash_bits=self.code() if code is None else code,
            texture=self.texture() if texture is None else texture,
            duration_s=12.5,
            model_version=model_version,
            keyframes=self.frames(frames) if isinstance(frames, int) else frames,
            embedding=embedding,
            text=text,
            title=f"title {video_id}",
            tags=("a", "b"),
            source="test",
            content_sha256="ab" * 32,
        )


@pytest.fixture
def mk() -> Maker:
    return Maker()
