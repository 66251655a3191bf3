"""Start the REAL TorchServe (0.12, Java frontend) on the vidsearch ``.mar`` archives.

Upstream TorchServe is in limited maintenance (no security fixes): Triton is the
recommended server, this exists for sites that already run TorchServe. What 0.12 needs
here (notes/components.md): Java 17, PyYAML, token auth switched off (or the key file
read), the model API left off (archives are loaded at start-up from config.properties),
and a health check that runs a REAL inference: ``/ping`` says Healthy while workers
crash-loop. Every instance gets free loopback ports (HTTP and gRPC) and its own temp
folder, which holds the launcher's pid file and the worker sockets, so several servers
(tests, engineers) never collide.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from vidsearch.inference.base import BackendUnavailableError, InferenceError, ModelNotFoundError
from vidsearch.inference.tritonserver import free_port

ARCHIVE_SUFFIX = ".mar"


class TorchServeError(BackendUnavailableError):
    """TorchServe could not be started or stopped; the message holds its log tail."""


def archive_signature(path: Path) -> dict[str, Any]:
    """``signature.json`` and the manifest's name/version of one ``.mar`` archive."""
    with zipfile.ZipFile(path) as archive:
        signature = json.loads(archive.read("signature.json"))
        manifest = json.loads(archive.read("MAR-INF/MANIFEST.json"))
    signature["model"] = manifest["model"]["modelName"]
    signature["version"] = int(manifest["model"]["modelVersion"])
    return dict(signature)


def java_available() -> bool:
    home = os.environ.get("JAVA_HOME")
    return bool(shutil.which("java") or (home and (Path(home) / "bin" / "java").is_file()))


def _launcher() -> str:
    """This venv's ``torchserve`` script: its Python then runs the model workers."""
    local = Path(sys.executable).parent / "torchserve"
    if local.is_file():
        return str(local)
    found = shutil.which("torchserve")
    if found is None:
        raise TorchServeError("pip install torchserve==0.12.* torch-model-archiver==0.12.*")
    return found


class TorchServeProcess:
    """One TorchServe serving the archives of ``model_store`` (context manager).

    ``archives`` are file names in the store (default: every ``*.mar``); several
    versions of one model are served side by side and the highest is the default.
    """

    def __init__(
        self,
        model_store: Path,
        *,
        work_dir: Path,
        archives: list[str] | None = None,
        startup_timeout_s: float = 180.0,
        stop_timeout_s: float = 30.0,
    ) -> None:
        self.model_store = Path(model_store).resolve()
        self.work_dir = Path(work_dir).resolve()
        names = archives or sorted(p.name for p in self.model_store.glob(f"*{ARCHIVE_SUFFIX}"))
        if not names:
            raise TorchServeError(f"no {ARCHIVE_SUFFIX} archive in {self.model_store}")
        self.signatures = [archive_signature(self.model_store / n) for n in names]
        self.archives = names
        self.startup_timeout_s = startup_timeout_s
        self.stop_timeout_s = stop_timeout_s
        self.inference_port = self.management_port = self.metrics_port = 0
        self.log_path = self.work_dir / "torchserve.log"
        self.startup_seconds: float | None = None
        self._process: subprocess.Popen[bytes] | None = None

    # ---- addresses ----------------------------------------------------------------
    @property
    def inference_url(self) -> str:
        return f"http://127.0.0.1:{self.inference_port}"

    @property
    def management_url(self) -> str:
        return f"http://127.0.0.1:{self.management_port}"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    # ---- lifecycle ----------------------------------------------------------------
    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        tmp = str(self.work_dir / "tmp")
        # TMPDIR: the launcher's pid file; TEMP: java.io.tmpdir (worker sockets, models).
        env.update(TMPDIR=tmp, TEMP=tmp, PATH=f"{Path(sys.executable).parent}:{env['PATH']}")
        env.pop("TS_CONFIG_FILE", None)
        return env

    def _write_config(self) -> Path:
        ports = [free_port() for _ in range(5)]
        self.inference_port, self.management_port, self.metrics_port = ports[:3]
        lines = {
            "inference_address": self.inference_url,
            "management_address": self.management_url,
            "metrics_address": f"http://127.0.0.1:{self.metrics_port}",
            "grpc_inference_address": "127.0.0.1",
            "grpc_management_address": "127.0.0.1",
            "grpc_inference_port": ports[3],
            "grpc_management_port": ports[4],
            "disable_token_authorization": "true",
            "enable_model_api": "false",
            "disable_system_metrics": "true",
            "metrics_mode": "prometheus",
            "default_workers_per_model": 1,
            "number_of_netty_threads": 2,
            "netty_client_threads": 2,
            "model_store": self.model_store,
            "load_models": ",".join(self.archives),
            "vmargs": "-Xmx512m -XX:+UseSerialGC -XX:TieredStopAtLevel=1",
        }
        path = self.work_dir / "config.properties"
        path.write_text("".join(f"{k}={v}\n" for k, v in lines.items()))
        return path

    def start(self) -> TorchServeProcess:
        """Start TorchServe and return once every archive answers a real inference."""
        if self._process is not None:
            raise TorchServeError("TorchServe is already running")
        if not java_available():
            raise TorchServeError("TorchServe needs Java 17+ (java not on PATH, no JAVA_HOME)")
        if importlib.util.find_spec("yaml") is None:  # workers read model-config.yaml
            raise TorchServeError("TorchServe 0.12 workers need PyYAML: pip install pyyaml")
        (self.work_dir / "tmp").mkdir(parents=True, exist_ok=True)
        config = self._write_config()
        command = [
            _launcher(),
            "--start",
            "--foreground",  # the launcher waits on java: we own the whole process group
            "--ncs",
            "--disable-token-auth",
            "--ts-config",
            str(config),
            "--model-store",
            str(self.model_store),
        ]
        started = time.perf_counter()
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self._env(),
                cwd=self.work_dir,
                start_new_session=True,
            )
        try:
            self._wait_ready(started)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.perf_counter() - started
        return self

    def _wait_ready(self, started: float) -> None:
        pending = list(self.signatures)
        last_error = "no answer yet"
        while pending:
            assert self._process is not None
            code = self._process.poll()
            if code is not None:
                raise TorchServeError(f"TorchServe exited with code {code}\n{self.log_tail()}")
            if time.perf_counter() - started > self.startup_timeout_s:
                raise TorchServeError(
                    f"TorchServe not serving after {self.startup_timeout_s:.0f} s "
                    f"({last_error})\n{self.log_tail()}"
                )
            try:
                self.probe(pending[0])
                pending.pop(0)
                continue
            except InferenceError as exc:
                last_error = str(exc)
            time.sleep(0.25)
        for model in {s["model"] for s in self.signatures}:
            latest = max(self.model_versions(model, ready_only=False))
            self._request("PUT", f"{self.management_url}/models/{model}/{latest}/set-default")

    def probe(self, signature: Mapping[str, Any]) -> None:
        """One real inference on a zero batch (``/ping`` cannot see crashed workers)."""
        inputs = {
            spec["name"]: np.zeros([1, *(d if d > 0 else 1 for d in spec["shape"])], spec["dtype"])
            for spec in signature["inputs"]
        }
        outputs = self.infer(signature["model"], inputs, version=int(signature["version"]))
        missing = {o["name"] for o in signature["outputs"]} - set(outputs)
        if missing:
            raise InferenceError(f"{signature['model']} answered without {sorted(missing)}")

    def is_healthy(self) -> bool:
        """Every archive answers a real inference now."""
        try:
            for signature in self.signatures:
                self.probe(signature)
        except InferenceError:
            return False
        return True

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of the launcher/frontend log (for error messages)."""
        texts = [
            p for p in (self.log_path, self.work_dir / "logs" / "model_log.log") if p.is_file()
        ]
        tail = [line for p in texts for line in p.read_text(errors="replace").splitlines()[-lines:]]
        return "\n".join(tail) or "(no log)"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self) -> None:
        """``torchserve --stop``, wait ``stop_timeout_s``, then SIGKILL the process group."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        try:
            subprocess.run(
                [_launcher(), "--stop"],
                env=self._env(),
                cwd=self.work_dir,
                capture_output=True,
                timeout=self.stop_timeout_s,
                check=False,
            )
            process.wait(timeout=self.stop_timeout_s)
        except subprocess.TimeoutExpired:
            pass
        finally:
            # Java and its Python workers share the launcher's process group.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    def __enter__(self) -> TorchServeProcess:
        return self.start() if self._process is None else self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ---- requests -----------------------------------------------------------------
    def _request(
        self,
        method: str,
        url: str,
        body: bytes | None = None,
        content_type: str = "application/json",
        timeout: float = 30.0,
    ) -> Any:
        request = urllib.request.Request(
            url, data=body, method=method, headers={"Content-Type": content_type}
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:500]
            if exc.code == 404:
                raise ModelNotFoundError(f"{url}: {detail}") from exc
            if exc.code in (503, 507):
                raise BackendUnavailableError(f"{url}: HTTP {exc.code} {detail}") from exc
            raise InferenceError(f"{url}: HTTP {exc.code} {detail}") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise BackendUnavailableError(f"{url}: {exc}") from exc

    def infer(
        self,
        model: str,
        inputs: Mapping[str, np.ndarray],
        *,
        version: int | None = None,
        timeout: float = 30.0,
    ) -> dict[str, np.ndarray]:
        """POST one request (``.npy`` for one input, JSON otherwise); float32 outputs."""
        if len(inputs) == 1:
            buffer = io.BytesIO()
            np.save(buffer, np.ascontiguousarray(next(iter(inputs.values()))))
            body, kind = buffer.getvalue(), "application/octet-stream"
        else:
            body = json.dumps({k: np.asarray(v).tolist() for k, v in inputs.items()}).encode()
            kind = "application/json"
        path = f"/predictions/{model}" + (f"/{version}" if version is not None else "")
        answer = self._request("POST", self.inference_url + path, body, kind, timeout)
        if not isinstance(answer, dict):
            raise InferenceError(f"{model}: unexpected answer {str(answer)[:200]}")
        return {name: np.asarray(value, dtype=np.float32) for name, value in answer.items()}

    def model_versions(self, model: str, *, ready_only: bool = True) -> list[int]:
        """Versions of ``model`` registered (and, by default, with a READY worker)."""
        described = self._request("GET", f"{self.management_url}/models/{model}/all")
        return sorted(
            int(d["modelVersion"])
            for d in described
            if not ready_only or any(w.get("status") == "READY" for w in d.get("workers", []))
        )
