"""A tiny copy benchmark: files, manifest round trip and honest ground truth."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from vidsearch.media.corpus import (
    FAMILIES,
    PROCEDURAL_ONLY,
    SOURCE_TYPES,
    BenchmarkManifest,
    QueryEntry,
    ReferenceEntry,
    _plan,
    _Settings,
    build_copy_benchmark,
    load_manifest,
)
from vidsearch.media.corpus_cli import register
from vidsearch.media.decode import decode_video, probe_video
from vidsearch.media.real_sources import photo_by_key, photo_halves
from vidsearch.media.synthetic import BENCH_NEGATIVE_SEEDS, BENCH_REFERENCE_SEEDS
from vidsearch.media.transforms import PictureInPicture, transform_from_dict

TINY: dict[str, Any] = {
    "ref_duration_s": (3.0, 4.0), "segment_s": (1.5, 2.5), "width": 64, "height": 48,
    "progress": False,
}


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> BenchmarkManifest:
    return build_copy_benchmark(
        tmp_path_factory.mktemp("bench"), n_references=3, n_queries=4, seed=3, **TINY
    )


def test_files_and_counts(bench: BenchmarkManifest) -> None:
    assert [r.video_id for r in bench.references] == ["r0000", "r0001", "r0002"]
    assert [q.video_id for q in bench.queries] == ["q0000", "q0001", "q0002", "q0003"]
    assert sum(q.positive for q in bench.queries) == round(4 * 0.6)
    entries: list[ReferenceEntry | QueryEntry] = [*bench.references, *bench.queries]
    for entry in entries:
        assert entry.path.is_file() and entry.path.suffix == ".mp4"
        probe = probe_video(entry.path)
        assert probe.codec == "h264"
        assert probe.duration_s == pytest.approx(entry.duration_s, abs=0.3)
    for r in bench.references:
        if r.source_type == "procedural":
            assert BENCH_REFERENCE_SEEDS <= r.seed < BENCH_NEGATIVE_SEEDS
        assert 3.0 <= r.duration_s <= 4.0


def test_manifest_round_trip(bench: BenchmarkManifest) -> None:
    loaded = load_manifest(bench.root)
    assert loaded == bench
    assert load_manifest(bench.root / "manifest.json") == bench
    assert loaded.ground_truth_pairs() == {
        (q.video_id, q.reference_id) for q in bench.queries if q.positive
    }


def test_ground_truth_consistent(bench: BenchmarkManifest) -> None:
    refs = {r.video_id: r for r in bench.references}
    for q in bench.queries:
        assert 1 <= len(q.families) <= 3 and set(q.families) <= set(FAMILIES)
        assert sorted(t["name"] for t in q.transforms) == sorted(set(q.families) - {"embed"})
        assert q.embedded == ("embed" in q.families)
        if not q.positive:
            assert q.reference_id is None and q.query_segment is None
            assert q.reference_segment is None
            continue
        assert q.reference_id in refs and q.query_segment and q.reference_segment
        q0, q1 = q.query_segment
        r0, r1 = q.reference_segment
        assert 0.0 <= q0 < q1 <= q.duration_s + 1e-6
        assert 0.0 <= r0 < r1 <= refs[q.reference_id].duration_s + 1e-6
        speed = next((t["factor"] for t in q.transforms if t["name"] == "speed"), 1.0)
        assert (q1 - q0) == pytest.approx((r1 - r0) / speed, abs=0.3)


def test_deterministic(bench: BenchmarkManifest, tmp_path: Path) -> None:
    """Same seed, same benchmark, for any worker count. Compared decoded, not byte for
    byte: libx264 through PyAV here now and then emits a slightly different bitstream for
    identical frames (more visibly at the lower qualities, crf up to 30, that files now
    get); the plan itself is compared exactly in test_default_plan_..."""
    again = build_copy_benchmark(tmp_path, n_references=3, n_queries=4, seed=3, workers=2, **TINY)

    def rel(m: BenchmarkManifest) -> list[tuple[object, ...]]:
        entries: list[ReferenceEntry | QueryEntry] = [*m.references, *m.queries]
        return [(e.video_id, e.path.relative_to(m.root), e.duration_s) for e in entries]

    assert rel(again) == rel(bench)
    assert [r.seed for r in again.references] == [r.seed for r in bench.references]
    for a, b in zip(again.queries, bench.queries, strict=True):
        assert (a.transforms, a.query_segment, a.reference_segment, a.reference_id) == (
            b.transforms, b.query_segment, b.reference_segment, b.reference_id)
        fa = decode_video(a.path, fps=8.0, size=32).frames.astype(np.float32)
        fb = decode_video(b.path, fps=8.0, size=32).frames
        assert np.abs(fa - fb).mean() < 6


def _frames(path: Path, fps: float) -> np.ndarray:
    return decode_video(path, fps=fps, size=32).frames.astype(np.float32)


def test_untransformed_copies_match_the_reference_pixels(tmp_path: Path) -> None:
    """With no edits, the query span must show the reference span frame for frame."""
    m = build_copy_benchmark(tmp_path, n_references=3, n_queries=4, positive_ratio=1.0,
                             seed=5, chain_length=(0, 0), **TINY)
    refs = {r.video_id: r for r in m.references}
    assert not any(q.transforms or q.embedded for q in m.queries)
    for q in m.queries:
        assert q.query_segment and q.reference_segment and q.reference_id
        ref = refs[q.reference_id]
        got, want = _frames(q.path, ref.fps), _frames(ref.path, ref.fps)
        (q0, q1), (r0, _) = q.query_segment, q.reference_segment
        qa, qb, ra = round(q0 * ref.fps), round(q1 * ref.fps), round(r0 * ref.fps)
        copied = got[qa:qb]
        assert len(copied) >= 0.9 * (q1 - q0) * ref.fps
        assert np.abs(copied - want[ra : ra + len(copied)]).mean() < 12  # codec noise only
        if ra >= 2:  # and not what came before it (content moves: a wrong offset shows)
            shifted = want[ra - 2 : ra - 2 + len(copied)]
            assert np.abs(copied[: len(shifted)] - shifted).mean() > np.abs(
                copied - want[ra : ra + len(copied)]).mean()


@pytest.fixture(scope="module")
def every_family(tmp_path_factory: pytest.TempPathFactory) -> BenchmarkManifest:
    """One family per positive query: 18 positives cover all 17 families."""
    return build_copy_benchmark(
        tmp_path_factory.mktemp("families"), n_references=4, n_queries=20, positive_ratio=0.9,
        seed=2, chain_length=(1, 1), **TINY,
    )


def test_every_family_and_source_type_appears(every_family: BenchmarkManifest) -> None:
    positives = [q for q in every_family.queries if q.positive]
    assert {f for q in positives for f in q.families} == set(FAMILIES)
    assert {"rot90", "emoji", "embed"} <= set(FAMILIES)
    assert {r.source_type for r in every_family.references} == set(SOURCE_TYPES)
    assert {q.source_type for q in positives} == set(SOURCE_TYPES)


def test_rot90_and_embedded_copies_keep_their_timing(every_family: BenchmarkManifest) -> None:
    """Pixel check of the ground truth: the rot90 copy turned back, and the plain copy
    embedded in host content, show the reference span; the host around it does not."""
    refs = {r.video_id: r for r in every_family.references}
    checked = set()
    for q in every_family.queries:
        if not q.positive or q.families[0] not in ("rot90", "embed"):
            continue
        assert q.query_segment and q.reference_segment and q.reference_id
        ref = refs[q.reference_id]
        got, want = _frames(q.path, ref.fps), _frames(ref.path, ref.fps)
        if q.families == ["rot90"]:
            k = transform_from_dict(q.transforms[0]).k  # type: ignore[attr-defined]
            got = np.ascontiguousarray(np.rot90(got, -k, axes=(1, 2)))
            assert q.query_segment == pytest.approx((0.0, q.duration_s), abs=1e-6)
        (q0, q1), (r0, r1) = q.query_segment, q.reference_segment
        assert (q1 - q0) == pytest.approx(r1 - r0, abs=1e-6)  # no retiming in either
        qa, qb, ra = round(q0 * ref.fps), round(q1 * ref.fps), round(r0 * ref.fps)
        copied = got[qa:qb]
        assert np.abs(copied - want[ra : ra + len(copied)]).mean() < 14
        if q.families == ["embed"]:
            assert q.embedded and q.duration_s > q1 - q0
            host = np.concatenate([got[:qa], got[qb:]])
            assert len(host) > 0
            assert np.abs(host[:, None] - want[None, ra : ra + len(copied)]).mean() > 20
        checked.add(q.families[0])
    assert checked == {"rot90", "embed"}


def test_hard_negatives_are_never_references_nor_positives(tmp_path: Path) -> None:
    m = build_copy_benchmark(tmp_path, n_references=6, n_queries=12, positive_ratio=0.5,
                             seed=4, hard_negative_ratio=1.0, **TINY)
    hard = [q for q in m.queries if q.hard_negative]
    assert len(hard) == 6
    ref_sources = {shot for r in m.references for shot in r.source.split(" | ")}
    ref_paths = {r.path for r in m.references}
    for q in hard:
        assert not q.positive and q.reference_id is None and q.query_segment is None
        assert q.path not in ref_paths and not set(q.source.split(" | ")) & ref_sources
        assert q.source_type in ("real_video", "photo")
        assert (q.video_id, None) not in m.ground_truth_pairs()
    assert all(q.reference_id is None for q in m.queries if not q.positive)
    indexed = {s.split("|")[0].strip().split("[")[0].split("@")[0] for s in ref_sources}
    for q in hard:  # the material is indexed: the same photo, the same static camera
        assert q.source.split("[")[0].split("@")[0] in indexed, q.source
    for q in hard:  # another window of an indexed video never overlaps an indexed one
        if q.source_type != "real_video":
            continue
        name, span = q.source.split("@")
        q0 = float(span.split("s+")[0])
        q1 = q0 + float(span.split("s+")[1].rstrip("s"))
        for r in m.references:
            if r.source.startswith(name + "@"):
                r0 = float(r.source.split("@")[1].split("s+")[0])
                r1 = r0 + float(r.source.split("s+")[1].rstrip("s"))
                assert q1 <= r0 or q0 >= r1, (q.source, r.source)


def _settings(**kw: Any) -> _Settings:
    base: dict[str, Any] = {
        "n_refs": 150, "n_queries": 200, "positive_ratio": 0.6, "hard_negative_ratio": 0.4,
        "seed": 0, "ref_duration_s": (20.0, 40.0), "segment_s": (6.0, 15.0), "fps": 8.0,
        "width": 160, "height": 120, "chain_length": (1, 3), "sources": SOURCE_TYPES,
        "vary_encoding": True,
    }
    return _Settings(**{**base, **kw})


def test_default_plan_sizes_families_and_hard_photo_negatives() -> None:
    """The default corpus, planned without rendering: >= 8 positives per family, 40%
    negatives with hard ones, every source type, and a hard photo negative only ever
    shows the half of its photo that no reference shows."""
    jobs, info = _plan(_settings())
    refs = [j.reference for j in jobs if j.reference]
    queries = [q for j in jobs for q in j.queries]
    assert len(refs) == 150 and len(queries) == 200
    positives = [q for q in queries if q.positive]
    assert len(positives) == 120
    per_family = {f: sum(f in q.families for q in positives) for f in FAMILIES}
    assert min(per_family.values()) >= 8, per_family
    assert {r.source.kind for r in refs} == set(SOURCE_TYPES)
    per_type = {t: sum(q.source.kind == t for q in positives) for t in SOURCE_TYPES}
    assert min(per_type.values()) >= 30, per_type
    hard = [q for q in queries if q.hard_negative]
    assert len(hard) == 32 and not any(q.positive for q in hard)
    shown: dict[str, set[tuple[float, ...]]] = {}
    for r in refs:
        for shot in r.source.shots:
            photo = photo_by_key()[shot.photo]
            aspect = r.source.width / r.source.height
            halves = _halves_of(shot, photo, aspect)
            assert len(halves) == 1  # a reference's camera stays inside one half
            shown.setdefault(shot.photo, set()).update(halves)
    hard_photos = [q for q in hard if q.source.kind == "photo"]
    assert hard_photos
    for q in hard_photos:
        (shot,) = q.source.shots
        assert shot.photo in shown  # hard: the photo is indexed ...
        halves = _halves_of(shot, photo_by_key()[shot.photo], q.source.width / q.source.height)
        assert len(halves) == 1 and not halves & shown[shot.photo]  # ... but not this half
    assert info["reference_source_types"] == {t: sum(r.source.kind == t for r in refs)
                                              for t in SOURCE_TYPES}
    # No file property separates copies from negatives: same frame rates, sizes, lengths.
    negatives = [q for q in queries if not q.positive]

    def props(qs: list[Any], attr: str) -> set[Any]:
        return {getattr(q.source, attr) for q in qs}

    for attr in ("fps", "height"):
        assert props(positives, attr) == props(negatives, attr), attr
    pos_s = np.mean([q.n_frames / q.source.fps for q in positives])
    neg_s = np.mean([q.n_frames / q.source.fps for q in negatives])
    assert abs(pos_s - neg_s) < 0.15 * pos_s
    assert len({r.source.fps for r in refs}) >= 3 and len({r.crf for r in refs}) >= 5
    # Hosts (embedding, picture-in-picture) show negative-only photos or procedural
    # negatives, never reference material.
    negative_only = set(info["negative_only_photos"])
    assert negative_only and not negative_only & shown.keys()
    hosts = [q.host for q in queries if q.host is not None]
    assert {h.kind for h in hosts} == {"photo", "procedural"}
    for h in hosts:
        assert {s.photo for s in h.shots} <= negative_only
        assert h.kind != "procedural" or h.seed >= BENCH_NEGATIVE_SEEDS
    pips = [t for q in queries for t in q.chain if isinstance(t, PictureInPicture)]
    assert any(p.host_photo for p in pips) and any(not p.host_photo for p in pips)
    assert {p.host_photo for p in pips} - {""} <= negative_only
    again, _ = _plan(_settings())
    assert again == jobs  # deterministic from the seed


def _halves_of(shot: Any, photo: Any, aspect: float) -> set[tuple[float, ...]]:
    """Halves of the photo that the shot's camera windows (start and end) touch."""
    out = set()
    for cx, cy, wh in (shot.start, shot.end):  # fractions of the photo height
        x0, x1 = (cx - wh * aspect / 2) * photo.height, (cx + wh * aspect / 2) * photo.height
        y0, y1 = (cy - wh / 2) * photo.height, (cy + wh / 2) * photo.height
        for region in photo_halves(photo):
            rx0, ry0, rx1, ry1 = (region[0] * photo.width, region[1] * photo.height,
                                  region[2] * photo.width, region[3] * photo.height)
            if x0 < rx1 - 1e-6 and x1 > rx0 + 1e-6 and y0 < ry1 - 1e-6 and y1 > ry0 + 1e-6:
                out.add(region)
    return out


def test_procedural_only_needs_no_real_material(tmp_path: Path) -> None:
    m = build_copy_benchmark(tmp_path, n_references=2, n_queries=2, seed=1,
                             sources=PROCEDURAL_ONLY, vary_encoding=False, **TINY)
    assert {r.source_type for r in m.references} == {"procedural"}
    assert {(r.width, r.height, r.fps) for r in m.references} == {(64, 48, 8.0)}


def test_cli_registers_corpus_commands() -> None:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["corpus", "benchmark", "--out", "x", "--references", "5"])
    assert args.references == 5 and args.queries == 200 and callable(args.func)
    assert parser.parse_args(["corpus", "sample", "--out", "y"]).out == Path("y")
