"""HTTP/1.0 clients behind the router, and backslashes in paths (issue 12).

An HTTP/1.0 client cannot parse the chunked coding (RFC 9112 6.1: a server
must not send it one). When an upstream answers chunked, the router sends the
body decoded and ends it by closing the connection, as nginx does; HEAD and
304 answers carry no Transfer-Encoding either, and such bodiless answers keep
the connection. The upstream connection stays pooled (the chunked body ended
cleanly). A raw '\\' in a path is refused (400), or with --escaped-slashes
unescape read as '/', like %5C.
"""
import json
import os
import socket
import tempfile
import threading
import time
import unittest

from harness import RawConn, Router

W = "cccc" + "0" * 36  # app "web": the default app
S = "bbbb" + "0" * 36  # app "shop": path prefix /shop/

CHUNKED_BODY = b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nX-Trailer: t\r\n\r\n"
BIG_PARTS = [bytes([65 + k % 26]) * (1 + (k * 7919) % 5000) for k in range(120)]


class Upstream:
    """A keep-alive upstream on 127.0.0.1 that answers by path:
    /chunked (chunked, with an extension and a trailer), /big (many chunks in
    separate writes), /close (no length: ends with the close), /length,
    /304 and /204; anything else "you asked for PATH". HEAD gets the head of
    the GET answer. Counts the connections it accepted."""

    def __init__(self):
        self.srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(64)
        self.accepted = 0
        self.paths = []
        threading.Thread(target=self._serve, daemon=True).start()

    def address(self):
        return f"127.0.0.1:{self.srv.getsockname()[1]}"

    def close(self):
        self.srv.close()

    def _serve(self):
        while True:
            try:
                s, _ = self.srv.accept()
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self._conn, args=(s,), daemon=True).start()

    def _conn(self, s):
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with s:
            data = b""
            while True:
                while b"\r\n\r\n" not in data:
                    chunk = s.recv(65536)
                    if not chunk:
                        return
                    data += chunk
                head, data = data.split(b"\r\n\r\n", 1)
                method, path = head.split(b" ")[:2]
                self.paths.append(path.decode("latin-1"))
                try:
                    if not self._answer(s, method == b"HEAD", path):
                        return
                except OSError:
                    return

    def _answer(self, s, head, path):
        ok = b"HTTP/1.1 200 OK\r\n"
        if path == b"/chunked":
            s.sendall(ok + b"Transfer-Encoding: chunked\r\n\r\n" + (b"" if head else CHUNKED_BODY))
        elif path == b"/big":
            s.sendall(ok + b"Transfer-Encoding: chunked\r\n\r\n")
            if not head:
                for k, part in enumerate(BIG_PARTS):
                    piece = b"%x\r\n" % len(part) + part + b"\r\n"
                    cut = k % 3 + 1  # framing split across writes too
                    s.sendall(piece[:cut])
                    if k % 10 == 0:
                        time.sleep(0.002)
                    s.sendall(piece[cut:])
                s.sendall(b"0\r\n\r\n")
        elif path == b"/truncated":
            s.sendall(ok + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
            return False
        elif path == b"/close":
            s.sendall(ok + b"\r\n" + (b"" if head else b"until the close"))
            return False
        elif path == b"/304":
            s.sendall(b"HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n")
        elif path == b"/204":
            s.sendall(b"HTTP/1.1 204 No Content\r\n\r\n")
        else:
            body = b"you asked for " + path
            s.sendall(ok + b"Content-Length: %d\r\n\r\n" % len(body) + (b"" if head else body))
        return True


def read_to_close(port, data, timeout=5):
    """Sends `data` on a new connection and returns everything until the router closes it."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(data)
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return out
            out += chunk
    finally:
        s.close()


def split_head(raw):
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        k, v = line.split(":", 1)
        headers.setdefault(k.strip().lower(), []).append(v.strip())
    return int(lines[0].split(" ")[1]), headers, body


class RouterHttp10Test(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls._tmp = tempfile.TemporaryDirectory(prefix="skyport-router-http10-")
        cls.tmp = cls._tmp.name
        cls.up = Upstream()

    @classmethod
    def tearDownClass(cls):
        cls.up.close()
        cls._tmp.cleanup()

    def start_router(self, extra=()):
        d = tempfile.mkdtemp(dir=self.tmp, prefix=self._testMethodName[:40] + "-")
        token_file = os.path.join(d, "token")
        with open(token_file, "w") as f:
            f.write(os.urandom(16).hex() + "\n")
        os.chmod(token_file, 0o600)
        doc = {"default_app": "web", "apps": [
            {"name": "shop", "path_prefixes": ["/shop/"],
             "arms": [{"commit": S, "weight": 100, "upstreams": [self.up.address()]}]},
            {"name": "web", "arms": [{"commit": W, "weight": 100, "upstreams": [self.up.address()]}]},
        ]}
        routes = os.path.join(d, "routes.json")
        with open(routes, "w") as f:
            json.dump(doc, f)
        r = Router(d, token_file, routes=routes, extra=extra, name="http10").start()
        self.addCleanup(r.kill)
        return r

    def metric(self, r, name):
        return r.metric(name)

    # ------------------------------------------------------------ chunked answers, HTTP/1.0 clients

    def test_chunked_answer_reaches_http10_client_decoded_and_ended_by_close(self):
        r = self.start_router()
        for req in (b"GET /chunked HTTP/1.0\r\nHost: web.localhost\r\n\r\n",
                    b"GET /chunked HTTP/1.0\r\nHost: web.localhost\r\nConnection: keep-alive\r\n\r\n"):
            with self.subTest(req=req):
                status, headers, body = split_head(read_to_close(r.port, req))
                self.assertEqual(status, 200)
                self.assertNotIn("transfer-encoding", headers)
                self.assertNotIn("content-length", headers)
                self.assertEqual(headers.get("connection"), ["close"])
                self.assertEqual(body, b"hello, world")  # no chunk framing, no trailer
        self.assertEqual(self.metric(r, "skyport_router_responses_dechunked_total"), 2)

    def test_truncated_chunked_answer_resets_the_http10_client(self):
        # A close would make "hello" look like the whole body: the router resets the connection.
        r = self.start_router()
        with self.assertRaises(ConnectionResetError):
            read_to_close(r.port, b"GET /truncated HTTP/1.0\r\n\r\n")

    def test_many_chunks_across_reads_are_decoded_whole(self):
        r = self.start_router()
        status, headers, body = split_head(read_to_close(r.port, b"GET /big HTTP/1.0\r\n\r\n"))
        self.assertEqual(status, 200)
        self.assertNotIn("transfer-encoding", headers)
        self.assertEqual(body, b"".join(BIG_PARTS))

    def test_http11_client_still_gets_chunked(self):
        r = self.start_router()
        c = RawConn(r.port)
        self.addCleanup(c.close)
        for _ in range(2):  # keep-alive holds
            c.send(b"GET /chunked HTTP/1.1\r\nHost: web.localhost\r\n\r\n")
            status, headers, body = c.read_response()
            self.assertEqual(status, 200)
            self.assertEqual(headers.get("transfer-encoding"), ["chunked"])
            self.assertEqual(body, b"hello, world")

    def test_upstream_connection_pooled_after_decoded_answer(self):
        r = self.start_router()
        before = self.up.accepted
        for _ in range(6):
            _, _, body = split_head(read_to_close(r.port, b"GET /chunked HTTP/1.0\r\n\r\n"))
            self.assertEqual(body, b"hello, world")
        self.assertLessEqual(self.up.accepted - before, 2)  # the harness runs two workers, a pool each

    def test_http10_pipelined_requests_after_a_chunked_answer_are_not_answered(self):
        # The close ends the first body: the second request is never answered on this connection
        # (the client sees one response, not a second one glued to the body).
        r = self.start_router()
        req = b"GET /chunked HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
        status, headers, body = split_head(read_to_close(r.port, req + req + req))
        self.assertEqual(status, 200)
        self.assertEqual(body, b"hello, world")

    def test_http10_pipelined_head_304_204_keep_the_connection_without_transfer_encoding(self):
        r = self.start_router()
        c = RawConn(r.port)
        self.addCleanup(c.close)
        ka = b" HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
        c.send(b"HEAD /chunked" + ka + b"GET /304" + ka + b"GET /204" + ka + b"HEAD /big" + ka + b"GET /length" + ka)
        for path, want in (("/chunked", 200), ("/304", 304), ("/204", 204), ("/big", 200)):
            with self.subTest(path=path):
                status, headers = c.read_head()
                self.assertEqual(status, want)
                self.assertNotIn("transfer-encoding", headers)
                self.assertNotIn("content-length", headers)
                self.assertEqual(headers.get("connection"), ["keep-alive"])
        status, headers, body = c.read_response()
        self.assertEqual((status, body), (200, b"you asked for /length"))
        self.assertEqual(headers.get("connection"), ["keep-alive"])
        self.assertEqual(c.buf, b"")

    def test_http10_keep_alive_kept_after_the_routers_own_answers(self):
        # An answer of the router itself (here 503: no event collection) that keeps the
        # connection must say so to an HTTP/1.0 client.
        r = self.start_router()
        c = RawConn(r.port)
        self.addCleanup(c.close)
        c.send(b"GET /_skyport/events HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
               b"GET /length HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        status, headers, _ = c.read_response()
        self.assertEqual(status, 503)
        self.assertEqual(headers.get("connection"), ["keep-alive"])
        status, headers, body = c.read_response()
        self.assertEqual((status, body), (200, b"you asked for /length"))

    def test_http10_keep_alive_with_close_delimited_answer_is_closed(self):
        r = self.start_router()
        raw = read_to_close(r.port, b"GET /close HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
                                    b"GET /length HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        status, headers, body = split_head(raw)
        self.assertEqual(status, 200)
        self.assertEqual(headers.get("connection"), ["close"])
        self.assertNotIn("transfer-encoding", headers)
        self.assertEqual(body, b"until the close")

    # ------------------------------------------------------------ backslashes

    def test_backslash_in_path_refused(self):
        r = self.start_router()
        before = len(self.up.paths)
        for path in (b"/shop\\..\\admin", b"/shop/..\\admin", b"/a\\b"):
            with self.subTest(path=path):
                c = RawConn(r.port)
                try:
                    c.send(b"GET " + path + b" HTTP/1.1\r\nHost: x\r\n\r\n")
                    status, _, body = c.read_response()
                finally:
                    c.close()
                self.assertEqual(status, 400)
                self.assertIn(b"backslash", body)
        self.assertEqual(self.up.paths[before:], [])  # nothing reached an upstream
        self.assertEqual(self.metric(r, "skyport_router_paths_refused_total"), 3)

    def test_backslash_read_as_slash_with_unescape(self):
        r = self.start_router(extra=["--escaped-slashes", "unescape"])
        for path, commit, seen in ((b"/shop\\..\\admin", W, b"/admin"), (b"/shop/..%5Cadmin", W, b"/admin"),
                                   (b"/shop\\cart", S, b"/shop/cart")):
            with self.subTest(path=path):
                c = RawConn(r.port)
                try:
                    c.send(b"GET " + path + b"?q=\\ HTTP/1.1\r\nHost: x\r\n\r\n")
                    status, headers, body = c.read_response()
                finally:
                    c.close()
                self.assertEqual(status, 200)
                self.assertEqual(headers.get("x-skyport-commit"), [commit])
                self.assertEqual(body, b"you asked for " + seen + b"?q=\\")


if __name__ == "__main__":
    unittest.main()
