"""loadtest/connection.py: the SDK settings a load test takes from its environment."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _client_options():  # loadtest/ is a folder of scripts, not a package
    spec = importlib.util.spec_from_file_location(
        "loadtest_connection", ROOT / "loadtest" / "connection.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module.client_options


def test_token_and_tls_come_from_the_environment(tmp_path: Path) -> None:
    options = _client_options()
    assert options({}) == {}
    assert options({"VIDSEARCH_TOKEN": "t0k"}) == {"token": "t0k"}
    assert options({"LOADTEST_TLS": "1"}) == {"secure": True}
    ca = tmp_path / "ca.pem"
    ca.write_bytes(b"-----BEGIN CERTIFICATE-----\n")
    assert options({"LOADTEST_CA_CERT": str(ca), "VIDSEARCH_TOKEN": "t"}) == {
        "token": "t",
        "secure": True,
        "root_certificates": ca.read_bytes(),
    }
