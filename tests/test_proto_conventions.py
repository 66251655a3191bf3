"""The API's conventions, checked on the parsed .proto (protoc's descriptor with its
comments), in the spirit of `buf lint` and Google's API design guide: field names in
lower_snake_case, enum values UPPER_SNAKE_CASE prefixed with their enum's name and a
zero value named *_UNSPECIFIED, and a leading comment on every RPC, message and enum
(the comments are the API reference a client author reads)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2

ROOT = Path(__file__).resolve().parents[1]
PROTO_ROOT = ROOT / "protos"
PROTO = "vidsearch/v1/vidsearch.proto"

SNAKE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
PASCAL = re.compile(r"^[A-Z][A-Za-z0-9]*$")
UPPER_SNAKE = re.compile(r"^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$")
# FileDescriptorProto field numbers: the paths SourceCodeInfo locations use.
MESSAGE_TYPE, ENUM_TYPE, SERVICE = 4, 5, 6
NESTED_TYPE, NESTED_ENUM = 3, 4
METHOD = 2


@pytest.fixture(scope="module")
def parsed(tmp_path_factory: pytest.TempPathFactory) -> descriptor_pb2.FileDescriptorProto:
    """protoc's view of the file, comments included (needs grpcio-tools, a dev dependency)."""
    grpc_tools = pytest.importorskip("grpc_tools")
    from grpc_tools import protoc

    out = tmp_path_factory.mktemp("descriptor") / "set.pb"
    well_known = Path(grpc_tools.__file__).parent / "_proto"
    code = protoc.main([
        "grpc_tools.protoc", f"-I{PROTO_ROOT}", f"-I{well_known}", "--include_source_info",
        f"--descriptor_set_out={out}", str(PROTO_ROOT / PROTO),
    ])  # fmt: skip
    assert code == 0, "protoc could not parse the proto"
    files = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file
    (parsed,) = [f for f in files if f.name == PROTO]
    return parsed


def _messages(
    messages: list[descriptor_pb2.DescriptorProto], path: tuple[int, ...], prefix: str = ""
) -> list[tuple[str, descriptor_pb2.DescriptorProto, tuple[int, ...]]]:
    """Every message (nested ones too, map entries aside) with its name and source path."""
    out = []
    for i, msg in enumerate(messages):
        if msg.options.map_entry:
            continue
        where = (*path, i)
        out.append((prefix + msg.name, msg, where))
        out.extend(_messages(list(msg.nested_type), (*where, NESTED_TYPE), f"{msg.name}."))
    return out


def _enums(parsed: descriptor_pb2.FileDescriptorProto) -> list[
    tuple[str, descriptor_pb2.EnumDescriptorProto, tuple[int, ...]]
]:
    out = [(e.name, e, (ENUM_TYPE, i)) for i, e in enumerate(parsed.enum_type)]
    for name, msg, where in _messages(list(parsed.message_type), (MESSAGE_TYPE,)):
        out.extend((f"{name}.{e.name}", e, (*where, NESTED_ENUM, i))
                   for i, e in enumerate(msg.enum_type))
    return out


def _comments(parsed: descriptor_pb2.FileDescriptorProto) -> dict[tuple[int, ...], str]:
    return {tuple(loc.path): loc.leading_comments.strip()
            for loc in parsed.source_code_info.location}


def test_field_names_are_lower_snake_case(parsed: descriptor_pb2.FileDescriptorProto) -> None:
    bad = [f"{name}.{f.name}" for name, msg, _ in _messages(list(parsed.message_type),
                                                            (MESSAGE_TYPE,))
           for f in msg.field if not SNAKE.match(f.name)]
    assert not bad, f"fields not in lower_snake_case: {bad}"


def test_type_and_rpc_names_are_pascal_case(parsed: descriptor_pb2.FileDescriptorProto) -> None:
    names = [name.rsplit(".", 1)[-1] for name, _, _ in _messages(list(parsed.message_type),
                                                                   (MESSAGE_TYPE,))]
    names += [e.name for _, e, _ in _enums(parsed)]
    names += [s.name for s in parsed.service] + [m.name for s in parsed.service for m in s.method]
    assert [n for n in names if not PASCAL.match(n)] == []


def test_enum_values_are_prefixed_and_zero_is_unspecified(
    parsed: descriptor_pb2.FileDescriptorProto,
) -> None:
    enums = _enums(parsed)
    assert enums, "the check found no enum: the parser or the paths are wrong"
    for name, enum, _ in enums:
        prefix = re.sub(r"(?<!^)(?=[A-Z])", "_", enum.name).upper() + "_"
        zero = [v.name for v in enum.value if v.number == 0]
        assert zero == [f"{prefix}UNSPECIFIED"], f"{name}: zero value must be {prefix}UNSPECIFIED"
        bad = [v.name for v in enum.value
               if not (UPPER_SNAKE.match(v.name) and v.name.startswith(prefix))]
        assert not bad, f"{name}: values must be UPPER_SNAKE_CASE starting with {prefix}: {bad}"


def test_every_rpc_message_and_enum_has_a_leading_comment(
    parsed: descriptor_pb2.FileDescriptorProto,
) -> None:
    comments = _comments(parsed)
    assert comments, "protoc returned no source info: the comments cannot be checked"
    missing = [f"rpc {m.name}" for s, service in enumerate(parsed.service)
               for i, m in enumerate(service.method)
               if not comments.get((SERVICE, s, METHOD, i))]
    missing += [f"service {s.name}" for i, s in enumerate(parsed.service)
                if not comments.get((SERVICE, i))]
    missing += [f"message {name}" for name, _, where in _messages(list(parsed.message_type),
                                                                  (MESSAGE_TYPE,))
                if not comments.get(where)]
    missing += [f"enum {name}" for name, _, where in _enums(parsed) if not comments.get(where)]
    assert not missing, f"document these in {PROTO}: {missing}"


def test_the_check_sees_a_missing_comment(
    parsed: descriptor_pb2.FileDescriptorProto, tmp_path: Path
) -> None:
    """The comment lookup is not vacuous: a known message is found documented, and the
    same lookup on a location list without it finds nothing."""
    comments = _comments(parsed)
    index = [m.name for m in parsed.message_type].index("VideoFilter")
    assert "filter" in comments[(MESSAGE_TYPE, index)]
    stripped = descriptor_pb2.FileDescriptorProto()
    stripped.CopyFrom(parsed)
    del stripped.source_code_info.location[:]
    assert _comments(stripped) == {}
