"""`vidsearch-client`'s TLS flags against the real server on loopback: mutual TLS with
--client-cert/--client-key (the throwaway PKI of conftest), and a TLS file that cannot be
used is one line on stderr with exit status 2, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from vidsearch_client.cli import main


def _main(capsys: Any, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def mtls_target(start_server: Any, pki: Any) -> str:
    """A server that speaks TLS only and requires a client certificate signed by the CA."""
    return str(
        start_server(
            tls_cert_file=pki.write("server.pem", pki.server.cert_pem),
            tls_key_file=pki.write("server.key", pki.server.key_pem),
            tls_client_ca_file=pki.write("clients-ca.pem", pki.ca.cert_pem),
        ).target
    )


def test_mutual_tls_with_client_cert_and_key(mtls_target: str, pki: Any, capsys: Any) -> None:
    ca = str(pki.write("ca.pem", pki.ca.cert_pem))
    cert = str(pki.write("client.pem", pki.client.cert_pem))
    key = str(pki.write("client.key", pki.client.key_pem))
    base = ("--target", mtls_target, "--timeout", "5", "--ca-cert", ca)

    code, out, err = _main(capsys, *base, "--client-cert", cert, "--client-key", key,
                           "stats", "--json")  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["inference_backend"] == "tiny"
    # the same flags after the command
    code, out, err = _main(capsys, "health", *base, "--client-cert", cert, "--client-key", key)
    assert (code, out.strip()) == (0, "SERVING"), err

    code, _, err = _main(capsys, *base, "stats")  # no client certificate: refused
    assert code == 1 and "UNAVAILABLE" in err
    rogue_cert = str(pki.write("rogue.pem", pki.rogue_client.cert_pem))
    rogue_key = str(pki.write("rogue.key", pki.rogue_client.key_pem))
    code, _, err = _main(capsys, *base, "--client-cert", rogue_cert, "--client-key", rogue_key,
                         "stats")  # fmt: skip
    assert code == 1 and "UNAVAILABLE" in err  # signed by a CA the server does not trust

    code, _, err = _main(capsys, *base, "--client-cert", cert, "stats")  # half a pair
    assert code == 2
    assert err.startswith("error: --client-cert and --client-key go together")
    assert len(err.strip().splitlines()) == 1


def _one_line_usage_error(code: int, err: str, *needles: str) -> None:
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err


def test_unusable_tls_files_are_one_line_and_exit_two(
    pki: Any, tmp_path: Path, capsys: Any
) -> None:
    missing = tmp_path / "missing.pem"
    not_pem = tmp_path / "not.pem"
    not_pem.write_text("hello\n")
    cert = str(pki.write("client.pem", pki.client.cert_pem))
    key = str(pki.write("client.key", pki.client.key_pem))
    target = ("--target", "127.0.0.1:1")  # never dialled: the files are read first

    # as a user sees it: the console script's exit status and stderr
    script = Path(sys.executable).parent / "vidsearch-client"
    cli = [str(script)] if script.exists() else [sys.executable, "-m", "vidsearch_client.cli"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIDSEARCH_")}
    done = subprocess.run(
        [*cli, "stats", *target, "--ca-cert", str(missing)],
        capture_output=True, text=True, timeout=60, env=env, check=False,
    )  # fmt: skip
    _one_line_usage_error(done.returncode, done.stderr, "--ca-cert", str(missing),
                          "No such file or directory")  # fmt: skip
    assert done.stdout == ""

    cases = [
        (("--ca-cert", str(tmp_path)), ("--ca-cert", "Is a directory")),  # unreadable
        (("--ca-cert", str(not_pem)), ("--ca-cert", "not a PEM file")),
        (("--client-cert", str(missing), "--client-key", key), ("--client-cert", str(missing))),
        (("--client-cert", cert, "--client-key", str(missing)), ("--client-key", str(missing))),
    ]
    for flags, needles in cases:
        code, out, err = _main(capsys, *target, *flags, "get", "x", "--json")
        _one_line_usage_error(code, err, *needles)
        assert out == ""
