"""The router's edge against hostile clients and sloppy upstreams (issue 12):
response desync through pooled upstream connections, framing the router
regenerates instead of passing through, header names with underscores, path
normalisation before prefix routing, and Host / absolute-form checks.

The desync upstream is python's http.server answering without reading request
bodies, as examples/webapp does: a body that is itself a request gets a second
answer on the same connection. Attackers and victims run in parallel; every
victim must get the answer to its own request.
"""
import http.client
import http.server
import json
import os
import socket
import tempfile
import threading
import time
import unittest

from harness import Backend, RawConn, Router, wait_until

A = "aaaa" + "0" * 36  # app "lazy": the upstream that ignores bodies
S = "bbbb" + "0" * 36  # app "shop": path prefix /shop/
W = "cccc" + "0" * 36  # app "web": the default app
X = "dddd" + "0" * 36  # app "ambiguous": an upstream with bad framing
SMUGGLED = b"GET /PWNED HTTP/1.1\r\nHost: lazy.localhost\r\n\r\n"


class LazyHandler(http.server.BaseHTTPRequestHandler):
    """Answers every method without reading the body (like examples/webapp and
    http.server's own error paths). The smuggled /PWNED takes a moment, so that
    its answer arrives after the router has finished the attacker's exchange."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def answer(self):
        if self.path.startswith("/PWNED"):
            time.sleep(0.02)
        body = f"you asked for {self.path}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_OPTIONS = answer  # noqa: N815

    def log_message(self, *args):
        pass


def raw_upstream(response):
    """A listening socket on 127.0.0.1 answering every request head with `response`, then closing."""
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)

    def serve():
        while True:
            try:
                s, _ = srv.accept()
            except OSError:
                return
            with s:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                try:
                    s.sendall(response)
                except OSError:
                    pass
    threading.Thread(target=serve, daemon=True).start()
    return srv


def chatty_upstream():
    """A keep-alive upstream that says more than it is asked: after each answer it sends
    an unsolicited second one, in the same write or a few ms later (while the connection
    idles in the router's pool)."""
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    extra = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nPWNED"

    def conn(s):
        with s:
            data, n = b"", 0
            while True:
                while b"\r\n\r\n" not in data:
                    chunk = s.recv(65536)
                    if not chunk:
                        return
                    data += chunk
                head, data = data.split(b"\r\n\r\n", 1)
                path = head.split(b" ")[1]
                body = b"you asked for " + path
                answer = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body
                try:
                    if n % 2 == 0:
                        s.sendall(answer + extra)
                    else:
                        s.sendall(answer)
                        time.sleep(0.005)
                        s.sendall(extra)
                except OSError:
                    return
                n += 1

    def serve():
        while True:
            try:
                s, _ = srv.accept()
            except OSError:
                return
            threading.Thread(target=conn, args=(s,), daemon=True).start()
    threading.Thread(target=serve, daemon=True).start()
    return srv


def capturing_upstream():
    """Records each request's bytes (head and chunked body through its end) and answers 200, closing."""
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    seen = []

    def serve():
        while True:
            try:
                s, _ = srv.accept()
            except OSError:
                return
            with s:
                s.settimeout(5)
                data = b""
                try:
                    while True:
                        head_end = data.find(b"\r\n\r\n")
                        last = data.find(b"\r\n0\r\n", head_end) if head_end >= 0 else -1
                        if last >= 0 and data.find(b"\r\n\r\n", last + 2) >= 0:
                            break
                        chunk = s.recv(65536)
                        if not chunk:
                            break
                        data += chunk
                    seen.append(data)
                    s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
                except OSError:
                    pass
    threading.Thread(target=serve, daemon=True).start()
    return srv, seen


class RouterEdgeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls._tmp = tempfile.TemporaryDirectory(prefix="skyport-router-edge-")
        cls.tmp = cls._tmp.name
        http.server.ThreadingHTTPServer.allow_reuse_address = True
        cls.lazy = http.server.ThreadingHTTPServer(("127.0.0.1", 0), LazyHandler)
        cls.lazy.daemon_threads = True
        cls.lazy.handle_error = lambda *args: None  # the smuggled chunk-size line is a bad request: no noise
        threading.Thread(target=cls.lazy.serve_forever, daemon=True).start()
        cls.ambiguous = raw_upstream(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
                                     b"0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nPWNED!")
        cls.chatty = chatty_upstream()
        cls.capture, cls.captured = capturing_upstream()
        cls.backends = []
        try:
            cls.shop = cls._backend("shop")
            cls.web = cls._backend("web")
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def _backend(cls, name):
        b = Backend(cls.tmp, name)
        cls.backends.append(b)
        return b.start()

    @classmethod
    def tearDownClass(cls):
        cls.lazy.shutdown()
        cls.lazy.server_close()
        cls.ambiguous.close()
        cls.chatty.close()
        cls.capture.close()
        for b in cls.backends:
            b.kill()
        cls._tmp.cleanup()

    def setUp(self):
        self.dir = tempfile.mkdtemp(dir=self.tmp, prefix=self._testMethodName[:40] + "-")
        self.token_file = os.path.join(self.dir, "token")
        with open(self.token_file, "w") as f:
            f.write(os.urandom(16).hex() + "\n")
        os.chmod(self.token_file, 0o600)

    def start_router(self, extra=()):
        doc = {"default_app": "web", "apps": [
            {"name": "lazy", "arms": [{"commit": A, "weight": 100,
                                       "upstreams": [f"127.0.0.1:{self.lazy.server_address[1]}"]}]},
            {"name": "shop", "path_prefixes": ["/shop/"],
             "arms": [{"commit": S, "weight": 100, "upstreams": [self.shop.address()]}]},
            {"name": "web", "arms": [{"commit": W, "weight": 100, "upstreams": [self.web.address()]}]},
            {"name": "ambiguous", "arms": [{"commit": X, "weight": 100,
                                            "upstreams": [f"127.0.0.1:{self.ambiguous.getsockname()[1]}"]}]},
            {"name": "chatty", "arms": [{"commit": X, "weight": 100,
                                         "upstreams": [f"127.0.0.1:{self.chatty.getsockname()[1]}"]}]},
            {"name": "capture", "arms": [{"commit": X, "weight": 100,
                                          "upstreams": [f"127.0.0.1:{self.capture.getsockname()[1]}"]}]},
        ]}
        routes = os.path.join(self.dir, "routes.json")
        with open(routes, "w") as f:
            json.dump(doc, f)
        r = Router(self.dir, self.token_file, routes=routes, extra=extra, name="edge").start()
        self.addCleanup(r.kill)
        return r

    def metric(self, r, name):
        return r.metric(name)

    def raw(self, r, data):
        c = RawConn(r.port)
        try:
            c.send(data)
            return c.read_response()
        finally:
            c.close()

    # ------------------------------------------------------------ desync

    ATTACKS = {
        "GET": b"GET /attack HTTP/1.1\r\nHost: lazy.localhost\r\nContent-Length: %d\r\n\r\n" % len(SMUGGLED)
               + SMUGGLED,
        "POST": b"POST /attack HTTP/1.1\r\nHost: lazy.localhost\r\nContent-Length: %d\r\n\r\n" % len(SMUGGLED)
                + SMUGGLED,
        "OPTIONS": b"OPTIONS /attack HTTP/1.1\r\nHost: lazy.localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
                   + b"%x\r\n" % len(SMUGGLED) + SMUGGLED + b"\r\n0\r\n\r\n",
    }

    def desync_attempt(self, r, attacks, victims=4, per_victim=150):
        """Attacker loops sending `attacks` (bodies that are requests) and victims sending GETs over
        keep-alive connections, in parallel; fails on any answer that is not to its own request."""
        wrong, stolen, errors, served = [], [], [], [0]
        stop = threading.Event()

        def attacker(k):
            c = None
            try:
                c = RawConn(r.port)
                while not stop.is_set():
                    c.send(attacks[k % len(attacks)])
                    status, _, body = c.read_response()
                    if status == 200 and body != b"you asked for /attack":
                        stolen.append(body)
            except (OSError, EOFError, AssertionError):
                pass  # an attacker's connection may be closed: a new one goes on
            finally:
                if c:
                    c.close()

        def attackers(k):
            while not stop.is_set():
                attacker(k)

        def victim(k):
            conn = http.client.HTTPConnection("127.0.0.1", r.port, timeout=10)
            for i in range(per_victim):
                path = f"/victim/{k}/{i}"
                try:
                    conn.request("GET", path, headers={"Host": "lazy.localhost"})
                    resp = conn.getresponse()
                    body = resp.read()
                except Exception as e:  # noqa: BLE001 - reported below
                    errors.append(e)
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", r.port, timeout=10)
                    continue
                if body != f"you asked for {path}".encode():
                    wrong.append((path, resp.status, body))
                served[0] += 1
            conn.close()

        ats = [threading.Thread(target=attackers, args=(k,), daemon=True) for k in range(3)]
        vts = [threading.Thread(target=victim, args=(k,)) for k in range(victims)]
        for t in ats + vts:
            t.start()
        for t in vts:
            t.join(45)
        stop.set()
        for t in ats:
            t.join(10)
        n = victims * per_victim
        self.assertEqual(wrong[:5], [], f"{len(wrong)} of {n} victims' responses answered another request")
        self.assertEqual(stolen[:5], [], f"{len(stolen)} attackers' responses answered another request")
        self.assertEqual(errors[:5], [])
        self.assertEqual(served[0], n)

    def test_bodies_the_upstream_ignores_never_reach_another_user(self):
        r = self.start_router()
        self.desync_attempt(r, list(self.ATTACKS.values()))
        self.assertGreater(self.metric(r, 'skyport_router_upstream_not_reused_total{reason="request_body"}'), 0)

    def test_reuse_after_body_flag_still_closes_after_get_and_options_bodies(self):
        # The flag trusts apps to read POST/PUT/PATCH bodies (this one does not: no POSTs here);
        # bodies of other methods still never keep the connection.
        r = self.start_router(extra=["--reuse-upstream-after-body"])
        self.desync_attempt(r, [self.ATTACKS["GET"], self.ATTACKS["OPTIONS"]], victims=3, per_victim=100)
        # A POST the app reads keeps its pooled connection: no new upstream connections.
        conn = http.client.HTTPConnection("127.0.0.1", r.port, timeout=10)
        self.addCleanup(conn.close)
        for _ in range(3):
            conn.request("POST", "/echo", body=b"x" * 100, headers={"Host": "web.localhost"})
            self.assertEqual(conn.getresponse().read(), b"x" * 100)
        before = self.metric(r, "skyport_router_upstream_connects_total")
        for _ in range(20):
            conn.request("POST", "/echo", body=b"y" * 100, headers={"Host": "web.localhost"})
            self.assertEqual(conn.getresponse().read(), b"y" * 100)
        self.assertEqual(self.metric(r, "skyport_router_upstream_connects_total"), before)

    def test_bytes_after_a_complete_response_are_never_handed_out(self):
        r = self.start_router()
        wrong = []

        def client(k):
            conn = http.client.HTTPConnection("127.0.0.1", r.port, timeout=10)
            try:
                for i in range(40):
                    path = f"/c/{k}/{i}"
                    conn.request("GET", path, headers={"Host": "chatty.localhost"})
                    body = conn.getresponse().read()
                    if body != f"you asked for {path}".encode():
                        wrong.append((path, body))
            finally:
                conn.close()
        threads = [threading.Thread(target=client, args=(k,)) for k in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        self.assertEqual(wrong[:5], [], f"{len(wrong)} of 120 answers were not to their request")
        self.assertGreater(self.metric(r, 'skyport_router_upstream_not_reused_total{reason="unexpected_bytes"}'), 0)

    # ------------------------------------------------------------ framing

    def backend_view(self, r, data):
        status, headers, body = self.raw(r, data)
        self.assertEqual(status, 200, body)
        doc = json.loads(body)
        return doc, [(k.lower(), v) for k, v in doc["headers"]]

    def test_framing_is_regenerated_never_passed_through(self):
        r = self.start_router()
        for te in (b"\tchunked", b"CHUNKED", b",chunked,", b"chunked , "):
            with self.subTest(te=te):
                doc, seen = self.backend_view(
                    r, b"POST /f HTTP/1.1\r\nHost: web.localhost\r\nTransfer-Encoding: " + te +
                    b"\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
                self.assertEqual([v for k, v in seen if k in ("transfer-encoding", "content-length")], ["chunked"])
                self.assertEqual(doc["body_len"], 5)
        # Content-Length is written by the router, once.
        doc, seen = self.backend_view(r, b"POST /f HTTP/1.1\r\nHost: web.localhost\r\ncontent-length:  5 \r\n\r\nhello")
        self.assertEqual([(k, v) for k, v in seen if k in ("transfer-encoding", "content-length")],
                         [("content-length", "5")])

    def test_header_names_with_underscores_are_dropped(self):
        r = self.start_router()
        req = (b"POST /u HTTP/1.1\r\nHost: web.localhost\r\nContent-Length: 5\r\nTransfer_Encoding: chunked\r\n"
               b"X_Skyport_User: someone-else\r\nX_Custom: 1\r\nX-Plain: 2\r\n\r\nhello")
        doc, seen = self.backend_view(r, req)
        names = [k for k, _ in seen]
        self.assertNotIn("transfer_encoding", names)
        self.assertNotIn("x_skyport_user", names)
        self.assertNotIn("x_custom", names)
        self.assertIn("x-plain", names)
        self.assertEqual(doc["body_len"], 5)
        self.assertEqual(self.metric(r, "skyport_router_underscore_headers_dropped_total"), 3)

        # With the flag the harmless ones travel; those that fold into fields the router owns never do.
        r2 = self.start_router(extra=["--allow-underscore-headers"])
        doc, seen = self.backend_view(r2, req)
        names = [k for k, _ in seen]
        self.assertNotIn("transfer_encoding", names)
        self.assertNotIn("x_skyport_user", names)
        self.assertIn("x_custom", names)

    def test_x_forwarded_for_lines_are_one_list(self):
        # A front proxy (HAProxy option forwardfor) appends its own line after the client's.
        r = self.start_router()
        doc, seen = self.backend_view(
            r, b"GET /x HTTP/1.1\r\nHost: web.localhost\r\nX-Forwarded-For: 6.6.6.6, 7.7.7.7\r\n"
               b"X-Forwarded-For: 10.0.0.7\r\n\r\n")
        self.assertEqual([v for k, v in seen if k == "x-forwarded-for"], ["6.6.6.6, 7.7.7.7, 10.0.0.7, 127.0.0.1"])

    def test_client_forwarding_and_rewrite_headers_are_dropped(self):
        r = self.start_router()
        fields = [b"Forwarded: for=6.6.6.6;host=admin.example", b"X-Original-URL: /admin", b"X-Rewrite-URL: /admin",
                  b"X-Real-IP: 6.6.6.6", b"X-Forwarded-Port: 1", b"X-Forwarded-Prefix: /admin"]
        doc, seen = self.backend_view(
            r, b"GET /x HTTP/1.1\r\nHost: web.localhost\r\n" + b"\r\n".join(fields) + b"\r\nX-Plain: 2\r\n\r\n")
        names = [k for k, _ in seen]
        for f in fields:
            self.assertNotIn(f.split(b":")[0].decode().lower(), names)
        self.assertIn("x-plain", names)
        self.assertEqual(self.metric(r, "skyport_router_forwarding_headers_dropped_total"), len(fields))

    def test_request_trailers_are_dropped(self):
        r = self.start_router()
        before = len(self.captured)
        status, _, body = self.raw(
            r, b"POST /t HTTP/1.1\r\nHost: capture.localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"5\r\nhello\r\n0\r\nX-Skyport-User: victim\r\nContent-Length: 99\r\n\r\n")
        self.assertEqual(status, 200, body)
        wait_until(lambda: len(self.captured) > before, timeout=5)
        sent = self.captured[-1]
        self.assertNotIn(b"victim", sent)
        self.assertTrue(sent.endswith(b"\r\n\r\n5\r\nhello\r\n0\r\n\r\n"), sent)
        self.assertGreater(self.metric(r, "skyport_router_request_trailer_bytes_dropped_total"), 0)

    def test_ambiguous_upstream_response_is_502(self):
        r = self.start_router()
        status, _, body = self.raw(r, b"GET / HTTP/1.1\r\nHost: ambiguous.localhost\r\n\r\n")
        self.assertEqual(status, 502, body)
        self.assertNotIn(b"PWNED", body)

    # ------------------------------------------------------------ paths and hosts

    def test_prefix_routes_match_the_normalised_path(self):
        r = self.start_router()

        def who(target):
            status, _, body = self.raw(r, b"GET " + target + b" HTTP/1.1\r\nHost: r.example\r\n\r\n")
            if status != 200:
                return status, None
            doc = json.loads(body)
            return doc["name"], doc["path"]

        self.assertEqual(who(b"/shop/cart"), ("shop", "/shop/cart"))
        self.assertEqual(who(b"/shop/../admin"), ("web", "/admin"))
        self.assertEqual(who(b"/shop/./../admin?x=1"), ("web", "/admin?x=1"))
        self.assertEqual(who(b"/shop/%2e%2E/admin"), ("web", "/admin"))
        self.assertEqual(who(b"/x/../shop/%7ecart"), ("shop", "/shop/~cart"))
        self.assertEqual(who(b"/shop/a%2fb"), (400, None))
        self.assertEqual(who(b"/shop/..%2fadmin"), (400, None))
        self.assertEqual(who(b"/shop/..%5Cadmin"), (400, None))
        self.assertEqual(who(b"/shop/%zz"), (400, None))
        # ";params" on a dot segment: Tomcat/Jetty/Spring would serve /admin.
        self.assertEqual(who(b"/shop/..;/admin"), (400, None))
        self.assertEqual(who(b"/shop/%2e%2e;jsessionid=1/admin"), (400, None))
        self.assertEqual(who(b"/shop/.;/admin"), (400, None))
        self.assertEqual(who(b"/shop/cart;v=1"), ("shop", "/shop/cart;v=1"))

    def test_host_and_absolute_form_must_agree(self):
        r = self.start_router()
        for host in (b"web.localhost:80@evil", b"web.localhost/x", b"web.localhost:99999", b"a b", b"[::1"):
            with self.subTest(host=host):
                status, _, _ = self.raw(r, b"GET / HTTP/1.1\r\nHost: " + host + b"\r\n\r\n")
                self.assertEqual(status, 400)
        status, _, body = self.raw(r, b"GET http://shop.localhost/shop/x HTTP/1.1\r\nHost: web.localhost\r\n\r\n")
        self.assertEqual(status, 400, body)
        status, _, body = self.raw(r, b"GET http://user@web.localhost/ HTTP/1.1\r\nHost: web.localhost\r\n\r\n")
        self.assertEqual(status, 400, body)
        status, _, body = self.raw(r, b"GET http://WEB.localhost:80/y?q HTTP/1.1\r\nHost: web.localhost\r\n\r\n")
        self.assertEqual(status, 200, body)
        doc = json.loads(body)
        self.assertEqual((doc["name"], doc["path"]), ("web", "/y?q"))


if __name__ == "__main__":
    unittest.main()
