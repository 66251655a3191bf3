"""``vidsearch auth new-token|hash-token``: make entries of the tokens file.

    TOKEN=$(vidsearch auth new-token --scope search --name ci --add-to tokens.yaml)
    printf %s "$TOKEN" | vidsearch auth hash-token --scope search --name ci

The tokens file holds only ``sha256(token)`` (``vidsearch.service.auth``), so the
plaintext token exists only where it is printed once: ``new-token`` writes it to stdout
(and nothing else there, so ``$(...)`` captures it) and the entry to the file or to
stderr. ``hash-token`` reads the token from stdin, never from the command line, where
it would stay in shell history and the process list.
"""

from __future__ import annotations

import argparse
import secrets
import sys
from datetime import date
from pathlib import Path
from typing import Any

import yaml

TOKEN_BYTES = 32  # 256 bits of randomness, URL-safe base64


def register(subparsers: Any) -> None:
    from vidsearch.service.auth import SCOPES

    parser = subparsers.add_parser(
        "auth",
        help="make bearer tokens and tokens-file entries",
        description=(
            "Bearer-token authentication (server.auth_tokens_file): the file maps "
            "sha256(token) to scopes and an optional expiry. These commands make tokens and "
            "entries; the file never holds a token."
        ),
    )
    actions = parser.add_subparsers(dest="auth_action", metavar="ACTION", required=True)
    entry = argparse.ArgumentParser(add_help=False)
    entry.add_argument(
        "--scope",
        dest="scopes",
        action="append",
        choices=sorted(SCOPES),
        required=True,
        help="scope the token grants (repeat for several); admin grants all",
    )
    entry.add_argument("--name", default="", help="who holds it (shown in rejection logs)")
    entry.add_argument(
        "--expires", type=date.fromisoformat, default=None, help="last day, YYYY-MM-DD"
    )
    new = actions.add_parser(
        "new-token",
        parents=[entry],
        help="generate a random token: token on stdout, its entry to the file or stderr",
        description=(
            "Print a new random token on stdout (shown once: store it in your secret "
            "manager) and add its sha256 entry to --add-to FILE (created if missing), or "
            "print the entry on stderr."
        ),
    )
    new.add_argument("--add-to", type=Path, default=None, metavar="FILE", help="tokens file")
    new.set_defaults(func=new_token)
    hashed = actions.add_parser(
        "hash-token",
        parents=[entry],
        help="read a token on stdin, print its tokens-file entry",
        description="Read one token from stdin and print its tokens.yaml entry on stdout.",
    )
    hashed.set_defaults(func=hash_token)


def entry_for(token: str, scopes: list[str], name: str, expires: date | None) -> dict[str, Any]:
    """``{sha256(token): {scopes, name[, expires]}}``, the shape ``TokenStore.load`` reads."""
    from vidsearch.service.auth import token_digest

    spec: dict[str, Any] = {"scopes": sorted(set(scopes)), "name": name}
    if expires is not None:
        spec["expires"] = expires.isoformat()
    return {token_digest(token): spec}


def add_to_file(path: Path, entry: dict[str, Any]) -> None:
    """Merge ``entry`` into the tokens file, then load it back as the server would."""
    from vidsearch.service.auth import TokenStore

    data = yaml.safe_load(path.read_text()) if path.is_file() else None
    data = data or {"tokens": {}}
    if not isinstance(data, dict) or not isinstance(data.get("tokens", {}), dict):
        raise ValueError(f"{path}: expected a mapping with a 'tokens' mapping")
    data.setdefault("tokens", {}).update(entry)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(yaml.safe_dump(data, sort_keys=True))
    tmp.replace(path)
    TokenStore.load(path)


def new_token(args: argparse.Namespace) -> int:
    token = secrets.token_urlsafe(TOKEN_BYTES)
    entry = entry_for(token, args.scopes, args.name, args.expires)
    if args.add_to is not None:
        try:
            add_to_file(args.add_to, entry)
        except (OSError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(f"added {args.name or 'the token'} to {args.add_to}", file=sys.stderr)
    else:
        print(yaml.safe_dump({"tokens": entry}, sort_keys=True), file=sys.stderr, end="")
    print(token)
    return 0


def hash_token(args: argparse.Namespace) -> int:
    token = sys.stdin.readline().strip()
    if not token:
        print('error: no token on stdin (printf %s "$TOKEN" | vidsearch auth ...)', file=sys.stderr)
        return 1
    entry = entry_for(token, args.scopes, args.name, args.expires)
    print(yaml.safe_dump({"tokens": entry}, sort_keys=True), end="")
    return 0
