"""config.pbtxt generation and parsing against golden files, both ways."""

from __future__ import annotations

from pathlib import Path

import pytest

from vidsearch.contract.triton_config import (
    Accelerator,
    ConfigError,
    DynamicBatching,
    InstanceGroup,
    ModelConfig,
    ModelWarmup,
    TensorConfig,
    VersionPolicy,
    WarmupInput,
    parse_pbtxt,
    to_pbtxt,
    triton_type,
    wire_type,
)

GOLDEN = Path(__file__).parent / "golden"

FRAME_ENCODER_GPU = ModelConfig(
    name="frame_encoder",
    platform="onnxruntime_onnx",
    max_batch_size=64,
    inputs=(TensorConfig("frames", "TYPE_UINT8", (64, 64, 3)),),
    outputs=(TensorConfig("feature", "TYPE_FP32", (256,)),),
    version_policy=VersionPolicy("latest", 2),
    dynamic_batching=DynamicBatching((16, 32, 64), 2000),
    instance_groups=(InstanceGroup("KIND_GPU", 2, (0, 1)),),
    gpu_accelerators=(
        Accelerator(
            "tensorrt", {"precision_mode": "FP16", "max_workspace_size_bytes": "1073741824"}
        ),
    ),
    model_warmup=(
        ModelWarmup("zeros_batch_1", 1, {"frames": WarmupInput("TYPE_UINT8", (64, 64, 3))}),
    ),
)

HEADS_CPU_TWIN = ModelConfig(
    name="hash_texture_heads",
    backend="python",
    max_batch_size=4096,
    inputs=(TensorConfig("feature", "TYPE_FP32", (256,)),),
    outputs=(
        TensorConfig("texture", "TYPE_FP32", (128,)),
        TensorConfig("hash_logits", "TYPE_FP32", (128,)),
        TensorConfig("hash_bits", "TYPE_FP32", (128,)),
    ),
    version_policy=VersionPolicy("specific", versions=(1, 3)),
    dynamic_batching=DynamicBatching((), 500),
    instance_groups=(InstanceGroup("KIND_CPU", 1),),
    parameters={"intra_op_num_threads": "1"},
)

EMBEDDER_UNBATCHED = ModelConfig(
    name="video_embedder",
    platform="onnxruntime_onnx",
    max_batch_size=0,
    inputs=(TensorConfig("frames", "TYPE_UINT8", (-1, -1, 64, 64, 3)),),
    outputs=(TensorConfig("embedding", "TYPE_FP32", (-1, 4096)),),
    version_policy=VersionPolicy("all"),
    model_warmup=(
        ModelWarmup(
            "random",
            0,
            {"frames": WarmupInput("TYPE_UINT8", (1, 4, 64, 64, 3), zero_data=False)},
            count=3,
        ),
    ),
)

SCORER_PER_ROW_SCALARS = ModelConfig(
    name="text_video_scorer",
    platform="onnxruntime_onnx",
    max_batch_size=256,
    inputs=(
        TensorConfig("frame_features", "TYPE_FP32", (-1, 256)),
        TensorConfig("frame_mask", "TYPE_FP32", (-1,)),
    ),
    outputs=(TensorConfig("score", "TYPE_FP32", (1,), reshape=()),),
    version_policy=VersionPolicy("latest", 2),
    dynamic_batching=DynamicBatching((64,), 0),
)

CASES = [
    ("frame_encoder_gpu.pbtxt", FRAME_ENCODER_GPU),
    ("hash_texture_heads_cpu_twin.pbtxt", HEADS_CPU_TWIN),
    ("video_embedder_unbatched.pbtxt", EMBEDDER_UNBATCHED),
    ("text_video_scorer_reshape.pbtxt", SCORER_PER_ROW_SCALARS),
]


@pytest.mark.parametrize(("golden", "expected"), CASES)
def test_parse_golden(golden: str, expected: ModelConfig) -> None:
    assert parse_pbtxt((GOLDEN / golden).read_text()) == expected


@pytest.mark.parametrize(("golden", "expected"), CASES)
def test_generate_golden(golden: str, expected: ModelConfig) -> None:
    assert to_pbtxt(expected) == (GOLDEN / golden).read_text()


@pytest.mark.parametrize(("golden", "expected"), CASES)
def test_round_trip(golden: str, expected: ModelConfig) -> None:
    assert parse_pbtxt(to_pbtxt(expected)) == expected
    text = (GOLDEN / golden).read_text()
    assert to_pbtxt(parse_pbtxt(text)) == text


def test_parse_accepts_other_triton_spellings() -> None:
    # Hand-written configs use comments, colons before messages and repeated scalars.
    text = """
    # a comment
    name: "frame_encoder"
    platform: "onnxruntime_onnx"
    max_batch_size: 64
    input { name: "frames" data_type: TYPE_UINT8 dims: 64 dims: 64 dims: 3 }
    output: [ { name: "feature", data_type: TYPE_FP32, dims: [ 256 ] } ]
    version_policy: { latest: { num_versions: 2 } }
    dynamic_batching { preferred_batch_size: 16 preferred_batch_size: [ 32, 64 ]
                       max_queue_delay_microseconds: 2000 }
    instance_group: [ { kind: KIND_GPU, count: 2, gpus: [ 0, 1 ] } ]
    optimization { execution_accelerators { gpu_execution_accelerator: [ {
        name: "tensorrt"
        parameters { key: "precision_mode" value: "FP16" }
        parameters { key: "max_workspace_size_bytes" value: "1073741824" } } ] } }
    model_warmup [ { name: "zeros_batch_1" batch_size: 1
        inputs { key: "frames" value: { data_type: TYPE_UINT8 dims: [ 64, 64, 3 ]
                                        zero_data: true } } } ]
    """
    assert parse_pbtxt(text) == FRAME_ENCODER_GPU


def test_parse_rejects_unknown_field_and_bad_enum() -> None:
    with pytest.raises(ConfigError, match="max_batch"):
        parse_pbtxt('name: "x" max_batch: 4', source="cfg")
    with pytest.raises(ConfigError, match="TYPE_FLOAT"):
        parse_pbtxt('name: "x" input [ { name: "a" data_type: TYPE_FLOAT dims: [1] } ]')


def test_version_policy_select() -> None:
    available = [3, 1, 2]
    assert VersionPolicy("latest", 2).select(available) == [2, 3]
    assert VersionPolicy().select(available) == [3]
    assert VersionPolicy("all").select(available) == [1, 2, 3]
    assert VersionPolicy("specific", versions=(1, 5)).select(available) == [1]
    assert ModelConfig("m").effective_version_policy() == VersionPolicy("latest", 1)


def test_type_names() -> None:
    assert triton_type("float32") == "TYPE_FP32"
    assert triton_type("uint8") == "TYPE_UINT8"
    assert wire_type("TYPE_FP32") == "FP32"
    assert wire_type("TYPE_STRING") == "BYTES"
    with pytest.raises(ConfigError):
        triton_type("complex64")
