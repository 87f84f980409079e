"""skyport-router in static mode (--routes FILE, no registry) in front of local
Python backends, on 127.0.0.1: split shares, sticky cookies, SIGHUP reloads,
what it rejects, bodies, pipelining, WebSocket, forwarded headers, retries and
the admin endpoints.

Shares are checked with a tolerance of 2.5 points: arms are dealt by a hash of
random user ids, so over n=2000 cookie-less requests the share of a p=0.10 arm
is binomial with sd sqrt(.1*.9/2000) = 0.67 point (p=0.20: 0.89 point); 2.5
points is ~3.7 sd (~2.8 sd at p=0.20), so a correct router fails it about once
in a few thousand runs while a wrong split (e.g. 80/20 served as 90/10, or
a 50/50) is far outside it.
"""
import hashlib
import http.client
import json
import os
import re
import signal
import socket
import tempfile
import threading
import unittest

from harness import Backend, RawConn, Router, dead_port, wait_until

A = "aaaa" + "0" * 36  # arms in commit order = file order: A's slices come first
B = "bbbb" + "0" * 36
W = "cccc" + "0" * 36  # app "ws"
F = "dddd" + "0" * 36  # app "flaky": one live, one dead upstream
D = "eeee" + "0" * 36  # app "down": nothing listening
M = "ffff" + "0" * 36  # app "mute": one upstream closes without answering
N = 2000
def share_tolerance(p, n):
    """Five standard deviations of a binomial share p of n random users: a right split fails
    this about once in 1.7 million checks (2.5 points, about 3 sigma at p=0.2 and n=2000,
    failed about one full suite run in 30), a wrong one (another weight) still fails it."""
    return 5 * (p * (1 - p) / n) ** 0.5
# The router's signed cookie (router/user_cookie.h): v1.<user id>.<mac>.<split id>.
COOKIE_RE = re.compile(r"^skyport=v1\.([0-9a-f]{32})\.[A-Za-z0-9_-]{16}\.([A-Za-z0-9._-]+)$")


def run_requests(port, reqs, conns=4, host="web.localhost", path="/"):
    """Sends one GET per entry of `reqs` (extra headers) over `conns` keep-alive
    connections in parallel; returns [(status, {lowercase header: value}, body)] in order."""
    results = [None] * len(reqs)
    errors = []

    def worker(k):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            for i in range(k, len(reqs), conns):
                conn.request("GET", path, headers={"Host": host, **reqs[i]})
                r = conn.getresponse()
                body = r.read()
                results[i] = (r.status, {k.lower(): v for k, v in r.getheaders()}, body)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)
        finally:
            conn.close()

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise AssertionError(f"request failed: {errors[0]!r}")
    return results


def get(port, path="/", host="web.localhost", headers=None, method="GET", body=None):
    """One request on a new connection; (status, {lowercase header: value}, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=body, headers={"Host": host, **(headers or {})})
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def cookie_pair(set_cookie):
    """"skyport=UID.SPLIT; Path=/; ..." -> "skyport=UID.SPLIT"."""
    return set_cookie.split(";", 1)[0].strip()


def strings_in(doc):
    """Every string and number anywhere in a JSON document, as strings."""
    if isinstance(doc, dict):
        return [s for k, v in doc.items() for s in [str(k), *strings_in(v)]]
    if isinstance(doc, list):
        return [s for v in doc for s in strings_in(v)]
    return [str(doc)]


class StaticRouterTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls._tmp = tempfile.TemporaryDirectory(prefix="skyport-router-it-")
        cls.tmp = cls._tmp.name
        cls.backends = []
        cls.dead = []
        try:
            cls.a = cls._backend("A")
            cls.b = cls._backend("B")
            cls.c = cls._backend("C")
            cls.ws = cls._backend("W", script="ws_echo_server.py")
            for _ in range(3):
                cls.dead.append(dead_port())
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def _backend(cls, name, script="router_backend.py"):
        b = Backend(cls.tmp, name, script=script)
        cls.backends.append(b)
        return b.start()

    @classmethod
    def tearDownClass(cls):
        for b in cls.backends:
            b.kill()
        for s, _ in cls.dead:
            s.close()
        cls._tmp.cleanup()

    def setUp(self):
        self.dir = tempfile.mkdtemp(dir=self.tmp, prefix=self._testMethodName[:40] + "-")
        self.token_file = os.path.join(self.dir, "token")
        with open(self.token_file, "w") as f:
            f.write(os.urandom(16).hex() + "\n")
        os.chmod(self.token_file, 0o600)
        self.routes_file = os.path.join(self.dir, "routes.json")

    def routes(self, weight_a=90, weight_b=10, split_id="s1"):
        dead = [f"127.0.0.1:{p}" for _, p in self.dead]
        return {"apps": [
            {"name": "web", "split_id": split_id, "arms": [
                {"commit": A, "weight": weight_a, "upstreams": [self.a.address()]},
                {"commit": B, "weight": weight_b, "upstreams": [self.b.address()]}]},
            {"name": "ws", "arms": [{"commit": W, "weight": 100, "upstreams": [self.ws.address()]}]},
            {"name": "flaky", "arms": [{"commit": F, "weight": 100, "upstreams": [self.c.address(), dead[0]]}]},
            {"name": "down", "arms": [{"commit": D, "weight": 100, "upstreams": dead[1:3]}]},
        ]}

    def write_routes(self, doc):
        tmp = self.routes_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(doc if isinstance(doc, str) else json.dumps(doc))
        os.rename(tmp, self.routes_file)

    def start_router(self, doc=None, extra=()):
        self.write_routes(doc or self.routes())
        r = Router(self.dir, self.token_file, routes=self.routes_file, extra=extra, name="r").start()
        self.addCleanup(r.kill)
        self.router = r
        return r

    def reload(self, r, doc, ok=True):
        """Writes the routes file, sends SIGHUP, and waits for the router to log the outcome."""
        before_ok = r.log().count("routes reloaded")
        before_bad = r.log().count("routes reload failed")
        self.write_routes(doc)
        r.kill(signal.SIGHUP)
        if ok:
            wait_until(lambda: r.log().count("routes reloaded") > before_ok, 10, what="routes reloaded")
        else:
            wait_until(lambda: r.log().count("routes reload failed") > before_bad, 10, what="reload error logged")

    def check_identity(self, status, headers, body):
        """A 200 from web: the commit header names the arm whose backend answered."""
        self.assertEqual(status, 200, body)
        doc = json.loads(body)
        backend = {"A": (A, self.a), "B": (B, self.b)}[doc["name"]]
        self.assertEqual(headers.get("x-skyport-commit"), backend[0])
        self.assertEqual(headers.get("x-skyport-instance"), f"127.0.0.1:{backend[1].port}")
        self.assertEqual(headers.get("x-backend"), doc["name"])
        return backend[0]

    # ------------------------------------------------------------ split

    def test_split_shares_stickiness_and_reloads(self):
        r = self.start_router(self.routes(90, 10, "s1"))
        res = run_requests(r.port, [{}] * N)
        arms, pairs, users = [], [], set()
        for status, headers, body in res:
            arms.append(self.check_identity(status, headers, body))
            m = COOKIE_RE.match(cookie_pair(headers.get("set-cookie", "")))
            self.assertIsNotNone(m, f"no sticky cookie: {headers}")
            self.assertEqual(m.group(2), "s1")
            self.assertIn("Path=/", headers["set-cookie"])
            pairs.append(m.group(0))
            users.add(m.group(1))
        self.assertEqual(len(users), N, "every cookie-less request is a new user")
        share_b = arms.count(B) / N
        self.assertAlmostEqual(share_b, 0.10, delta=share_tolerance(0.10, N), msg=f"B share {share_b:.3f} for weights 90/10")

        # A cookie keeps its arm, on new connections, and is not re-issued.
        for arm in (A, B):
            pair = pairs[arms.index(arm)]
            for _ in range(100):
                status, headers, body = get(r.port, headers={"Cookie": f"other=1; {pair}"})
                self.assertEqual(self.check_identity(status, headers, body), arm)
                self.assertNotIn("set-cookie", headers)

        # 90/10 -> 80/20, same split id: A keeps [0, .8), B gets [.8, 1). Every
        # user on B stays there; the only moves are A -> B, about 10% of all users.
        self.reload(r, self.routes(80, 20, "s1"))
        res2 = run_requests(r.port, [{"Cookie": p} for p in pairs])
        arms2 = []
        for (status, headers, body), before in zip(res2, arms):
            after = self.check_identity(status, headers, body)
            arms2.append(after)
            self.assertNotIn("set-cookie", headers)
            if before == B:
                self.assertEqual(after, B, "a B user moved although B only grew")
        moved = sum(1 for x, y in zip(arms, arms2) if x != y)
        self.assertAlmostEqual(moved / N, 0.10, delta=share_tolerance(0.10, N), msg=f"{moved} of {N} users moved A->B")
        self.assertAlmostEqual(arms2.count(B) / N, 0.20, delta=share_tolerance(0.20, N))

        # A new split id re-deals everyone: same user ids, new cookie, ~32% change arm.
        self.reload(r, self.routes(80, 20, "s2"))
        res3 = run_requests(r.port, [{"Cookie": p} for p in pairs])
        arms3 = []
        for (status, headers, body), pair in zip(res3, pairs):
            arms3.append(self.check_identity(status, headers, body))
            m = COOKIE_RE.match(cookie_pair(headers.get("set-cookie", "")))
            self.assertIsNotNone(m, f"no new cookie for a new split id: {headers}")
            self.assertEqual((m.group(1), m.group(2)), (COOKIE_RE.match(pair).group(1), "s2"),
                             "user id kept, split id replaced")
        changed = sum(1 for x, y in zip(arms2, arms3) if x != y)
        self.assertGreater(changed, 0.15 * N, f"only {changed} of {N} users changed arm with a new split id")
        self.assertLess(changed, 0.50 * N)
        self.assertAlmostEqual(arms3.count(B) / N, 0.20, delta=share_tolerance(0.20, N))

    def test_bad_routes_file_on_sighup_keeps_last_good_table(self):
        r = self.start_router(self.routes(50, 50, "s1"))
        res = run_requests(r.port, [{}] * 40, conns=2)
        pairs = [cookie_pair(h["set-cookie"]) for _, h, _ in res]
        arms = [self.check_identity(*x) for x in res]
        self.assertEqual(set(arms), {A, B})
        routes_before = r.admin_json("/routes")

        for bad in ("{not json", json.dumps({"apps": [{"name": "web", "arms": [{"commit": "zz", "weight": -1}]}]})):
            self.reload(r, bad, ok=False)
            self.assertIsNone(r.proc.poll(), "router exited on a bad routes file")
            self.assertRegex(r.log(), r"(?i)error.*routes reload failed")
            self.assertEqual(r.admin_json("/routes"), routes_before)
            res2 = run_requests(r.port, [{"Cookie": p} for p in pairs], conns=2)
            self.assertEqual([self.check_identity(*x) for x in res2], arms)
        # And the next good file is taken.
        self.reload(r, self.routes(0, 100, "s1"))
        res3 = run_requests(r.port, [{"Cookie": p} for p in pairs], conns=2)
        self.assertEqual({self.check_identity(*x) for x in res3}, {B})

    # ------------------------------------------------------------ what is rejected

    def test_rejects_bad_requests_without_disturbing_other_connections(self):
        r = self.start_router(extra=["--max-header-bytes", "4096"])
        good = RawConn(r.port)
        self.addCleanup(good.close)
        served = [0]

        def good_request():
            good.send(b"GET /ok HTTP/1.1\r\nHost: web.localhost\r\n\r\n")
            status, headers, body = good.read_response()
            self.check_identity(status, {k: v[0] for k, v in headers.items()}, body)
            served[0] += 1

        good_request()
        # A head just under the limit is fine.
        status, _, _ = get(r.port, headers={"X-Big": "y" * 3000})
        self.assertEqual(status, 200)

        smuggle = b"GET /smuggled HTTP/1.1\r\nHost: web.localhost\r\n\r\n"
        cases = [
            ("malformed request line", b"this is not http\r\nHost: web.localhost\r\n\r\n", 400),
            ("bad version", b"GET / HTTP/x.y\r\nHost: web.localhost\r\n\r\n", 400),
            ("bare LF", b"GET / HTTP/1.1\nHost: web.localhost\n\n", 400),
            ("no Host", b"GET / HTTP/1.1\r\nUser-Agent: t\r\n\r\n", 400),
            ("Content-Length + Transfer-Encoding",
             b"POST / HTTP/1.1\r\nHost: web.localhost\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
             b"0\r\n\r\n" + smuggle, 400),
            ("Transfer-Encoding + Content-Length",
             b"POST / HTTP/1.1\r\nHost: web.localhost\r\nTransfer-Encoding: chunked\r\nContent-Length: 48\r\n\r\n"
             b"0\r\n\r\n" + smuggle, 400),
            ("duplicate Content-Length",
             b"POST / HTTP/1.1\r\nHost: web.localhost\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello" + smuggle,
             400),
            ("conflicting Content-Length",
             b"POST / HTTP/1.1\r\nHost: web.localhost\r\nContent-Length: 5\r\nContent-Length: 53\r\n\r\nhello" + smuggle,
             400),
            ("header over --max-header-bytes",
             b"GET / HTTP/1.1\r\nHost: web.localhost\r\nX-Big: " + b"x" * 6000 + b"\r\n\r\n", 431),
        ]
        for name, data, want in cases:
            with self.subTest(name):
                bad = RawConn(r.port)
                self.addCleanup(bad.close)
                # Half a bad request, a good exchange on the other connection, then the rest.
                cut = min(len(data) // 2, 30)
                bad.send(data[:cut])
                good_request()
                try:
                    bad.send(data[cut:])
                except (BrokenPipeError, ConnectionResetError):
                    pass  # it may have answered and closed already (431 once over the limit)
                status, headers, body = bad.read_response()
                self.assertEqual(status, want, body)
                self.assertTrue(headers.get("content-type", [""])[0].startswith("text/plain"), headers)
                self.assertTrue(body.strip(), "error responses carry a text body")
                self.assertNotIn("x-skyport-commit", headers, "nothing reached an upstream")
                self.assertEqual(bad.rest_until_close(), b"", "the connection closes after the error, "
                                                               "and nothing smuggled is answered")
                good_request()
        self.assertEqual(served[0], 1 + 2 * len(cases))

    def test_unknown_host_is_404_and_keeps_the_connection(self):
        r = self.start_router()
        c = RawConn(r.port)
        self.addCleanup(c.close)
        for host in (b"nope.localhost", b"example.com", b"web.localhost.evil", b"localhost"):
            c.send(b"GET / HTTP/1.1\r\nHost: " + host + b"\r\n\r\n")
            status, headers, body = c.read_response()
            self.assertEqual(status, 404, host)
            self.assertTrue(headers["content-type"][0].startswith("text/plain"))
            self.assertIn(host.decode(), body.decode())
        # Host matching ignores case and port.
        c.send(b"GET / HTTP/1.1\r\nHost: WEB.LocalHost:8080\r\n\r\n")
        status, headers, body = c.read_response()
        self.check_identity(status, {k: v[0] for k, v in headers.items()}, body)

    # ------------------------------------------------------------ framing and bodies

    def test_pipelined_requests_answered_in_order(self):
        r = self.start_router()
        c = RawConn(r.port)
        self.addCleanup(c.close)
        c.send(b"GET /p1 HTTP/1.1\r\nHost: web.localhost\r\n\r\n"
               b"POST /echo HTTP/1.1\r\nHost: web.localhost\r\nContent-Length: 7\r\n\r\npayload"
               b"GET /p3 HTTP/1.1\r\nHost: web.localhost\r\n\r\n")
        s1, _, b1 = c.read_response()
        s2, _, b2 = c.read_response()
        s3, _, b3 = c.read_response()
        self.assertEqual((s1, s2, s3), (200, 200, 200))
        self.assertEqual(json.loads(b1)["path"], "/p1")
        self.assertEqual(b2, b"payload")
        self.assertEqual(json.loads(b3)["path"], "/p3")
        # The connection is still usable.
        c.send(b"GET /p4 HTTP/1.1\r\nHost: web.localhost\r\n\r\n")
        s4, _, b4 = c.read_response()
        self.assertEqual(json.loads(b4)["path"], "/p4")

    def test_bodies_chunked_and_large(self):
        r = self.start_router()
        # Chunked request body: de-chunked by the backend, so the bytes arrived intact.
        c = RawConn(r.port)
        self.addCleanup(c.close)
        c.send(b"POST /echo HTTP/1.1\r\nHost: web.localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"5\r\nhello\r\n6;ext=1\r\n world\r\n")
        c.send(b"10\r\n, in 3 chunks...\r\n0\r\nX-Trailer: t\r\n\r\n")
        status, headers, body = c.read_response()
        self.assertEqual((status, body), (200, b"hello world, in 3 chunks..."))

        # 8 MiB with Content-Length, echoed back.
        big = os.urandom(8 << 20)
        status, headers, body = get(r.port, "/echo", method="POST", body=big,
                                    headers={"Content-Type": "application/octet-stream"})
        self.assertEqual(status, 200)
        self.assertEqual(len(body), len(big))
        self.assertEqual(hashlib.sha256(body).digest(), hashlib.sha256(big).digest())

        # Same connection, plain request afterwards.
        c.send(b"GET /after HTTP/1.1\r\nHost: web.localhost\r\n\r\n")
        status, _, body = c.read_response()
        self.assertEqual(json.loads(body)["path"], "/after")

    def test_close_delimited_response(self):
        # A response without Content-Length or chunking ends when the upstream closes;
        # the router must pass the close on (HTTP/1.0-style backends).
        r = self.start_router()
        for i in range(30):
            c = RawConn(r.port, timeout=3)
            try:
                c.send(b"GET /until-close HTTP/1.1\r\nHost: web.localhost\r\n\r\n")
                status, headers, body = c.read_response()
            except (TimeoutError, OSError) as e:
                self.fail(f"request {i}: no complete response: {e!r}")
            finally:
                c.close()
            self.assertEqual((status, body), (200, b"body until close\n" * 100))

    def test_expect_100_continue(self):
        r = self.start_router()
        c = RawConn(r.port, timeout=3)
        self.addCleanup(c.close)
        # The backend answers 100 Continue; the client sees it before sending the body, then 200.
        c.send(b"POST /echo HTTP/1.1\r\nHost: web.localhost\r\nExpect: 100-continue\r\nContent-Length: 11\r\n\r\n")
        status, _ = c.read_head()
        self.assertEqual(status, 100)
        c.send(b"hello there")
        status, headers, body = c.read_response()
        self.assertEqual((status, body), (200, b"hello there"))
        self.assertIn("x-skyport-commit", headers)
        # Same connection, plain request afterwards.
        c.send(b"GET /after HTTP/1.1\r\nHost: web.localhost\r\n\r\n")
        status, _, body = c.read_response()
        self.assertEqual(json.loads(body)["path"], "/after")

    def test_websocket_echo(self):
        from ws_echo_server import accept_key, encode_frame, read_frame
        r = self.start_router()
        c = RawConn(r.port)
        self.addCleanup(c.close)
        key = "dGhlIHNhbXBsZSBub25jZQ=="
        c.send(("GET /chat HTTP/1.1\r\nHost: ws.localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        status, headers = c.read_head()
        self.assertEqual(status, 101)
        self.assertEqual(headers["sec-websocket-accept"], [accept_key(key)])
        self.assertEqual(headers["upgrade"][0].lower(), "websocket")
        self.assertEqual(headers["x-skyport-commit"], [W])
        mask = b"\x01\x02\x03\x04"
        frames = [(0x1, b"hello"), (0x2, bytes(range(256)) * 2), (0x1, "h\u00e9llo".encode()), (0x2, os.urandom(70000))]
        for opcode, payload in frames:
            c.send(encode_frame(opcode, payload, mask))
        for opcode, payload in frames:
            self.assertEqual(read_frame(c._take), (True, opcode, payload))
        c.send(encode_frame(0x9, b"ping?", mask))
        self.assertEqual(read_frame(c._take), (True, 0xA, b"ping?"))
        c.send(encode_frame(0x8, b"\x03\xe8bye", mask))
        self.assertEqual(read_frame(c._take), (True, 0x8, b"\x03\xe8bye"))
        self.assertEqual(c.rest_until_close(), b"")

    # ------------------------------------------------------------ headers

    def test_forwarded_headers(self):
        r = self.start_router()
        status, headers, body = get(r.port, "/h?x=1")
        self.check_identity(status, headers, body)
        doc = json.loads(body)
        seen = {k.lower(): v for k, v in doc["headers"]}
        self.assertEqual(doc["path"], "/h?x=1")
        self.assertIn("127.0.0.1", seen["x-forwarded-for"])
        self.assertEqual(seen["x-forwarded-proto"], "http")
        self.assertEqual(seen["x-forwarded-host"], "web.localhost")
        self.assertRegex(seen["x-request-id"], r"^\S{8,}$")
        uid = COOKIE_RE.match(cookie_pair(headers["set-cookie"])).group(1)
        self.assertEqual(seen["x-skyport-user"], uid)

        # A client's X-Forwarded-For is kept with the peer appended; its request id is kept;
        # hop-by-hop fields do not travel.
        status, headers, body = get(r.port, headers={"X-Forwarded-For": "10.1.2.3", "X-Request-Id": "req-abc-123",
                                                     "Connection": "keep-alive, X-Hop", "X-Hop": "secret",
                                                     "X-End": "kept"})
        seen = {k.lower(): v for k, v in json.loads(body)["headers"]}
        self.assertEqual(seen["x-forwarded-for"], "10.1.2.3, 127.0.0.1")
        self.assertEqual(seen["x-request-id"], "req-abc-123")
        self.assertEqual(seen["x-end"], "kept")
        self.assertNotIn("x-hop", seen)
        # Every request gets its own id.
        ids = set()
        for status, headers, body in run_requests(r.port, [{}] * 20, conns=2):
            ids.add({k.lower(): v for k, v in json.loads(body)["headers"]}["x-request-id"])
        self.assertEqual(len(ids), 20)

    # ------------------------------------------------------------ upstream failures

    def test_retry_on_connect_failure_and_502_when_all_down(self):
        r = self.start_router()
        # flaky: one live upstream and one refusing connections; nothing fails.
        res = run_requests(r.port, [{}] * 60, conns=3, host="flaky.localhost")
        for i in range(20):
            res.append(get(r.port, host="flaky.localhost"))
        for status, headers, body in res:
            self.assertEqual(status, 200, body)
            self.assertEqual(json.loads(body)["name"], "C")
            self.assertEqual(headers["x-skyport-instance"], self.c.address())
            self.assertEqual(headers["x-skyport-commit"], F)
        # down: every upstream refuses -> 502 with a text body naming the app.
        for _ in range(3):
            status, headers, body = get(r.port, host="down.localhost")
            self.assertEqual(status, 502)
            self.assertTrue(headers["content-type"].startswith("text/plain"))
            self.assertIn("down", body.decode())
        # The router is still fine.
        self.check_identity(*get(r.port))
        status, metrics = r.admin_get("/metrics", token=False)
        self.assertEqual(status, 200)

    def test_request_in_flight_when_an_instance_dies_goes_to_another(self):
        # "mute" reads each request head and closes without answering, as an
        # instance killed with the request in flight does. A GET (idempotent, no
        # body) goes to another instance; a POST is never sent twice: 502.
        mute = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        mute.bind(("127.0.0.1", 0))
        mute.listen(64)
        seen = []

        def serve():
            while True:
                try:
                    s, _ = mute.accept()
                except OSError:
                    return
                with s:
                    s.settimeout(5)
                    data = b""
                    try:
                        while b"\r\n\r\n" not in data:
                            chunk = s.recv(65536)
                            if not chunk:
                                break
                            data += chunk
                    except OSError:
                        pass
                    seen.append(data.split(b" ", 1)[0])

        def stop():
            mute.shutdown(socket.SHUT_RDWR)
            mute.close()
        threading.Thread(target=serve, daemon=True).start()
        self.addCleanup(stop)
        doc = self.routes()
        doc["apps"].append({"name": "mute", "arms": [{"commit": M, "weight": 100, "upstreams": [
            f"127.0.0.1:{mute.getsockname()[1]}", self.c.address()]}]})
        r = self.start_router(doc)
        for method in ("GET", "HEAD"):
            for _ in range(10):
                status, headers, body = get(r.port, host="mute.localhost", method=method)
                self.assertEqual(status, 200, body)
                self.assertEqual(headers["x-skyport-instance"], self.c.address())
        self.assertIn(b"GET", seen)  # the mute instance was tried, and lost those requests
        self.assertIn(b"HEAD", seen)
        # Two router threads with their own round robin: 10 POSTs put at least
        # one on the mute instance first.
        posts = [get(r.port, host="mute.localhost", method="POST", body=b"x")[0] for _ in range(10)]
        self.assertIn(502, posts)
        self.assertEqual({s for s in posts if s != 502}, {200})
        self.assertEqual(seen.count(b"POST"), posts.count(502))

    def test_thousands_of_pipelined_requests_all_answered(self):
        # More pipelined requests than one event-loop turn serves, local 404s and
        # proxied ones mixed, while the client reads slowly: every one is answered.
        r = self.start_router()
        c = RawConn(r.port, timeout=20)
        self.addCleanup(c.close)
        batch = (b"GET /x HTTP/1.1\r\nHost: nosuch.localhost\r\n\r\n" * 4 +
                 b"GET /p HTTP/1.1\r\nHost: web.localhost\r\n\r\n")
        rounds = 600
        sender = threading.Thread(target=lambda: c.send(batch * rounds), daemon=True)
        sender.start()
        statuses = [c.read_response()[0] for _ in range(5 * rounds)]
        sender.join(10)
        self.assertEqual(statuses.count(404), 4 * rounds)
        self.assertEqual(statuses.count(200), rounds)

    def test_early_answer_of_an_upstream_reaches_the_client(self):
        # An upstream that answers 413 to a large upload without reading it, then
        # closes: the client gets the 413, not a 502 or a reset.
        early = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        early.bind(("127.0.0.1", 0))
        early.listen(16)

        def serve():
            while True:
                try:
                    s, _ = early.accept()
                except OSError:
                    return
                with s:
                    data = b""
                    while b"\r\n\r\n" not in data:
                        chunk = s.recv(65536)
                        if not chunk:
                            break
                        data += chunk
                    s.sendall(b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 9\r\nConnection: close\r\n\r\ntoo large")
        threading.Thread(target=serve, daemon=True).start()
        self.addCleanup(early.close)
        doc = self.routes()
        doc["apps"].append({"name": "early", "arms": [{"commit": M, "weight": 100, "upstreams": [
            f"127.0.0.1:{early.getsockname()[1]}"]}]})
        r = self.start_router(doc)
        for _ in range(3):
            c = RawConn(r.port, timeout=10)
            body = os.urandom(4 << 20)
            c.send(b"POST /upload HTTP/1.1\r\nHost: early.localhost\r\nContent-Length: %d\r\n\r\n" % len(body))

            def upload():
                try:
                    c.send(body)
                except OSError:
                    pass  # the router may stop reading once the answer is out
            t = threading.Thread(target=upload, daemon=True)
            t.start()
            status, _, got = c.read_response()
            self.assertEqual((status, got), (413, b"too large"))
            t.join(10)
            c.close()

    def test_client_reset_in_a_websocket_tunnel_does_not_hurt_the_router(self):
        from ws_echo_server import encode_frame
        r = self.start_router()
        for _ in range(5):
            c = RawConn(r.port)
            key = "dGhlIHNhbXBsZSBub25jZQ=="
            c.send(("GET /chat HTTP/1.1\r\nHost: ws.localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
            self.assertEqual(c.read_head()[0], 101)
            # Ask for 4 MiB of echo, read none of it, and reset the connection.
            for _ in range(4):
                c.send(encode_frame(0x2, os.urandom(1 << 20), b"\x01\x02\x03\x04"))
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            c.sock.close()
        status, _, _ = get(r.port, "/after-resets")
        self.assertEqual(status, 200)
        self.assertIsNone(r.proc.poll(), "the router died")

    # ------------------------------------------------------------ admin

    def test_admin_routes_stats_metrics_auth(self):
        r = self.start_router()
        self.assertEqual(r.admin_get("/healthz", token=False)[0], 200)
        for path in ("/stats?app=web", "/routes", "/stats"):
            self.assertEqual(r.admin_get(path, token=False)[0], 401, path)
        routes = r.admin_json("/routes")
        strings = strings_in(routes)
        for s in ("web", "ws", A, B, W):
            self.assertIn(s, strings)
        self.assertTrue(any(self.a.address() in s for s in strings) or str(self.a.port) in strings, routes)

        res = run_requests(r.port, [{}] * 300, conns=3)
        sent = {A: 0, B: 0}
        for x in res:
            sent[self.check_identity(*x)] += 1
        # Stats reach the store about once a second: poll until they add up.

        def arms():
            doc = r.admin_json("/stats?app=web&window=60")
            got = {c: a["requests"] for c, a in doc["apps"]["web"]["arms"].items()}
            return got if got == sent else None
        wait_until(arms, 10, interval=0.2, what=f"/stats requests per arm == {sent}")
        doc = r.admin_json("/stats?app=web&window=60")
        self.assertEqual(doc["router"], "r")
        self.assertNotIn("ws", doc["apps"])
        for c, n in sent.items():
            arm = doc["apps"]["web"]["arms"][c]
            self.assertEqual(arm["status"]["2xx"], n)
            self.assertEqual(arm["users_assigned"], n)
        self.assertEqual(r.admin_get("/stats?app=web&window=abc")[0], 400)

        status, metrics = r.admin_get("/metrics", token=False)
        self.assertEqual(status, 200)
        self.assertIn("# TYPE skyport_router_requests_total counter", metrics)
        lines = [line for line in metrics.splitlines() if line.startswith("skyport_router_requests_total{")
                 and 'app="web"' in line and f'commit="{A}"' in line and 'code="2xx"' in line]
        self.assertEqual(len(lines), 1, metrics)
        self.assertEqual(float(lines[0].rsplit(" ", 1)[1]), sent[A])


if __name__ == "__main__":
    unittest.main()
