"""Child process of test_crash_durability.py (not a test): index videos one after another.

    python crash_indexer.py REPOSITORY CATALOG_DIR ID=PATH [ID=PATH ...]

Prints ``READY`` once the orchestrator is built, then ``ACK <id> <keyframe_count>`` on
stdout (flushed) only after ``Orchestrator.index_video`` has returned for that video: the
acknowledgement a client would get. The parent kills it with SIGKILL at a random moment.
"""

from __future__ import annotations

import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    from vidsearch.config import VidsearchConfig
    from vidsearch.orchestrator.factory import build_orchestrator

    repository, catalog_dir, *jobs = argv
    config = VidsearchConfig()
    config.inference.backend = "onnxruntime"
    config.inference.model_repository = Path(repository)
    config.catalog.backend = "qdrant_edge"
    config.catalog.path = Path(catalog_dir)
    orchestrator = build_orchestrator(config)
    print("READY", flush=True)
    for job in jobs:
        video_id, path = job.split("=", 1)
        result = orchestrator.index_video(Path(path), video_id=video_id)
        print(f"ACK {video_id} {result.video.keyframe_count}", flush=True)
    orchestrator.close()
    print("DONE", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
