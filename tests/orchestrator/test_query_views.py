"""Query views ride in the same encoder batches: each view's rows are the codes of its
pictures of the key frames, and the original outputs do not change (real ONNX Runtime,
toy models)."""

from __future__ import annotations

import numpy as np
import pytest

from vidsearch.exporters.pipeline import export_family
from vidsearch.inference.onnxruntime_backend import OnnxRuntimeBackend
from vidsearch.orchestrator.encoding import DecodedFrames, VideoEncoder
from vidsearch.orchestrator.query_views import QUERY_VIEWS, REGIONS, view_frames, view_names


@pytest.fixture(scope="module")
def encoder(tmp_path_factory: pytest.TempPathFactory) -> VideoEncoder:
    repository = tmp_path_factory.mktemp("toy_repository")
    export_family("toy", None, repository, seed=0)
    return VideoEncoder(OnnxRuntimeBackend(repository), timeout_s=30.0, batch_size=4)


def _decoded(frames: np.ndarray) -> DecodedFrames:
    n = len(frames)
    return DecodedFrames(frames, np.arange(n, dtype=np.float64), float(n))


def test_view_names_expand_regions_into_five_windows() -> None:
    assert view_names(["flip"]) == ("flip",)
    assert view_names(list(QUERY_VIEWS)) == ("flip", "rot90", "rot270", *REGIONS)
    with pytest.raises(ValueError, match="unknown query view"):
        view_frames(np.zeros((1, 8, 8, 3), np.uint8), "rot45")


def test_views_are_the_pictures_a_copy_may_be() -> None:
    """Each view undoes one large edit: a mirrored copy's flip view is the original, a
    turned copy's opposite turn is the original, an inset's window holds the inset."""
    rng = np.random.default_rng(1)
    frames = rng.integers(0, 256, size=(2, 40, 40, 3), dtype=np.uint8)
    np.testing.assert_array_equal(view_frames(view_frames(frames, "flip"), "flip"), frames)
    np.testing.assert_array_equal(view_frames(view_frames(frames, "rot90"), "rot270"), frames)
    host = np.zeros_like(frames)
    host[:, :24, :24] = frames[:, :24, :24]  # an inset in the top-left 60%
    window = view_frames(host, "region_top_left")
    assert window.shape == frames.shape
    assert window.mean() > 2 * view_frames(host, "region_bottom_right").mean()


def test_view_rows_are_the_view_frames_and_originals_are_unchanged(
    encoder: VideoEncoder,
) -> None:
    rgb = np.random.default_rng(2).integers(0, 256, size=(5, 32, 32, 3), dtype=np.uint8)
    plain = encoder(_decoded(rgb))
    names = view_names(["flip", "rot90", "regions"])
    both = encoder(_decoded(rgb), views=names)  # 5 x 8 frames over batches of 4
    assert plain.views == ()
    assert [v.name for v in both.views] == list(names)
    np.testing.assert_allclose(both.keyframe_texture, plain.keyframe_texture, atol=1e-5)
    np.testing.assert_array_equal(both.keyframe_bits, plain.keyframe_bits)
    np.testing.assert_allclose(both.video_texture, plain.video_texture, atol=1e-5)
    for view in both.views:
        alone = encoder(_decoded(view_frames(rgb, view.name)))
        assert view.texture.shape == both.keyframe_texture.shape
        np.testing.assert_allclose(view.texture, alone.keyframe_texture, atol=1e-5)
        np.testing.assert_array_equal(view.bits, alone.keyframe_bits)
        assert not np.allclose(view.texture, both.keyframe_texture, atol=1e-3)
