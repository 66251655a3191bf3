"""Start the REAL Triton Inference Server bundled with nvidia-pytriton (python backend).

Recipe measured on this project's CPU machines (see notes/triton-cpu.md): a private
backends folder holding the python stub that matches this interpreter, the venv's
``bin`` first on PATH (the stub finds the venv through ``python3``; PYTHONPATH is
ignored), this interpreter's LIBDIR on LD_LIBRARY_PATH (else Debian's libpython is
mixed with pyenv's stdlib), explicit model control, free loopback ports and a per-run
shared-memory prefix so parallel servers never collide.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from vidsearch.inference.base import BackendUnavailableError


class TritonServerError(BackendUnavailableError):
    """tritonserver could not be started or stopped; the message holds its log tail."""


def _site_packages() -> Path:
    import pytriton  # nvidia-pytriton, the `triton` extra

    return Path(pytriton.__file__).resolve().parent.parent


def free_port() -> int:
    """A free loopback TCP port (the OS picks; the server binds it right after)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class TritonServerProcess:
    """One tritonserver child process serving ``model_repository``.

    Use as a context manager, or call :meth:`start` / :meth:`stop`. ``models`` are
    loaded at start (default: all); others can be loaded later with :meth:`load_model`.
    Ports default to 0: a fresh free port at each start. Pin them (``grpc_port=...``) to
    restart the server on the same address, e.g. behind a long-lived client.
    """

    def __init__(
        self,
        model_repository: Path,
        *,
        work_dir: Path,
        models: list[str] | None = None,
        startup_timeout_s: float = 120.0,
        exit_timeout_s: int = 5,
        log_verbose: int = 0,
        grpc_port: int = 0,
        http_port: int = 0,
        metrics_port: int = 0,
        extra_args: Sequence[str] = (),
    ) -> None:
        """``extra_args``: more tritonserver flags, e.g. ``--grpc-use-ssl=true`` and its
        certificate files (readiness is polled over plaintext HTTP either way)."""
        self.extra_args = tuple(extra_args)
        self.model_repository = Path(model_repository).resolve()
        self.work_dir = Path(work_dir).resolve()
        self.models = models
        self.startup_timeout_s = startup_timeout_s
        self.exit_timeout_s = exit_timeout_s
        self.log_verbose = log_verbose
        self._pinned_ports = (grpc_port, http_port, metrics_port)
        self.grpc_port, self.http_port, self.metrics_port = self._pinned_ports
        self.log_path = self.work_dir / "tritonserver.log"
        self.startup_seconds: float | None = None
        self._process: subprocess.Popen[bytes] | None = None

    # ---- addresses ----------------------------------------------------------------
    @property
    def grpc_url(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def http_url(self) -> str:
        return f"127.0.0.1:{self.http_port}"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    # ---- lifecycle ----------------------------------------------------------------
    def _prepare(self) -> tuple[Path, Path, dict[str, str]]:
        site = _site_packages()
        bundled = site / "pytriton" / "tritonserver"
        if not (bundled / "bin" / "tritonserver").is_file():
            raise TritonServerError(f"no tritonserver binary under {bundled}")
        version = f"{sys.version_info.major}.{sys.version_info.minor}"
        stub = bundled / "python_backend_stubs" / version / "triton_python_backend_stub"
        if not stub.is_file():
            raise TritonServerError(f"no python backend stub for Python {version} in {stub.parent}")
        # The binary runs in place (its RPATH finds the bundled libraries); only the
        # backends get a private copy, since the stub must sit in backends/python.
        server_dir = self.work_dir / "tritonserver"
        if not (server_dir / "backends" / "python" / stub.name).is_file():
            shutil.rmtree(server_dir, ignore_errors=True)
            for part in ("backends", "caches"):
                shutil.copytree(
                    bundled / part, server_dir / part, ignore=shutil.ignore_patterns("__pycache__")
                )
            shutil.copy2(stub, server_dir / "backends" / "python" / stub.name)
        env = dict(os.environ)
        venv_bin = str(Path(sys.prefix) / "bin")
        env["PATH"] = os.pathsep.join([venv_bin, env.get("PATH", "")])
        libdir = str(sysconfig.get_config_var("LIBDIR") or "")
        libs = [str(site / "nvidia_pytriton.libs"), libdir, env.get("LD_LIBRARY_PATH", "")]
        env["LD_LIBRARY_PATH"] = os.pathsep.join(p for p in libs if p)
        env.pop("PYTHONPATH", None)
        return bundled / "bin" / "tritonserver", server_dir, env

    def start(self) -> TritonServerProcess:
        """Start the server and wait until it is ready (all start-up models loaded)."""
        if self._process is not None:
            raise TritonServerError("tritonserver is already running")
        self.work_dir.mkdir(parents=True, exist_ok=True)
        binary, server_dir, env = self._prepare()
        self.grpc_port, self.http_port, self.metrics_port = (
            port or free_port() for port in self._pinned_ports
        )
        prefix = f"vidsearch_{os.getpid()}_{uuid.uuid4().hex[:8]}_"
        command = [
            str(binary),
            f"--model-repository={self.model_repository}",
            f"--backend-directory={server_dir / 'backends'}",
            f"--cache-directory={server_dir / 'caches'}",
            "--model-control-mode=explicit",
            "--exit-on-error=false",
            "--strict-readiness=true",
            f"--exit-timeout-secs={self.exit_timeout_s}",
            "--grpc-address=127.0.0.1",
            "--http-address=127.0.0.1",
            "--metrics-address=127.0.0.1",
            f"--grpc-port={self.grpc_port}",
            f"--http-port={self.http_port}",
            f"--metrics-port={self.metrics_port}",
            "--allow-gpu-metrics=false",
            f"--backend-config=python,shm-region-prefix-name={prefix}",
            f"--log-verbose={self.log_verbose}",
        ]
        command += [
            f"--load-model={m}" for m in (self.models if self.models is not None else ["*"])
        ]
        command += self.extra_args
        started = time.perf_counter()
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
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

    def _get(self, path: str, timeout: float = 2.0) -> int:
        url = f"http://{self.http_url}{path}"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)
        except (urllib.error.URLError, OSError):
            return 0

    def _wait_ready(self, started: float) -> None:
        assert self._process is not None
        while True:
            code = self._process.poll()
            if code is not None:
                raise TritonServerError(f"tritonserver exited with code {code}\n{self.log_tail()}")
            if self._get("/v2/health/ready") == 200:
                return
            failed = self._failed_models()
            if failed:
                raise TritonServerError(
                    "tritonserver could not load " + "; ".join(failed) + "\n" + self.log_tail()
                )
            if time.perf_counter() - started > self.startup_timeout_s:
                live = self._get("/v2/health/live") == 200
                raise TritonServerError(
                    f"tritonserver not ready after {self.startup_timeout_s:.0f} s "
                    f"(live={live}; a model failed to load?)\n{self.log_tail()}"
                )
            time.sleep(0.1)

    def _failed_models(self) -> list[str]:
        """Models the server gave up on (explicit mode keeps serving without them)."""
        request = urllib.request.Request(
            f"http://{self.http_url}/v2/repository/index", data=b"{}", method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=2.0) as response:
                index = json.loads(response.read())
        except (urllib.error.URLError, OSError, ValueError):
            return []
        return [
            f"{m.get('name')} v{m.get('version', '?')}: {m.get('reason')}"
            for m in index
            if m.get("state") == "UNAVAILABLE" and m.get("reason")
        ]

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of the server log (for error messages)."""
        if not self.log_path.is_file():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self) -> None:
        """SIGTERM, wait for the exit timeout, then SIGKILL our process group."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=self.exit_timeout_s + 10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # the server and its python stubs
            process.wait(timeout=10)

    def __enter__(self) -> TritonServerProcess:
        return self.start() if self._process is None else self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ---- model control ------------------------------------------------------------
    def load_model(self, name: str, config: str | None = None) -> None:
        """Load (or reload) ``name``; ``config`` is an optional JSON config override."""
        import tritonclient.grpc as grpcclient
        from tritonclient.utils import InferenceServerException

        client = grpcclient.InferenceServerClient(self.grpc_url)
        try:
            client.load_model(name, config=config)
        except InferenceServerException as exc:
            raise TritonServerError(f"loading {name} failed: {exc.message()}") from exc
        finally:
            client.close()

    def unload_model(self, name: str) -> None:
        import tritonclient.grpc as grpcclient

        client = grpcclient.InferenceServerClient(self.grpc_url)
        try:
            client.unload_model(name)
        finally:
            client.close()


def main(argv: list[str] | None = None) -> int:
    """Serve a repository until interrupted: ``python -m vidsearch.inference.tritonserver``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("model_repository", type=Path)
    parser.add_argument("--work-dir", type=Path, default=Path("var/tritonserver"))
    args = parser.parse_args(argv)
    with TritonServerProcess(args.model_repository, work_dir=args.work_dir) as server:
        print(
            f"tritonserver ready in {server.startup_seconds:.1f} s: grpc {server.grpc_url}, "
            f"http {server.http_url}, metrics {server.metrics_url} (log {server.log_path})",
            flush=True,
        )
        try:
            while server.running:
                time.sleep(1.0)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
