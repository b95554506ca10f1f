"""Test harness: builds and runs the real registry (and core) binaries.

The binaries come from PLUGBOARD_REGISTRY_BIN / PLUGBOARD_CORE_BIN when set;
otherwise they are built once per test run with `go build` from the
repository root (three levels up). A failed build fails the tests."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

SDK_DIR = Path(__file__).resolve().parents[1]
REPO_ROOT = SDK_DIR.parents[1]
NOTES_EXAMPLE = REPO_ROOT / "examples" / "notes-py" / "notes.py"

try:
    import plugboard  # noqa: F401 - the installed SDK, not the source tree
except ImportError:
    raise ImportError("the plugboard SDK is not installed in this Python: pip install ./sdk/python "
                      "(make test-python does it in sdk/python/.venv)") from None

REGISTRY_TOKEN = "test-registry-token-0123456789"
SIGNING_SECRET = "test-gateway-signing-secret"
ADMIN_PASSWORD = "test-admin-password-42"

_build_lock = threading.Lock()
_built: dict[str, str] = {}
_build_dir: str | None = None


def _cleanup_build_dir() -> None:
    if _build_dir:
        shutil.rmtree(_build_dir, ignore_errors=True)


def _wanted() -> list[str]:
    """The binaries this run needs built: registry and core always, the
    gateway when its end-to-end test is enabled; those given by
    PLUGBOARD_<NAME>_BIN are not built."""
    names = ["registry", "core"]
    if os.environ.get("PLUGBOARD_TEST_GATEWAY"):
        names.append("gateway")
    return [n for n in names if not os.environ.get(f"PLUGBOARD_{n.upper()}_BIN")]


def binary(name: str) -> str:
    """Path of plugboard-<name>: $PLUGBOARD_<NAME>_BIN, or built with go build
    (every wanted binary in one `go build`, once per test run)."""
    global _build_dir
    env_var = f"PLUGBOARD_{name.upper()}_BIN"
    if os.environ.get(env_var):
        path = os.environ[env_var]
        if not os.access(path, os.X_OK):
            raise RuntimeError(f"{env_var}={path} is not an executable")
        return path
    with _build_lock:
        if name in _built:
            return _built[name]
        if _build_dir is None:
            _build_dir = tempfile.mkdtemp(prefix="plugboard-sdk-test-bin-")
            atexit.register(_cleanup_build_dir)
        go = shutil.which("go")
        if go is None:
            raise RuntimeError(f"cannot build plugboard-{name}: `go` is not on PATH (or set {env_var})")
        names = sorted(set(_wanted()) - set(_built) | {name})
        proc = subprocess.run([go, "build", "-o", _build_dir + os.sep] + [f"./cmd/{n}" for n in names],
                              cwd=REPO_ROOT, capture_output=True, text=True, timeout=900)
        if proc.returncode != 0:
            raise RuntimeError(f"go build {' '.join('./cmd/' + n for n in names)} failed in {REPO_ROOT}:\n"
                               f"{proc.stdout}{proc.stderr}")
        for n in names:
            _built[n] = os.path.join(_build_dir, n)
        return _built[name]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_env(**extra: str) -> dict[str, str]:
    """os.environ without PLUGBOARD_* variables (a developer's shell must not
    point the test processes at a real database), plus extra."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLUGBOARD_")}
    env.update(extra)
    return env


def http_json(method: str, url: str, body=None, headers=None, timeout: float = 5.0):
    """(status, headers, decoded body) without raising on 4xx/5xx."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json",
                                                                        **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw = r.read()
            return r.status, r.headers, json.loads(raw) if raw else None
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, e.headers, json.loads(raw) if raw else None
        finally:
            e.close()


def wait_until(pred, timeout: float = 5.0, interval: float = 0.05, what: str = "condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


class Server:
    """A Plugboard Go service process on a free loopback port."""

    name = ""

    def __init__(self, data_dir: str | None = None, port: int | None = None, **env: str):
        self.own_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix=f"plugboard-sdk-test-{self.name}-")
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.extra_env = env
        self.proc: subprocess.Popen | None = None
        self.log_path = os.path.join(self.data_dir, f"{self.name}.log")

    def env(self) -> dict[str, str]:
        raise NotImplementedError

    def start(self) -> "Server":
        exe = binary(self.name)
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([exe], env=self.env(), stdout=self._log, stderr=subprocess.STDOUT,
                                     cwd=self.data_dir)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"plugboard-{self.name} exited with {self.proc.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"plugboard-{self.name} did not become healthy:\n{self.log()}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "_log", None):
            self._log.close()
            self._log = None

    def cleanup(self) -> None:
        self.stop()
        if self.own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def log(self) -> str:
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return f.read()[-4000:]
        except OSError:
            return ""


class Registry(Server):
    name = "registry"

    def env(self) -> dict[str, str]:
        return clean_env(
            PLUGBOARD_DATA_DIR=self.data_dir,
            PLUGBOARD_REGISTRY_TOKEN=REGISTRY_TOKEN,
            PLUGBOARD_REGISTRY_LISTEN=f"127.0.0.1:{self.port}",
            PLUGBOARD_CORE_URL=f"http://127.0.0.1:{free_port()}",  # no core: API keys are not used here
            PLUGBOARD_LOG_FORMAT="text",
            PLUGBOARD_SHUTDOWN_TIMEOUT="2s",
            **self.extra_env,
        )

    def services(self, name: str, include_inactive: bool = False) -> list[dict]:
        q = f"?name={name}" + ("&include_inactive=true" if include_inactive else "")
        status, _, body = http_json("GET", self.url + "/api/registry/services" + q,
                                    headers={"Authorization": "Bearer " + REGISTRY_TOKEN})
        assert status == 200, (status, body)
        return body

    def deregister(self, service_id: str):
        return http_json("POST", f"{self.url}/api/registry/deregister/{service_id}",
                         headers={"Authorization": "Bearer " + REGISTRY_TOKEN})


class Core(Server):
    name = "core"

    def env(self) -> dict[str, str]:
        return clean_env(
            PLUGBOARD_DATA_DIR=self.data_dir,
            PLUGBOARD_CORE_LISTEN=f"127.0.0.1:{self.port}",
            PLUGBOARD_ADMIN_PASSWORD=ADMIN_PASSWORD,
            PLUGBOARD_CORE_BCRYPT_COST="4",
            PLUGBOARD_LOG_FORMAT="text",
            PLUGBOARD_SHUTDOWN_TIMEOUT="2s",
            **self.extra_env,
        )

    def login(self) -> str:
        status, _, body = http_json("POST", self.url + "/api/auth/login",
                                    {"username": "admin", "password": ADMIN_PASSWORD})
        assert status == 200, (status, body)
        return body["access_token"]

    def put_config(self, token: str, service: str, key: str, value, scope: str = "global"):
        status, _, body = http_json("PUT", f"{self.url}/api/config/{service}/{key}?scope={scope}", {"value": value},
                                    headers={"Authorization": "Bearer " + token})
        assert status in (200, 201), (status, body)
        return body

    def delete_config(self, token: str, service: str, key: str, scope: str = "global"):
        status, _, body = http_json("DELETE", f"{self.url}/api/config/{service}/{key}?scope={scope}",
                                    headers={"Authorization": "Bearer " + token})
        assert status == 204, (status, body)


class Plugin:
    """A plugin process (such as the notes example) whose stdout is read
    line by line."""

    def __init__(self, argv: list[str], env: dict[str, str]):
        self.proc = subprocess.Popen(argv, env={**env, "PYTHONUNBUFFERED": "1"}, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self.errors: list[str] = []
        self._cv = threading.Condition()
        self._pumps = [threading.Thread(target=self._pump, args=(self.proc.stdout, self.lines), daemon=True),
                       threading.Thread(target=self._pump, args=(self.proc.stderr, self.errors), daemon=True)]
        for t in self._pumps:
            t.start()

    def _pump(self, stream, into: list[str]) -> None:
        for line in stream:
            with self._cv:
                into.append(line.rstrip("\n"))
                self._cv.notify_all()

    def wait_line(self, prefix: str, timeout: float = 10.0) -> str:
        deadline = time.monotonic() + timeout
        exited_at = None
        with self._cv:
            while True:
                for line in self.lines:
                    if line.startswith(prefix):
                        return line
                now = time.monotonic()
                if self.proc.poll() is not None:
                    exited_at = exited_at or now
                if now >= deadline or (exited_at and now - exited_at > 0.5):
                    raise AssertionError(f"no line {prefix!r} on stdout; stdout={self.lines} "
                                         f"stderr={self.errors[-20:]} rc={self.proc.poll()}")
                self._cv.wait(0.1)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(5)
        for t in self._pumps:
            t.join(2)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None and not stream.closed:
                stream.close()


class Gateway(Server):
    """The Caddy gateway serving the repository's Caddyfile, routing to a
    registry and core. Its health URL is the console root."""

    name = "gateway"

    def __init__(self, registry: Registry, core: Core, **env: str):
        super().__init__(**env)
        self.registry, self.core = registry, core
        web = os.path.join(self.data_dir, "web")
        os.makedirs(web, exist_ok=True)
        with open(os.path.join(web, "index.html"), "w") as f:
            f.write("<!doctype html><title>test</title>\n")
        self.web_root = web

    def env(self) -> dict[str, str]:
        return clean_env(
            PLUGBOARD_GATEWAY_SITE=f"http://127.0.0.1:{self.port}",
            PLUGBOARD_GATEWAY_ADMIN="off",
            PLUGBOARD_GATEWAY_CADDYFILE=str(REPO_ROOT / "Caddyfile"),
            PLUGBOARD_REGISTRY_URL=self.registry.url,
            PLUGBOARD_REGISTRY_TOKEN=REGISTRY_TOKEN,
            PLUGBOARD_CORE_URL=self.core.url,
            PLUGBOARD_GATEWAY_SIGNING_SECRET=SIGNING_SECRET,
            PLUGBOARD_WEB_ROOT=self.web_root,
            XDG_DATA_HOME=self.data_dir, XDG_CONFIG_HOME=self.data_dir, HOME=self.data_dir,
            **self.extra_env,
        )

    def start(self) -> "Gateway":
        exe = binary(self.name)
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([exe], env=self.env(), stdout=self._log, stderr=subprocess.STDOUT,
                                     cwd=self.data_dir)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"plugboard-gateway exited with {self.proc.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(self.url + "/", timeout=1) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"plugboard-gateway did not come up:\n{self.log()}")
