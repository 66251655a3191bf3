"""The gRPC service room: servicer, server assembly and the `vidsearch serve` command.

Exports are lazy so `vidsearch --help` does not import grpc and the domain stack.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vidsearch.service.server import RunningServer, build_server
    from vidsearch.service.servicer import SearchBackend, VideoSearchServicer

__all__ = ["RunningServer", "SearchBackend", "VideoSearchServicer", "build_server"]

_HOMES = {
    "RunningServer": "vidsearch.service.server",
    "build_server": "vidsearch.service.server",
    "SearchBackend": "vidsearch.service.servicer",
    "VideoSearchServicer": "vidsearch.service.servicer",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        import importlib

        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
