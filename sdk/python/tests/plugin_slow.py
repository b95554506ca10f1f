"""A plugin for test_run: /slow takes SLOW_SECONDS to answer, so that a
SIGTERM arrives while a request is in flight. Prints its port, then
"in-flight" when /slow starts and "done" when run() returned."""

import os
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import plugboard


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_GET(self):
        if self.path == "/slow":
            print("in-flight", flush=True)
            time.sleep(float(os.environ.get("SLOW_SECONDS", "1")))
        plugboard.send_json(self, 200, {"path": self.path})


cfg = plugboard.ServiceConfig.from_env(name="slow", endpoints=[{"path": "/slow"}])
server = ThreadingHTTPServer((cfg.listen_host, cfg.port), Handler)
print(f"port {server.server_address[1]}", flush=True)
reg = plugboard.run(cfg, server, on_ready=lambda r: print(f"registered {r.instance_id}", flush=True))
print("done", flush=True)
