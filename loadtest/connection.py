"""SDK connection settings of the load test, from the environment (no secrets in argv).

``$VIDSEARCH_TOKEN``: bearer token (in a cluster, an env ``valueFrom`` a Secret);
``LOADTEST_CA_CERT``: PEM roots, TLS on; ``LOADTEST_TLS=1``: TLS with the system roots.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def client_options(environ: Mapping[str, str] = os.environ) -> dict[str, Any]:
    """Keyword arguments for ``VideoSearchClient`` (token, TLS)."""
    from vidsearch_client._channel import TOKEN_ENV

    options: dict[str, Any] = {}
    if environ.get(TOKEN_ENV):
        options["token"] = environ[TOKEN_ENV]
    if environ.get("LOADTEST_CA_CERT"):
        options["secure"] = True
        options["root_certificates"] = Path(environ["LOADTEST_CA_CERT"]).read_bytes()
    elif environ.get("LOADTEST_TLS", "").lower() in {"1", "true", "yes"}:
        options["secure"] = True
    return options
