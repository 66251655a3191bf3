"""A minimal protobuf text-format writer: nested messages, list-form repeated fields.

Triton's docs write configs this way (``input [ { ... } ]``, ``dims: [ 64, 3 ]``);
``google.protobuf.text_format`` would print one ``dims:`` line per value instead.
"""

from __future__ import annotations


class Enum(str):
    """An unquoted enum value in protobuf text."""


class Message(list[tuple[str, object]]):
    """A nested message: ``key { ... }``."""


class Repeated(list[Message]):
    """A repeated message field in list form: ``key [ { ... }, { ... } ]``."""


def _scalar(value: object) -> str:
    if isinstance(value, Enum):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}"'
    raise TypeError(f"cannot write {value!r} as protobuf text")


def emit(message: Message, indent: int) -> list[str]:
    pad = "  " * indent
    lines: list[str] = []
    for key, value in message:
        if isinstance(value, Repeated):
            lines.append(f"{pad}{key} [")
            for position, item in enumerate(value):
                lines.append(f"{pad}  {{")
                lines.extend(emit(item, indent + 2))
                lines.append(f"{pad}  }}" + ("," if position < len(value) - 1 else ""))
            lines.append(f"{pad}]")
        elif isinstance(value, Message):
            if not value:
                lines.append(f"{pad}{key} {{ }}")
                continue
            lines.append(f"{pad}{key} {{")
            lines.extend(emit(value, indent + 1))
            lines.append(f"{pad}}}")
        elif isinstance(value, tuple):
            inner = ", ".join(_scalar(v) for v in value)
            lines.append(f"{pad}{key}: [ {inner} ]" if inner else f"{pad}{key}: [ ]")
        else:
            lines.append(f"{pad}{key}: {_scalar(value)}")
    return lines
