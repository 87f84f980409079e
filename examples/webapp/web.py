"""Seed 003's web role: beep boop, and /THING -> THING ALL HUMANS.

Standard library only; listens on $PORT (all interfaces).

  GET /            -> the greeting, beep boop (the demo's second commit changes it)
  GET /HUG         -> "HUG ALL HUMANS" (any one path word)
  GET /say?text=T  -> T said by the `say` role at $SAY_URL if set, else said here
  GET /healthz     -> "ok" (for the drone's readiness check)

HTTP/1.1 keep-alive; head and body leave in one write (see `Handler`);
SIGTERM stops accepting, lets requests in flight finish, exits 0.
The plumbing here is shared with say.py, which imports it.
"""
import http.server
import os
import signal
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request

# scripts/demo.sh makes the second commit by replacing the quoted greeting on the next line.
GREETING = os.environ.get("WEBAPP_GREETING", "beep boop")


def say(text):
    """A phrase in this commit's voice (what the `say` role answers)."""
    return f"{GREETING} says: {text or 'beep'}"


class Handler(http.server.BaseHTTPRequestHandler):
    """Keep-alive text responses.

    http.server writes the head and the body separately; behind a proxy that
    reuses connections, Nagle + delayed ACK would then stall every request
    40 ms. So: TCP_NODELAY, and a buffered writer flushed once per response
    (handle_one_request flushes wfile after each request).
    """

    protocol_version = "HTTP/1.1"
    server_version = "skyport-example"
    disable_nagle_algorithm = True
    wbufsize = 64 * 1024
    timeout = 120  # idle keep-alive connections close after this

    def parse_request(self):
        # The request line has arrived: from here to the flush it counts as in flight.
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

    def send_text(self, code, text, content_type="text/plain; charset=utf-8"):
        body = text.encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if self.server.stopping.is_set():
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, *args):
        pass


class WebHandler(Handler):
    def do_GET(self):  # noqa: N802
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/healthz":
            return self.send_text(200, "ok\n")
        if url.path == "/say":
            text = urllib.parse.parse_qs(url.query).get("text", [""])[0]
            return self.say(text)
        word = url.path.strip("/")
        self.send_text(200, f"{word} ALL HUMANS\n" if word else f"{GREETING}\n")

    do_HEAD = do_GET  # noqa: N815

    def say(self, text):
        base = os.environ.get("SAY_URL", "").rstrip("/")
        if not base:
            return self.send_text(200, say(text) + "\n")
        target = f"{base}/?{urllib.parse.urlencode({'text': text})}"
        try:
            with urllib.request.urlopen(target, timeout=5) as r:
                return self.send_text(200, r.read().decode())
        except (urllib.error.URLError, OSError) as e:
            return self.send_text(502, f"say role at {base} unavailable: {e}\n")


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, handler):
        super().__init__(address, handler)
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
        """True once no request is in flight (idle keep-alive connections don't count)."""
        with self._lock:
            return self._lock.wait_for(lambda: self._in_flight == 0, timeout)


def serve(handler, port=None, host="0.0.0.0", drain_s=10.0):
    """Serves until SIGTERM/SIGINT, then lets requests in flight finish and returns."""
    srv = Server((host, int(os.environ["PORT"]) if port is None else port), handler)

    def stop(signum, frame):
        if not srv.stopping.is_set():
            srv.stopping.set()
            # shutdown() waits for serve_forever to return: not from this (its own) thread.
            threading.Thread(target=srv.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    srv.serve_forever(poll_interval=0.2)
    srv.wait_idle(drain_s)
    srv.server_close()


if __name__ == "__main__":
    serve(WebHandler)
    sys.exit(0)
