"""The quality report: per-family / per-source scoring, pHash ratio, systems as data, and
the flipped-query pHash baseline on a real photo."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vidsearch.config import VidsearchConfig
from vidsearch.evaluation.benchmark import (
    QualityRow,
    SystemSpec,
    default_systems,
    evaluate,
    load_systems,
    score_run,
    to_markdown,
    with_phash_ratio,
)
from vidsearch.evaluation.systems import (
    PHASH_FLIP_NAME,
    PHASH_NAME,
    SystemRun,
    VideoFile,
    apply_overrides,
    run_phash_variants,
)
from vidsearch.media.corpus import (
    PROCEDURAL_ONLY,
    BenchmarkManifest,
    QueryEntry,
    ReferenceEntry,
    build_copy_benchmark,
)
from vidsearch.media.synthetic import write_video


def _manifest() -> BenchmarkManifest:
    root = Path("/nonexistent")
    refs = [ReferenceEntry("r0", root / "r0.mp4", 30.0),
            ReferenceEntry("r1", root / "r1.mp4", 10.0)]

    def pos(vid: str, ref: str, families: list[str], source: str) -> QueryEntry:
        return QueryEntry(vid, root / f"{vid}.mp4", 5.0, True, ref, (0.0, 5.0), (2.0, 7.0),
                          families=families, source_type=source)

    queries = [
        pos("q0", "r0", ["hflip", "crop"], "photo"),
        pos("q1", "r1", ["rot90"], "real_video"),
        pos("q2", "r0", ["hflip"], "procedural"),
        QueryEntry("q3", root / "q3.mp4", 5.0, False, families=["blur"], source_type="real_video",
                   hard_negative=True),
    ]
    return BenchmarkManifest(root, refs, queries)


def _run() -> SystemRun:
    run = SystemRun("hand-made", index_seconds=2.0, indexed_video_seconds=40.0)
    run.ranked = {"q0": ["r0", "r1"], "q1": ["r0", "r1"], "q2": ["r1"], "q3": ["r1"]}
    run.predictions = [("q0", "r0", 0.9), ("q0", "r1", 0.2), ("q1", "r0", 0.5),
                       ("q1", "r1", 0.4), ("q2", "r1", 0.3), ("q3", "r1", 0.8)]
    run.segments = {("q0", "r0"): ((0.0, 5.0), (2.0, 7.0))}
    return run


def test_per_family_and_per_source_recall() -> None:
    row = score_run(_run(), _manifest())
    assert row.recall_at_1 == pytest.approx(1 / 3)
    assert row.recall_at_10 == pytest.approx(2 / 3)
    assert row.recall_at_1_by_family == {"crop": 1.0, "hflip": 0.5, "rot90": 0.0}
    assert list(row.recall_at_1_by_family) == ["crop", "hflip", "rot90"]  # FAMILIES order
    assert row.recall_at_1_by_source == {"real_video": 0.0, "photo": 1.0, "procedural": 0.0}
    assert "blur" not in row.recall_at_1_by_family  # negatives have no recall
    assert row.mean_segment_iou == pytest.approx(1 / 3)  # q0 exact, q1/q2 missed
    assert row.ms_per_indexed_second == pytest.approx(50.0)
    # pooled: q3's confident false match (0.8) ranks 2nd -> precision 2/3 at q1's hit
    assert row.micro_ap == pytest.approx((1 / 1 + 2 / 4) / 3)


def test_phash_ratio_and_markdown() -> None:
    learned = score_run(_run(), _manifest())
    phash = QualityRow(PHASH_NAME, 2 * learned.micro_ap, 0.0, 0.0, 0.0, 1.0)
    rows = with_phash_ratio([phash, learned])
    assert rows[0].micro_ap_ratio_vs_phash == pytest.approx(1.0)
    assert rows[1].micro_ap_ratio_vs_phash == pytest.approx(0.5)
    text = to_markdown(rows, "summary", _manifest(), ["x: skipped, missing y.pt"])
    assert "| hand-made | 0.500 | 0.50x | 33.3% | 66.7% |" in text
    assert "crop (n=1) | hflip (n=2) | rot90 (n=1) | real_video (n=1) | photo (n=1)" in text
    assert "| hand-made | 100.0% | 50.0% | 0.0% | 0.0% | 100.0% | 0.0% |" in text
    assert "- x: skipped, missing y.pt" in text
    assert with_phash_ratio([learned]) == [learned]  # no pHash row: nothing to divide by


def test_systems_are_data(tmp_path: Path) -> None:
    spec = tmp_path / "systems.yaml"
    spec.write_text(
        "systems:\n"
        "  - name: 2 frames per second\n"
        "    mode: keyframe\n"
        "    overrides: {media: {sample_fps: 2.0}, search: {max_hamming: 30}}\n"
        "  - name: no natural photos\n"
        "    checkpoints: [ablations/no_photos.pt, barlow.pt]\n"
    )
    a, b = load_systems(spec, Path("ck"))
    overrides = {"media": {"sample_fps": 2.0}, "search": {"max_hamming": 30}}
    assert a == SystemSpec("2 frames per second", (Path("ck/video_hash.pt"), Path("ck/barlow.pt")),
                           "keyframe", overrides)
    assert b.checkpoints == (Path("ck/ablations/no_photos.pt"), Path("ck/barlow.pt"))
    assert b.mode == "duration" and b.overrides == {}
    spec.write_text("- name: typo\n  mdoe: keyframe\n")
    with pytest.raises(ValueError, match="unknown keys"):
        load_systems(spec, Path("ck"))
    spec.write_text("- name: bad mode\n  mode: fastest\n")
    with pytest.raises(ValueError, match="mode must be one of"):
        load_systems(spec, Path("ck"))
    assert len(default_systems(Path("ck"))) == 6
    assert len(default_systems(Path("ck"), variants=False)) == 3


def test_config_overrides_apply_and_reject_typos() -> None:
    config = apply_overrides(VidsearchConfig(), {"media": {"sample_fps": 2.0},
                                                 "search": {"max_hamming": 30}})
    assert config.media.sample_fps == 2.0 and config.search.max_hamming == 30
    assert config.media.max_frames == VidsearchConfig().media.max_frames  # the rest kept
    with pytest.raises(ValueError, match=r"search\.max_hammming"):
        apply_overrides(VidsearchConfig(), {"search": {"max_hammming": 30}})
    with pytest.raises(ValueError):  # known field, invalid value: pydantic says so
        apply_overrides(VidsearchConfig(), {"media": {"sample_fps": 0}})


def test_evaluate_runs_both_phash_rows_and_skips_missing_checkpoints(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    build_copy_benchmark(corpus, n_references=2, n_queries=3, positive_ratio=1.0, seed=1,
                         ref_duration_s=(4.0, 5.0), segment_s=(2.0, 3.0), width=64, height=48,
                         progress=False, sources=PROCEDURAL_ONLY)
    skipped: list[str] = []
    missing = SystemSpec("ghost", (tmp_path / "nope.pt",), "keyframe")
    rows = evaluate(corpus, tmp_path, systems=[missing], skipped=skipped, progress=False)
    assert [r.system for r in rows] == [PHASH_NAME, PHASH_FLIP_NAME]
    assert rows[0].micro_ap_ratio_vs_phash == pytest.approx(1.0)
    assert all(r.ms_per_indexed_second and r.ms_per_indexed_second > 0 for r in rows)
    assert skipped == [f"ghost: skipped, missing {tmp_path / 'nope.pt'}"]


def test_flipped_query_phash_finds_a_mirrored_photo_copy(tmp_path: Path) -> None:
    """A mirrored copy of a real photo video: the plain pHash cannot match it (mirroring
    flips the sign of half the DCT terms), the flipped query does, at the right offset."""
    real = pytest.importorskip("vidsearch.media.real_sources")
    try:
        available = {p.key for p in real.photos()}
    except real.MissingRealSourcesError as exc:
        pytest.skip(f"real photos not installed ({exc}); `make test` installs them")
    keys = ["skimage:astronaut.png", "sklearn:china.jpg", "skimage:coffee.png"]
    assert set(keys) <= available
    fps, refs = 4.0, []
    frames0 = None
    for i, key in enumerate(keys):
        shot = real.Shot(key, 40, (0.5, 0.5, 0.7), (0.56, 0.48, 0.6))  # 10 s slow pan
        frames = real.render_shot(shot, 96, 72)
        frames0 = frames if i == 0 else frames0
        refs.append(VideoFile(f"r{i}", write_video(tmp_path / f"r{i}.mp4", frames, fps)))
    assert frames0 is not None
    mirrored = np.ascontiguousarray(frames0[12:32, :, ::-1])  # seconds 3..8, flipped
    query = VideoFile("q", write_video(tmp_path / "q.mp4", mirrored, fps))
    plain, flipped = run_phash_variants(refs, [query], progress=False, flips=(False, True))
    assert plain.name == PHASH_NAME and flipped.name == PHASH_FLIP_NAME
    assert plain.ranked["q"][:1] != ["r0"]
    assert flipped.ranked["q"][:1] == ["r0"]
    _, r_seg = flipped.segments[("q", "r0")]
    assert r_seg[0] == pytest.approx(3.0, abs=1.0) and r_seg[1] == pytest.approx(8.0, abs=1.0)


def test_example_systems_file_loads_and_names_real_config_fields() -> None:
    path = Path(__file__).resolve().parents[2] / "configs/eval/ablations.example.yaml"
    specs = load_systems(path, Path("ck"))
    assert len(specs) == 4 and len({s.name for s in specs}) == 4


@pytest.mark.parametrize("path", sorted((Path(__file__).resolve().parents[2] / "configs/eval")
                                        .glob("*.yaml")), ids=lambda p: p.stem)
def test_every_systems_file_names_real_config_fields(path: Path) -> None:
    """A published table's rows must apply: a renamed field fails here, not an hour into
    ``vidsearch eval``."""
    specs = load_systems(path, Path("ck"))
    assert specs and len({s.name for s in specs}) == len(specs)
    for spec in specs:
        apply_overrides(VidsearchConfig(), spec.overrides)  # raises on a field that is gone


def test_copy_ablations_differ_from_their_baseline_in_one_thing_each() -> None:
    """The training ablation rows (input size, natural photos) are honest only if each
    variant's recipe is the baseline's with one change, and the eval rows name them."""
    from vidsearch.training.config import CopyReleaseConfig, load_yaml

    root = Path(__file__).resolve().parents[2]
    recipes = {p.stem: CopyReleaseConfig.model_validate(load_yaml(p)).model_dump()
               for p in sorted((root / "configs/training/ablations").glob("*.yaml"))}
    base = recipes.pop("copy_112px")

    def changes(a: dict, b: dict, at: str = "") -> list[str]:
        if isinstance(a, dict) and isinstance(b, dict):
            return [c for k in a for c in changes(a[k], b[k], f"{at}.{k}")]
        return [] if a == b else [at]

    assert changes(base, recipes["copy_64px"]) == [".descriptor.model.backbone.input_size"]
    # A larger input is rendered larger too (else it would see an upscaled 112 px frame).
    for size in (160, 224):
        recipe = recipes[f"copy_{size}px"]
        assert sorted(changes(base, recipe)) == [
            ".data.frame_size", ".data.render_height", ".data.render_width",
            ".descriptor.model.backbone.input_size"]
        assert recipe["data"]["frame_size"] == size
        assert recipe["descriptor"]["model"]["backbone"]["input_size"] == size
        for side in ("render_width", "render_height"):  # the baseline's render / input ratio
            ratio = base["data"][side] / base["data"]["frame_size"]
            assert recipe["data"][side] / size == pytest.approx(ratio, rel=0.05)
    assert sorted(changes(base, recipes["copy_no_photos"])) == [
        ".data.n_videos", ".data.photo_videos"]
    assert base["data"]["photo_videos"] > 0
    assert recipes["copy_no_photos"]["data"]["photo_videos"] == 0
    specs = [spec for name in ("copy_ablations", "copy_input_size")
             for spec in load_systems(root / f"configs/eval/{name}.yaml", Path("ck"))]
    named = {spec.checkpoints[0].parent.name for spec in specs}
    assert {"copy_112px", *recipes} <= named
