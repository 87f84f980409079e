"""Seed 004's page-view counter: page views in the last minute, and which instance served it.

Standard library only; listens on $PORT (all interfaces).

  GET /          -> counts the view; "N page views in the last minute, served by INSTANCE"
                    (HTML for browsers, text for curl, JSON with Accept: application/json)
  GET /healthz   -> "ok"; not a page view (health checks must not inflate the count)

INSTANCE is $SKYPORT_DRONE/$SKYPORT_INSTANCE under Skyport, else HOSTNAME:PORT.
Counts are per instance, in memory (the seed kept them in Redis): with several
instances behind the router each shows its own share, which is the point of
printing the instance. Keep-alive HTTP/1.1; SIGTERM finishes requests in flight.
"""
import html
import http.server
import json
import os
import signal
import socket
import sys
import threading
import time


class ViewCounter:
    """Views per whole second in a ring of `window` slots; count() = views in the last `window` seconds.

    The clock is injected (a function returning seconds) so tests step time by hand.
    A slot is reused for second s + window; a slot whose second is out of the window counts 0.
    """

    def __init__(self, window=60, clock=time.monotonic):
        self.window = window
        self.clock = clock
        self._second = [None] * window  # which second each slot holds
        self._count = [0] * window
        self._lock = threading.Lock()

    def hit(self):
        """Counts one view now; returns the views in the window, this one included."""
        now = int(self.clock())
        with self._lock:
            i = now % self.window
            if self._second[i] != now:
                self._second[i], self._count[i] = now, 0
            self._count[i] += 1
            return self._total_locked(now)

    def count(self):
        """Views in the last `window` seconds (the current second included)."""
        now = int(self.clock())
        with self._lock:
            return self._total_locked(now)

    def _total_locked(self, now):
        return sum(c for s, c in zip(self._second, self._count) if s is not None and now - self.window < s <= now)


def instance_name(port):
    drone = os.environ.get("SKYPORT_DRONE")
    if drone:
        return f"{drone}/{os.environ.get('SKYPORT_INSTANCE', '0')}"
    return f"{socket.gethostname()}:{port}"


PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Page views</title></head>
<body><h1>{views} page view{s} in the last minute</h1><p>served by <code>{instance}</code></p></body></html>
"""


class Handler(http.server.BaseHTTPRequestHandler):
    # Keep-alive through a proxy: no Nagle, and head + body flushed in one write.
    protocol_version = "HTTP/1.1"
    server_version = "pageviews"
    disable_nagle_algorithm = True
    wbufsize = 64 * 1024
    timeout = 120

    def parse_request(self):
        # The request line has arrived: in flight until flushed (SIGTERM waits for it).
        if not self._in_flight:
            self._in_flight = True
            self.server.request_started()
        return super().parse_request()

    def handle_one_request(self):
        self._in_flight = False
        try:
            super().handle_one_request()
        finally:
            if self._in_flight:
                self.server.request_finished()

    def do_GET(self):  # noqa: N802
        path = self.path.split("?", 1)[0]
        if path == "/healthz":
            return self.reply(200, "text/plain; charset=utf-8", "ok\n")
        if path != "/":
            return self.reply(404, "text/plain; charset=utf-8", "not found\n")
        views = self.server.counter.hit()
        instance = self.server.instance
        accept = self.headers.get("Accept", "")
        if "application/json" in accept:
            body = json.dumps({"views": views, "window_s": self.server.counter.window, "instance": instance}) + "\n"
            return self.reply(200, "application/json", body)
        if "text/html" in accept:
            page = PAGE.format(views=views, s="" if views == 1 else "s", instance=html.escape(instance))
            return self.reply(200, "text/html; charset=utf-8", page)
        noun = "page view" if views == 1 else "page views"
        self.reply(200, "text/plain; charset=utf-8", f"{views} {noun} in the last minute, served by {instance}\n")

    def reply(self, code, content_type, text):
        body = text.encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        if self.server.stopping.is_set():
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, counter, instance):
        super().__init__(address, Handler)
        self.counter = counter
        self.instance = instance
        self.stopping = threading.Event()
        self._lock = threading.Condition()
        self._in_flight = 0

    def request_started(self):
        with self._lock:
            self._in_flight += 1

    def request_finished(self):
        with self._lock:
            self._in_flight -= 1
            self._lock.notify_all()

    def wait_idle(self, timeout):
        with self._lock:
            return self._lock.wait_for(lambda: self._in_flight == 0, timeout)


def main():
    port = int(os.environ["PORT"])
    srv = Server(("0.0.0.0", port), ViewCounter(), instance_name(port))

    def stop(signum, frame):
        if not srv.stopping.is_set():
            srv.stopping.set()
            # shutdown() waits for serve_forever to return: not from this (its own) thread.
            threading.Thread(target=srv.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    srv.serve_forever(poll_interval=0.2)
    srv.wait_idle(10)
    srv.server_close()


if __name__ == "__main__":
    main()
    sys.exit(0)
