"""run(): serve, register, and stop gracefully on SIGTERM/SIGINT."""

from __future__ import annotations

import logging
import os
import signal
import threading
from typing import Any, Callable

from .registry import Registration
from .service import ServiceConfig, parse_duration

__all__ = ["run", "DEFAULT_SHUTDOWN_TIMEOUT"]

log = logging.getLogger("plugboard.run")

DEFAULT_SHUTDOWN_TIMEOUT = 15.0


def _shutdown_timeout() -> float:
    """PLUGBOARD_DRAIN_TIMEOUT, the Go SDK's name, or else the older
    PLUGBOARD_SHUTDOWN_TIMEOUT; 15 s when neither is set."""
    for var in ("PLUGBOARD_DRAIN_TIMEOUT", "PLUGBOARD_SHUTDOWN_TIMEOUT"):
        raw = os.environ.get(var, "")
        if raw:
            return parse_duration(var, raw)
    return DEFAULT_SHUTDOWN_TIMEOUT


class _InFlight:
    """Counts the requests a socketserver.ThreadingMixIn server (such as
    ThreadingHTTPServer) is handling. ThreadingHTTPServer's threads are
    daemons, which server_close() does not wait for, so run() waits here."""

    def __init__(self, server: Any):
        self.count = 0
        self.cond = threading.Condition()
        process_request, handle = server.process_request, server.process_request_thread

        def counted_process_request(request: Any, client_address: Any) -> None:
            with self.cond:  # counted before the thread starts: no gap
                self.count += 1
            try:
                process_request(request, client_address)
            except BaseException:
                self._done()
                raise

        def counted_thread(request: Any, client_address: Any) -> None:
            try:
                handle(request, client_address)
            finally:
                self._done()

        server.process_request = counted_process_request
        server.process_request_thread = counted_thread

    def _done(self) -> None:
        with self.cond:
            self.count -= 1
            self.cond.notify_all()

    def wait(self, timeout: float) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: self.count <= 0, timeout)


def run(cfg: ServiceConfig, server: Any, *, shutdown_timeout: float | None = None, install_signals: bool = True,
        on_ready: Callable[[Registration], None] | None = None, **registration_options: Any) -> Registration:
    """Serves ``server`` until SIGTERM or SIGINT, registered meanwhile.

    server is a socketserver/http.server server (such as
    ThreadingHTTPServer), or any object with serve_forever() and
    shutdown() (and optionally server_close() and server_address). It
    must already be bound and listening, as those servers are once
    constructed; when cfg.port is 0 it is taken from server_address.

    Order of events:

    1. register (Registration; registration_options go to it), then start
       heartbeating, then call on_ready(registration);
    2. serve_forever() in the calling thread;
    3. on SIGTERM/SIGINT: deregister first, so that the gateway stops
       sending new requests, then stop accepting connections and wait for
       the requests in flight to finish (counted for socketserver
       ThreadingMixIn servers such as ThreadingHTTPServer, whose daemon
       threads server_close() would not wait for), then server_close();
       at most shutdown_timeout seconds (PLUGBOARD_DRAIN_TIMEOUT, as in
       the Go SDK, or PLUGBOARD_SHUTDOWN_TIMEOUT; 15 s by default) in all. The previous signal handlers are restored and
       run() returns, so the program exits 0.

    With an HTTP/1.1 handler (protocol_version = "HTTP/1.1"), an idle
    keep-alive connection counts as in flight until the client closes it:
    give the handler a ``timeout`` (seconds) so that it does not hold up
    the stop until shutdown_timeout.

    A second signal while stopping is ignored. Call from the main thread
    (Python delivers signals there); install_signals=False leaves signal
    handling to the caller, who then stops with ``registration.close()``
    and ``server.shutdown()``. Returns the (closed) Registration."""
    if shutdown_timeout is None:
        shutdown_timeout = _shutdown_timeout()
    addr = getattr(server, "server_address", None)
    if not cfg.port and isinstance(addr, tuple) and len(addr) >= 2:
        cfg.port = int(addr[1])

    inflight = _InFlight(server) if hasattr(server, "process_request_thread") else None
    reg = Registration(cfg, **registration_options)
    stopping = threading.Event()

    def stop(reason: str) -> None:
        if stopping.is_set():
            return
        stopping.set()
        log.info("stopping (%s): deregistering, then draining", reason)
        reg.close()
        server.shutdown()  # returns once serve_forever has left its loop

    previous: dict[int, Any] = {}
    if install_signals:
        if threading.current_thread() is not threading.main_thread():
            raise RuntimeError("run() installs signal handlers and must be called from the main thread "
                               "(or pass install_signals=False)")

        def handler(signum: int, _frame: Any) -> None:
            # shutdown() blocks until serve_forever (in this very thread)
            # returns, so it must run elsewhere.
            threading.Thread(target=stop, args=(signal.Signals(signum).name,), name="plugboard-stop",
                             daemon=True).start()

        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, handler)

    try:
        reg.start()
        if on_ready is not None:
            on_ready(reg)
        server.serve_forever()
    finally:
        if not stopping.is_set():  # serve_forever ended on its own, or start failed
            stopping.set()
            reg.close()
        drained = True
        if inflight is not None:
            drained = inflight.wait(shutdown_timeout)
        close = getattr(server, "server_close", None)
        if callable(close) and drained:
            t = threading.Thread(target=close, name="plugboard-drain", daemon=True)
            t.start()
            t.join(shutdown_timeout)
            drained = not t.is_alive()
        if not drained:
            log.warning("requests still in flight after %.0fs; exiting anyway", shutdown_timeout)
        for sig, h in previous.items():
            signal.signal(sig, h)
    log.info("stopped")
    return reg
