"""Child process of test_tag_crash_durability.py (not a test): write tags one at a time.

    python crash_tagger.py CATALOG_DIR COUNT

Adds tags ``t0 .. t{COUNT-1}`` one request at a time into the Edge tag library beside
CATALOG_DIR, deleting every third one right after it was added; prints ``ADD <tag>`` /
``DEL <tag>`` (flushed) only after the library call returned: the acknowledgement a
client would get. The parent kills it with SIGKILL at a random moment.
"""

from __future__ import annotations

import sys

import numpy as np


def main(argv: list[str]) -> int:
    from vidsearch.catalog.qdrant_edge import QdrantEdgeCatalog
    from vidsearch.catalog.tags import TagVector

    catalog_dir, count = argv[0], int(argv[1])
    catalog = QdrantEdgeCatalog(catalog_dir, texture_dim=8)
    library = catalog.tag_library(16)
    rng = np.random.default_rng(0)
    print("READY", flush=True)
    for i in range(count):
        tag = f"t{i}"
        library.upsert([TagVector(tag, rng.normal(size=16).astype(np.float32), 1, "crash")])
        print(f"ADD {tag}", flush=True)
        if i % 3 == 0:
            library.delete([tag])
            print(f"DEL {tag}", flush=True)
    catalog.close()
    print("DONE", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
