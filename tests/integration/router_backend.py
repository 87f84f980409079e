"""An upstream for router tests: HTTP/1.1 with keep-alive, on 127.0.0.1.

  GET/POST/... /anything -> 200 JSON {"name", "port", "method", "path",
                            "headers": [[name, value], ...], "body_len", "body_sha256"}
  POST /echo             -> 200 with the request body as the response body
  GET /until-close       -> 200 without Content-Length; the body ends when the backend closes
Every response carries X-Backend: NAME. Request bodies may come with
Content-Length or chunked (decoded here; http.server does not); Expect:
100-continue is answered by http.server itself (protocol HTTP/1.1).

Usage: router_backend.py --name NAME [--port P (0 = any)] [--port-file FILE]
(the port file gets "PORT\\n" once listening, written atomically).
"""
import argparse
import hashlib
import http.server
import json
import os
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "router-backend"
    disable_nagle_algorithm = True  # head and body are two writes: no 40 ms delayed-ACK stall between them

    def read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()  # CRLF after the chunk
        n = int(self.headers.get("Content-Length", "0") or 0)
        return self.rfile.read(n) if n else b""

    def handle_any(self):
        body = self.read_body()
        if self.path.startswith("/until-close"):
            # HTTP/1.0 style: no Content-Length, the body ends when the connection closes.
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("X-Backend", self.server.name)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"body until close\n" * 100)
            self.close_connection = True
            return
        if self.path.startswith("/echo"):
            out, ctype = body, "application/octet-stream"
        else:
            out = json.dumps({
                "name": self.server.name,
                "port": self.server.server_address[1],
                "method": self.command,
                "path": self.path,
                "headers": [[k, v] for k, v in self.headers.items()],
                "body_len": len(body),
                "body_sha256": hashlib.sha256(body).hexdigest(),
            }).encode()
            ctype = "application/json"
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("X-Backend", self.server.name)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(out)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = handle_any  # noqa: N815

    def log_message(self, *args):
        pass


def write_port_file(path, port):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"{port}\n")
    os.rename(tmp, path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", required=True)
    ap.add_argument("--port", type=int, default=int(os.environ.get("PORT", "0")))
    ap.add_argument("--port-file")
    a = ap.parse_args()
    http.server.ThreadingHTTPServer.allow_reuse_address = True
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    srv.daemon_threads = True
    srv.name = a.name
    if a.port_file:
        write_port_file(a.port_file, srv.server_address[1])
    print("listening", srv.server_address[1], flush=True, file=sys.stderr)
    srv.serve_forever()


if __name__ == "__main__":
    main()
