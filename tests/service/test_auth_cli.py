"""`vidsearch auth new-token|hash-token`: entries the server accepts, tokens nowhere on disk."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from vidsearch.cli import main
from vidsearch.service.auth import METHOD_SCOPES, TokenStore, token_digest

SEARCH = next(m for m, s in METHOD_SCOPES.items() if s == "search")
INDEX = next(m for m, s in METHOD_SCOPES.items() if s == "index")


def test_new_token_added_to_a_file_is_accepted_for_its_scopes_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tokens = tmp_path / "tokens.yaml"
    assert (
        main(["auth", "new-token", "--scope", "search", "--name", "ci", "--add-to", str(tokens)])
        == 0
    )
    first = capsys.readouterr().out.strip()
    args = ["auth", "new-token", "--scope", "index", "--scope", "search", "--add-to", str(tokens)]
    assert main([*args, "--expires", "2030-01-31"]) == 0
    second = capsys.readouterr().out.strip()

    assert len(first) >= 40 and first != second
    text = tokens.read_text()
    assert first not in text and second not in text  # only digests are stored
    store = TokenStore.load(tokens)
    assert len(store) == 2
    assert store.check(first, SEARCH).name == "ci"
    with pytest.raises(Exception, match="needs scope 'index'"):
        store.check(first, INDEX)
    late = datetime(2030, 2, 1, tzinfo=UTC)
    store.check(second, INDEX, now=datetime(2030, 1, 1, tzinfo=UTC))
    with pytest.raises(Exception, match="expired"):
        store.check(second, INDEX, now=late)


def test_new_token_without_a_file_prints_the_entry_on_stderr(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["auth", "new-token", "--scope", "admin"]) == 0
    out = capsys.readouterr()
    token = out.out.strip()
    assert "\n" not in token  # stdout is the token alone: TOKEN=$(vidsearch auth new-token ...)
    entry = yaml.safe_load(out.err)["tokens"]
    assert entry == {token_digest(token): {"scopes": ["admin"], "name": ""}}


def test_hash_token_reads_stdin_and_prints_a_loadable_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("s3cret-token\n"))
    assert main(["auth", "hash-token", "--scope", "search", "--name", "dash"]) == 0
    out = capsys.readouterr().out
    assert "s3cret-token" not in out
    (tmp_path / "tokens.yaml").write_text(out)
    assert TokenStore.load(tmp_path / "tokens.yaml").check("s3cret-token", SEARCH).name == "dash"


def test_hash_token_refuses_empty_input_and_unknown_scopes(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert main(["auth", "hash-token", "--scope", "search"]) == 1
    assert "no token on stdin" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["auth", "hash-token", "--scope", "everything"])
