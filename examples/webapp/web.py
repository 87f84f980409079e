"""Seed 003's web role: "beep boop", and /THING -> "THING ALL HUMANS".

Standard library only. Listens on $PORT; the greeting can be changed with
$WEBAPP_GREETING (a later commit of the example changes it in the code).
"""
import http.server
import os

GREETING = os.environ.get("WEBAPP_GREETING", "beep boop")


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        word = self.path.strip("/").split("?")[0]
        body = (f"{word} ALL HUMANS\n" if word else f"{GREETING}\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), Handler).serve_forever()
