"""How a tag scores against a video: by the whole video and by the video's best scene.

A video carries tags of several scenes (a red ring in one, a blue box in the next); one
vector cannot sit near all of them, so the video tag encoder also serves a vector per scene
(``SCENE_TAG_FEATURES``) and a tag's similarity is

    (cos(video, tag) + w * max over scenes cos(scene, tag)) / (1 + w)

still a cosine-like number in [-1, 1] (distance = 1 - it), the video's own cosine at w = 0.
``w`` = ``tags.scene_weight`` (2 by default, chosen on the validation split; BENCHMARKS.md
"Tag suggestions"). The evaluation and the served library search both score with this.
"""

from __future__ import annotations

from typing import Any, TypeVar

A = TypeVar("A", bound=Any)  # numpy arrays (serving) or torch tensors (training, evaluation)


def scene_aware_similarity(video_cos: A, scene_cos: A | None, weight: float) -> A:
    """``video_cos`` [..., K] (cosine of each tag to the video) and ``scene_cos`` [..., S, K]
    (to each scene; None: no scenes) -> combined similarity [..., K]."""
    if scene_cos is None or weight == 0 or scene_cos.shape[-2] == 0:
        return video_cos
    best = scene_cos.amax(-2) if hasattr(scene_cos, "amax") else scene_cos.max(axis=-2)
    return (video_cos + weight * best) / (1.0 + weight)
