"""envecho: an app that shows the config var GREETING (skyport config set APP GREETING=...).

It answers every GET with `GREETING=<value> commit=<12> instance=<n>` — only GREETING,
never the rest of its environment (an app that printed every variable would hand its
secrets to anyone who asks). HTTP/1.1 with keep-alive; SIGTERM ends it at once.
"""
import http.server
import os
import signal
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        body = (f"GREETING={os.environ.get('GREETING', '(unset)')} "
                f"commit={os.environ.get('SKYPORT_COMMIT', '?')[:12]} "
                f"instance={os.environ.get('SKYPORT_INSTANCE', '?')}\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True


if __name__ == "__main__":
    server = Server(("127.0.0.1", int(os.environ.get("PORT", "8080"))), Handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server.serve_forever()
