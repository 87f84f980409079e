"""Seed 003's `say` role: a tiny HTTP service that says things in this commit's voice.

  GET /?text=hi  -> "beep boop says: hi" (the second commit: "beepity boop! says: hi")
  GET /healthz   -> "ok"

Registered in the registry as role `say` with its own port; the router only
carries role `web`, so reach it at its registered address
(`skyport registry query webapp@COMMIT say`) or give the web role its URL
as SAY_URL. Same plumbing as web.py (keep-alive, graceful SIGTERM).
"""
import sys
import urllib.parse

sys.dont_write_bytecode = True  # no __pycache__ in the drone's checkout
import web  # noqa: E402


class SayHandler(web.Handler):
    def do_GET(self):  # noqa: N802
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/healthz":
            return self.send_text(200, "ok\n")
        if url.path != "/":
            return self.send_text(404, "say: only / and /healthz\n")
        text = urllib.parse.parse_qs(url.query).get("text", [""])[0]
        self.send_text(200, web.say(text) + "\n")

    do_HEAD = do_GET  # noqa: N815


if __name__ == "__main__":
    web.serve(SayHandler)
    sys.exit(0)
