#!/usr/bin/env python3
"""git_http_backend.py: the reference git smart-HTTP server for run_push_bench.sh.

Serves every repository under --root with git's own `git http-backend`, run as
CGI once per request (what Apache or nginx+fcgiwrap do), on 127.0.0.1 only:

    python3 git_http_backend.py --root DIR --port-file FILE [--listen 127.0.0.1:0]

`python3 -m http.server --cgi` cannot do this: it does not decode the chunked
request bodies git sends for pushes larger than http.postBuffer (1 MiB) and it
buffers. Here the request body is de-chunked and streamed into the CGI's stdin
by a thread while its output is streamed back. Pushes need http.receivepack=true
in the repository (the runner sets it); there is no authentication.
"""
import argparse
import http.server
import os
import shutil
import subprocess
import threading

BACKEND = os.environ.get("GIT_HTTP_BACKEND", "/usr/lib/git-core/git-http-backend")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    root = "."

    def log_message(self, *a):
        pass

    def do_GET(self):
        self.cgi()

    def do_POST(self):
        self.cgi()

    def body_chunks(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return
                left = size
                while left:
                    b = self.rfile.read(min(left, 1 << 16))
                    if not b:
                        return
                    left -= len(b)
                    yield b
                self.rfile.readline()
        else:
            left = int(self.headers.get("Content-Length") or 0)
            while left:
                b = self.rfile.read(min(left, 1 << 16))
                if not b:
                    return
                left -= len(b)
                yield b

    def cgi(self):
        path, _, query = self.path.partition("?")
        env = {"GIT_PROJECT_ROOT": self.root, "GIT_HTTP_EXPORT_ALL": "1", "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
               "REQUEST_METHOD": self.command, "PATH_INFO": path, "QUERY_STRING": query,
               "CONTENT_TYPE": self.headers.get("Content-Type", ""), "REMOTE_ADDR": self.client_address[0],
               "GATEWAY_INTERFACE": "CGI/1.1", "SERVER_PROTOCOL": "HTTP/1.1"}
        if self.headers.get("Content-Encoding"):
            env["HTTP_CONTENT_ENCODING"] = self.headers["Content-Encoding"]
        if self.headers.get("Git-Protocol"):
            env["HTTP_GIT_PROTOCOL"] = self.headers["Git-Protocol"]
        if self.headers.get("Content-Length") and "chunked" not in self.headers.get("Transfer-Encoding", ""):
            env["CONTENT_LENGTH"] = self.headers["Content-Length"]
        p = subprocess.Popen([BACKEND], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)

        def feed():
            try:
                for b in self.body_chunks():
                    p.stdin.write(b)
            except (BrokenPipeError, ValueError):
                pass
            finally:
                try:
                    p.stdin.close()
                except BrokenPipeError:
                    pass
        t = threading.Thread(target=feed, daemon=True)
        t.start()
        status, headers = "200 OK", []
        while True:
            line = p.stdout.readline().rstrip(b"\r\n")
            if not line:
                break
            k, _, v = line.decode("latin-1").partition(":")
            if k.lower() == "status":
                status = v.strip()
            else:
                headers.append((k, v.strip()))
        code, _, reason = status.partition(" ")
        self.send_response(int(code), reason)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        while True:
            b = p.stdout.read1(1 << 16)
            if not b:
                break
            self.wfile.write(b"%x\r\n%s\r\n" % (len(b), b))
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()
        t.join()
        p.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True)
    ap.add_argument("--listen", default="127.0.0.1:0")
    ap.add_argument("--port-file")
    a = ap.parse_args()
    Handler.root = os.path.abspath(a.root)
    host, port = a.listen.rsplit(":", 1)
    srv = http.server.ThreadingHTTPServer((host, int(port)), Handler)
    if a.port_file:
        with open(a.port_file + ".tmp", "w") as f:
            f.write(f"{srv.server_address[1]}\n")
        shutil.move(a.port_file + ".tmp", a.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
