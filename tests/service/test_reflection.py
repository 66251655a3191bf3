"""gRPC server reflection on the real server: a generic reflection client (what grpcurl
does) lists the services over loopback and can read the API's schema without .proto files;
``server.reflection: false`` turns it off."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf.descriptor_pool import DescriptorPool
from grpc_reflection.v1alpha import proto_reflection_descriptor_database as reflection_db

from vidsearch.config import ServerConfig, VidsearchConfig
from vidsearch.service.server import build_server


def test_reflection_lists_the_services(served: Any) -> None:
    with grpc.insecure_channel(served.server.target) as channel:
        database = reflection_db.ProtoReflectionDescriptorDatabase(channel)
        services = set(database.get_services())
        assert {
            "vidsearch.v1.VideoSearch",
            "grpc.health.v1.Health",
            "grpc.reflection.v1alpha.ServerReflection",
        } <= services
        api = DescriptorPool(database).FindServiceByName("vidsearch.v1.VideoSearch")
        methods = {m.name for m in api.methods}
        assert {"IndexVideo", "SearchByVideo", "SearchByText", "Recommend"} <= methods
        search = api.methods_by_name["SearchByVideo"]
        assert search.input_type.full_name == "vidsearch.v1.SearchByVideoRequest"


def test_reflection_off(tmp_path: Path, backend: Any) -> None:
    server = ServerConfig(port=0, upload_dir=tmp_path / "up", reflection=False)
    config = VidsearchConfig(server=server)
    running = build_server(config, backend, with_metrics=False)
    try:
        with grpc.insecure_channel(running.target) as channel:
            database = reflection_db.ProtoReflectionDescriptorDatabase(channel)
            with pytest.raises(grpc.RpcError) as caught:
                database.get_services()
            assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED
    finally:
        running.stop(grace=None)
