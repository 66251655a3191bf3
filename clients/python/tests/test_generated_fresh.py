"""The committed generated code matches protos/: regenerate into a temp dir and compare.

Needs the repository checkout (scripts/, protos/) and grpcio-tools; a client-only
install skips it. Fix a failure with `python scripts/gen_protos.py`.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "scripts" / "gen_protos.py"
COMMITTED = ROOT / "clients" / "python" / "vidsearch_client" / "v1"


@pytest.mark.skipif(not SCRIPT.is_file(), reason="needs the repository checkout")
def test_generated_code_is_fresh(tmp_path: Path) -> None:
    pytest.importorskip("grpc_tools")
    spec = importlib.util.spec_from_file_location("gen_protos", SCRIPT)
    assert spec is not None and spec.loader is not None
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)

    written = gen.generate(tmp_path)
    assert {p.name for p in written} == {
        "vidsearch_pb2.py", "vidsearch_pb2.pyi", "vidsearch_pb2_grpc.py",
    }  # fmt: skip
    stale = [p.name for p in written if p.read_text() != (COMMITTED / p.name).read_text()]
    assert not stale, f"{stale} are stale: run `python scripts/gen_protos.py` and commit"


def test_generated_code_imports_from_the_client_package() -> None:
    from vidsearch_client.v1 import vidsearch_pb2, vidsearch_pb2_grpc

    assert vidsearch_pb2.DESCRIPTOR.package == "vidsearch.v1"
    assert hasattr(vidsearch_pb2_grpc, "VideoSearchStub")
    methods = vidsearch_pb2.DESCRIPTOR.services_by_name["VideoSearch"].methods_by_name
    assert set(methods) == {
        "IndexVideo", "DeleteVideo", "GetVideo", "SearchByVideo", "SearchByText", "Recommend",
        "Stats", "SuggestTags", "UpsertTags", "DeleteTags", "ListTags", "TagVideos",
        "FindVideosByTag", "StreamVideo", "ListVideos", "UpdateVideo", "SearchBySentence",
        "SearchByAudio",
    }  # fmt: skip
