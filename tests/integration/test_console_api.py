"""The console's server half (issue 17, hub/console/API.md) over HTTP, no browser: a real
registry, hub (with --console-listen 127.0.0.1:0), drone and router on 127.0.0.1.

Auth: login with the right and a wrong token (401, 429 after the limit), the cookie's flags, 401
on every API route without a session, 403 for a POST without the CSRF token or from a foreign
Origin, Bearer for scripts. Data: each GET equals the CLI's --json output (apps, ps, releases,
stats, flight status/log, registry, drones); a split through the API moves the router; a flight
killed through the API. Bounds: body 413, connections and SSE streams, a slow reader while a
deploy goes on. Off with --console-listen "". Security headers on pages, assets and the API.
"""
import http.client
import json
import os
import socket
import time
import unittest

from harness import ClusterTest, DeployTest, Hub, Router, wait_until
from test_router import cookie_pair, get

CONSOLE = ("--console-listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0")

# Every API route but login, with its method: each answers 401 without a session.
API_ROUTES = [
    ("GET", "/api/session"), ("GET", "/api/overview"), ("GET", "/api/apps/webapp"),
    ("GET", "/api/apps/webapp/stats?bucket=day"), ("GET", "/api/flights"), ("GET", "/api/flights?all=1"),
    ("GET", "/api/flights/f1"), ("GET", "/api/registry"), ("GET", "/api/drones"), ("GET", "/api/events"),
    ("POST", "/api/logout"), ("POST", "/api/apps/webapp/split"), ("POST", "/api/apps/webapp/split/preview"),
    ("POST", "/api/apps/webapp/rollback"), ("POST", "/api/flights"), ("POST", "/api/flights/f1/kill"),
]


class Console:
    """A client of one hub's console: requests with an optional session cookie and CSRF token."""

    def __init__(self, port):
        self.port = port
        self.cookie = None
        self.csrf = None

    @property
    def host(self):
        return f"127.0.0.1:{self.port}"

    def request(self, method, path, body=None, headers=None, session=True, timeout=20):
        """(status, {lowercase header: value}, raw body)."""
        h = {"Host": self.host}
        if session and self.cookie:
            h["Cookie"] = self.cookie
        if session and self.csrf and method == "POST":
            h["X-CSRF-Token"] = self.csrf
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
            h["Content-Type"] = "application/json"
        h.update(headers or {})
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=h)
            r = conn.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            conn.close()

    def json(self, method, path, body=None, **kw):
        status, headers, raw = self.request(method, path, body, **kw)
        return status, json.loads(raw) if raw else None

    def login(self, token):
        status, headers, raw = self.request("POST", "/api/login", {"token": token}, session=False)
        if status == 200:
            self.cookie = cookie_pair(headers["set-cookie"])
            self.csrf = json.loads(raw)["csrf"]
        return status, headers, raw


def read_log(hub):
    with open(hub.log_path) as f:
        return f.read()


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


class ConsoleAuthTest(ClusterTest):
    """A hub with its console and no drones: auth, CSRF, headers and bounds."""

    HUB_EXTRA = CONSOLE

    def setUp(self):
        super().setUp()
        with open(self.token_file) as f:
            self.token = f.read().strip()
        self.hub = Hub(self.tmp, self.token_file, self.registry, extra=self.HUB_EXTRA).start()
        self.addCleanup(self.hub.kill)
        self.console = Console(self.hub.console_port())

    def test_pages_and_assets_are_served_with_the_security_headers(self):
        for path in ("/", "/login", "/apps/webapp", "/flights/f1?x=1"):
            status, h, body = self.console.request("GET", path, session=False)
            self.assertEqual(status, 200, path)
            self.assertTrue(h["content-type"].startswith("text/html"), h)
            self.assertIn(b"<html", body)
        status, h, body = self.console.request("GET", "/assets/chart.js", session=False)
        self.assertEqual(status, 200)
        self.assertTrue(h["content-type"].startswith("text/javascript"), h)
        self.assertIn(b"Chart", body[:2000])
        self.assertGreater(len(body), 100_000, "the whole Chart.js build")
        # The ETag revalidates.
        status, h2, body2 = self.console.request("GET", "/assets/chart.js", session=False,
                                                 headers={"If-None-Match": h["etag"]})
        self.assertEqual((status, body2), (304, b""))
        for path in ("/", "/assets/chart.js", "/api/overview", "/assets/nope.js"):
            status, h, _ = self.console.request("GET", path, session=False)
            csp = h.get("content-security-policy", "")
            self.assertIn("default-src 'self'", csp, path)
            self.assertIn("script-src 'self'", csp, path)
            self.assertNotIn("unsafe-inline", csp, path)
            self.assertIn("frame-ancestors 'none'", csp, path)
            self.assertEqual(h.get("x-content-type-options"), "nosniff", path)
            self.assertEqual(h.get("x-frame-options"), "DENY", path)
            self.assertEqual(h.get("referrer-policy"), "no-referrer", path)
        self.assertEqual(self.console.request("GET", "/assets/nope.js", session=False)[0], 404)
        self.assertEqual(self.console.request("GET", "/assets/../api/overview", session=False)[0], 404)
        status, h, _ = self.console.request("PUT", "/", session=False)
        self.assertEqual(status, 405)
        self.assertEqual(self.console.request("DELETE", "/api/session", session=False)[0], 405)

    def test_every_api_route_needs_a_session(self):
        for method, path in API_ROUTES:
            for cookie in (None, "skyport_session=" + "ab" * 32):
                headers = {"Cookie": cookie} if cookie else {}
                status, doc = self.console.json(method, path, body={} if method == "POST" else None,
                                                headers=headers, session=False)
                self.assertEqual(status, 401, (method, path, cookie))
                self.assertIn("error", doc)
        self.assertGreaterEqual(self.hub.metric("skyport_hub_console_unauthorized_total"), 2 * len(API_ROUTES))

    def test_login_sets_an_httponly_strict_cookie_and_logout_ends_the_session(self):
        status, _, raw = self.console.login("wrong-" + self.token)
        self.assertEqual(status, 401)
        self.assertNotIn(self.token, read_log(self.hub), "the token is never logged")
        status, _, _ = self.console.request("POST", "/api/login", "token=", session=False,
                                            headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(status, 400)
        # A form works as well as JSON.
        status, h, raw = self.console.request("POST", "/api/login", f"token={self.token}", session=False,
                                              headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(status, 200, raw)
        status, h, raw = self.console.login(self.token)
        self.assertEqual(status, 200, raw)
        flags = [f.strip() for f in h["set-cookie"].split(";")]
        name, value = flags[0].split("=", 1)
        self.assertEqual(name, "skyport_session")
        self.assertEqual(len(value), 64, "256 random bits, hex")
        self.assertIn("HttpOnly", flags)
        self.assertIn("SameSite=Strict", flags)
        self.assertIn("Path=/", flags)
        self.assertNotIn("Secure", flags, "plain HTTP on loopback without --console-secure-cookie")
        self.assertNotIn(self.token, h["set-cookie"] + raw.decode())
        self.assertEqual(self.console.json("GET", "/api/session"), (200, {"csrf": self.console.csrf}))
        self.assertEqual(self.console.json("GET", "/api/drones")[0], 200)
        status, h, _ = self.console.request("POST", "/api/logout")
        self.assertEqual(status, 200)
        self.assertIn("Max-Age=0", h["set-cookie"])
        self.assertEqual(self.console.json("GET", "/api/session")[0], 401, "the session is gone")
        self.assertEqual(self.hub.metric("skyport_hub_console_logins_total"), 2)

    def test_a_hub_restart_logs_everyone_out(self):
        self.assertEqual(self.console.login(self.token)[0], 200)
        self.assertEqual(self.console.json("GET", "/api/session")[0], 200)
        self.hub.kill()
        self.hub.start()
        self.console.port = self.hub.console_port()
        status, doc = self.console.json("GET", "/api/session")
        self.assertEqual(status, 401, "sessions live in memory only (docs/operations.md)")
        self.assertEqual(self.console.login(self.token)[0], 200)

    def test_wrong_logins_are_limited_per_address(self):
        for i in range(5):
            self.assertEqual(self.console.login(f"guess-{i}")[0], 401, i)
        status, h, raw = self.console.login(f"guess-5")
        self.assertEqual(status, 429, raw)
        self.assertGreater(int(h["retry-after"]), 0)
        # Even the right token waits (the limit is on the address, before any compare), Bearer too.
        self.assertEqual(self.console.login(self.token)[0], 429)
        self.assertEqual(self.console.request("GET", "/api/drones", headers=bearer(self.token), session=False)[0], 429)
        self.assertGreaterEqual(self.hub.metric("skyport_hub_console_login_limited_total"), 3)
        self.assertEqual(self.hub.metric("skyport_hub_console_login_failures_total"), 5)
        log = read_log(self.hub)
        self.assertIn("console: login refused", log)
        self.assertNotIn("guess-", log, "what was tried is never logged")

    def test_posts_need_the_csrf_token_and_the_consoles_own_origin(self):
        self.assertEqual(self.console.login(self.token)[0], 200)
        body = {"weights": {"abcd1234": 1}}
        csrf = self.console.csrf
        self.console.csrf = None
        status, doc = self.console.json("POST", "/api/apps/webapp/split", body)
        self.assertEqual(status, 403, doc)
        self.assertIn("X-CSRF-Token", doc["error"])
        status, doc = self.console.json("POST", "/api/apps/webapp/split", body, headers={"X-CSRF-Token": "0" * 64})
        self.assertEqual(status, 403, doc)
        self.console.csrf = csrf
        for origin in ("http://evil.example", "null", f"http://127.0.0.1:{self.console.port + 1}"):
            status, doc = self.console.json("POST", "/api/apps/webapp/split/preview", body, headers={"Origin": origin})
            self.assertEqual(status, 403, (origin, doc))
            self.assertIn("cross-origin", doc["error"])
        # A cross-site login is refused too.
        status, _, _ = self.console.request("POST", "/api/login", {"token": self.token}, session=False,
                                            headers={"Origin": "http://evil.example"})
        self.assertEqual(status, 403)
        # With the token and our own origin the request goes through (to the registry: no such commit).
        status, doc = self.console.json("POST", "/api/apps/webapp/split/preview", body,
                                        headers={"Origin": f"http://{self.console.host}"})
        self.assertEqual(status, 409, doc)
        self.assertIn("not running", doc["error"])
        self.assertGreaterEqual(self.hub.metric("skyport_hub_console_csrf_refused_total"), 6)

    def test_bearer_token_for_scripts_needs_no_cookie_or_csrf(self):
        status, doc = self.console.json("GET", "/api/drones", headers=bearer(self.token), session=False)
        self.assertEqual((status, doc), (200, []))
        status, doc = self.console.json("GET", "/api/session", headers=bearer(self.token), session=False)
        self.assertEqual((status, doc), (200, {"csrf": None}))
        status, doc = self.console.json("POST", "/api/apps/webapp/split/preview", {"weights": {"abcd1234": 1}},
                                        headers=bearer(self.token), session=False)
        self.assertEqual(status, 409, doc)
        self.assertEqual(self.console.json("GET", "/api/drones", headers=bearer("x" + self.token), session=False)[0],
                         401)

    def raw(self, data, read_all=False):
        """Sends raw bytes on a new connection; what the console answered until it closed (or 5 s)."""
        s = socket.create_connection(("127.0.0.1", self.console.port), timeout=5)
        try:
            s.sendall(data)
            got = b""
            while True:
                try:
                    chunk = s.recv(65536)
                except (socket.timeout, ConnectionResetError):
                    break
                if not chunk:
                    break
                got += chunk
                if not read_all:
                    break
            return got
        finally:
            s.close()

    def test_raw_attacks_get_their_status_and_the_console_keeps_answering(self):
        host = f"Host: {self.console.host}\r\n".encode()
        auth = f"Authorization: Bearer {self.token}\r\n".encode()
        # A chunked body past the bound: 413, whatever the framing claims.
        chunk = b"%x\r\n" % 70000 + b"x" * 70000 + b"\r\n0\r\n\r\n"
        got = self.raw(b"POST /api/flights HTTP/1.1\r\n" + host + auth + b"Transfer-Encoding: chunked\r\n\r\n" + chunk)
        self.assertTrue(got.startswith(b"HTTP/1.1 413"), got[:200])
        # A bad chunk size, a NUL in a header, a bare LF soup, an unknown method token: 400 or 405.
        got = self.raw(b"POST /api/flights HTTP/1.1\r\n" + host + auth + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n")
        self.assertTrue(got.startswith(b"HTTP/1.1 400"), got[:200])
        got = self.raw(b"GET / HTTP/1.1\r\n" + host + b"X-A: a\x00b\r\n\r\n")
        self.assertTrue(got.startswith(b"HTTP/1.1 400"), got[:200])
        got = self.raw(b"\n\n\n\x01\x02garbage\r\n\r\n")
        self.assertTrue(got.startswith(b"HTTP/1.1 400"), got[:200])
        got = self.raw(b"BREW / HTTP/1.1\r\n" + host + b"\r\n")
        self.assertTrue(got.startswith(b"HTTP/1.1 400") or got.startswith(b"HTTP/1.1 405"), got[:200])
        # Pipelined requests on one connection: each answered, in order.
        got = self.raw((b"GET /api/drones HTTP/1.1\r\n" + host + auth + b"\r\n") * 20 +
                       b"GET /api/drones HTTP/1.1\r\n" + host + auth + b"Connection: close\r\n\r\n", read_all=True)
        self.assertEqual(got.count(b"HTTP/1.1 200 OK"), 21, got[:300])
        # HTTP/1.0 works and closes.
        got = self.raw(b"GET /assets/chart.js HTTP/1.0\r\n\r\n")
        self.assertTrue(got.startswith(b"HTTP/1.1 200") or got.startswith(b"HTTP/1.0 200"), got[:200])
        # A body shorter than its Content-Length is cut after --body-timeout (10 s) without holding anyone
        # else: meanwhile the console answers.
        s = socket.create_connection(("127.0.0.1", self.console.port), timeout=15)
        self.addCleanup(s.close)
        s.sendall(b"POST /api/flights HTTP/1.1\r\n" + host + auth + b"Content-Length: 100\r\n\r\n{")
        self.assertEqual(self.console.json("GET", "/api/drones", headers=bearer(self.token), session=False)[0], 200)
        self.assertEqual(self.hub.proc.poll(), None, "the hub is alive")

    def test_bad_input_gets_the_right_status(self):
        self.console.login(self.token)
        big = "x" * (65 * 1024)
        status, doc = self.console.json("POST", "/api/flights", big, headers={"Content-Type": "application/json"})
        self.assertEqual(status, 413, doc)
        self.assertEqual(self.console.json("POST", "/api/flights", "{not json")[0], 400)
        status, doc = self.console.json("POST", "/api/flights", {"name": "x"})
        self.assertEqual(status, 400, doc)
        self.assertIn("spec", doc["error"])
        self.assertEqual(self.console.json("POST", "/api/apps/webapp/split", {"weights": {"abcd": -1}})[0], 400)
        self.assertEqual(self.console.json("POST", "/api/apps/webapp/split", {"weights": "a=1"})[0], 400)
        self.assertEqual(self.console.json("POST", "/api/apps/webapp/rollback", {"release": "vx"})[0], 400)
        self.assertEqual(self.console.json("GET", "/api/apps/Bad_Name!")[0], 400)
        self.assertEqual(self.console.json("GET", "/api/apps/webapp/stats?bucket=year")[0], 400)
        self.assertEqual(self.console.json("GET", "/api/flights/nope")[0], 404)
        self.assertEqual(self.console.json("GET", "/api/apps/nope")[0], 404)
        self.assertEqual(self.console.json("GET", "/api/nothing")[0], 404)
        self.assertEqual(self.console.json("GET", "/api/apps/webapp/split")[0], 405)
        # A head over the bound: 431.
        status, _, _ = self.console.request("GET", "/", headers={"X-Big": "y" * 20000}, session=False)
        self.assertEqual(status, 431)
        self.assertEqual(self.hub.metrics().count('cause="body_too_large"} 1'), 1)
        self.assertIn("console: request body too large", read_log(self.hub))


class ConsoleBoundsTest(ClusterTest):
    """Connections and event streams are bounded; a slow or idle client costs only its own connection."""

    def setUp(self):
        super().setUp()
        with open(self.token_file) as f:
            self.token = f.read().strip()
        self.hub = Hub(self.tmp, self.token_file, self.registry,
                       extra=CONSOLE + ("--console-max-connections", "6", "--console-max-sse-streams", "2")).start()
        self.addCleanup(self.hub.kill)
        self.console = Console(self.hub.console_port())

    def open_stream(self):
        s = socket.create_connection(("127.0.0.1", self.console.port), timeout=5)
        s.sendall(f"GET /api/events HTTP/1.1\r\nHost: {self.console.host}\r\n"
                  f"Authorization: Bearer {self.token}\r\n\r\n".encode())
        self.addCleanup(s.close)
        return s

    def test_event_streams_and_connections_are_bounded(self):
        streams = [self.open_stream() for _ in range(2)]
        for s in streams:
            head = s.recv(4096)
            self.assertIn(b"200 OK", head)
            self.assertIn(b"text/event-stream", head.lower())
        # Ticks arrive about every second.
        data = b""
        deadline = time.monotonic() + 5
        while data.count(b"event: tick") < 2 and time.monotonic() < deadline:
            data += streams[0].recv(4096)
        self.assertGreaterEqual(data.count(b"event: tick"), 2, data)
        self.assertIn(b'"version"', data)
        status, h, raw = self.console.request("GET", "/api/events", headers=bearer(self.token), session=False)
        self.assertEqual(status, 503, raw)
        self.assertIn("retry-after", h)
        self.assertEqual(self.hub.metric("skyport_hub_console_sse_streams"), 2)
        # Connections: 2 streams + 4 idle sockets fill the 6; the next is closed at accept. (The refused
        # stream's connection is released once the server has closed it.)
        wait_until(lambda: self.hub.metric("skyport_hub_console_connections_open") == 2, 5, what="the 503 closed")
        idle = []
        for _ in range(4):
            s = socket.create_connection(("127.0.0.1", self.console.port), timeout=5)
            self.addCleanup(s.close)
            idle.append(s)
        wait_until(lambda: self.hub.metric("skyport_hub_console_connections_open") == 6, 5,
                   what=f"6 connections open (now {self.hub.metric('skyport_hub_console_connections_open')})")
        extra = socket.create_connection(("127.0.0.1", self.console.port), timeout=5)
        self.addCleanup(extra.close)
        extra.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            got = extra.recv(100)
        except ConnectionResetError:  # closed with our request unread: a reset
            got = b""
        self.assertEqual(got, b"", "closed without an answer")
        self.assertIn('skyport_hub_console_refused_total{cause="max_connections"} 1', self.hub.metrics())
        # Closing the streams frees their slots.
        for s in streams + idle:
            s.close()
        wait_until(lambda: self.hub.metric("skyport_hub_console_sse_streams") == 0, 5, what="streams closed")
        wait_until(lambda: self.console.request("GET", "/api/drones", headers=bearer(self.token),
                                                session=False)[0] == 200, 5, what="console answers again")


class ConsoleListenTest(ClusterTest):
    def test_console_listen_empty_turns_it_off(self):
        hub = Hub(self.tmp, self.token_file, self.registry).start()  # the harness passes --console-listen ""
        self.addCleanup(hub.kill)
        self.assertEqual(hub.console_port(), 0)
        self.assertIn("console_port=0", read_log(hub))

    def test_a_non_loopback_console_warns_that_it_is_plain_http(self):
        hub = Hub(self.tmp, self.token_file, self.registry, extra=("--console-listen", "0.0.0.0:0")).start()
        self.addCleanup(hub.kill)
        self.assertGreater(hub.console_port(), 0)
        self.assertIn("the console listens beyond loopback over plain HTTP", read_log(hub))

    def test_a_taken_console_address_stops_the_hub_with_a_clear_error(self):
        holder = socket.socket()
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        self.addCleanup(holder.close)
        taken = f"127.0.0.1:{holder.getsockname()[1]}"
        hub = Hub(self.tmp, self.token_file, self.registry, extra=("--console-listen", taken))
        with self.assertRaises(AssertionError) as ctx:
            hub.start()
        self.assertIn(f"console-listen {taken}", str(ctx.exception))


APP = '''import http.server, os
COMMIT = os.environ["SKYPORT_COMMIT"]

class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        body = f"{COMMIT}\\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass

http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
'''
HOST = "webapp.localhost"


def without_probe_times(status):
    for c in status["components"]:  # probe times, and drones' heartbeats several times a second
        c.pop("last_seen_unix_ms", None)
        c.pop("last_seen_s", None)
    return status


class ConsoleDataTest(DeployTest):
    """Each GET equals the CLI's --json; actions through the API do what the CLI does."""

    DRONES = ("d1",)
    HUB_EXTRA = CONSOLE + ("--gate-interval-ms", "300")

    def setUp(self):
        super().setUp()
        self.a = self.commit({"app.py": APP, "Procfile": "web: python3 app.py\n"}, "a")
        self.push()
        self.cli("deploy", "webapp", self.a[:8])
        self.b = self.commit({"app.py": APP + "# b\n"}, "b")
        self.push()
        self.cli("deploy", "webapp", self.b[:8])
        self.router = Router(self.tmp, self.token_file, registry=self.registry,
                             extra=["--hub", self.hub.address(), "--new-users-address-burst", "100000"]).start()
        self.addCleanup(self.router.kill)
        wait_until(lambda: self.visit()[1] in (self.a, self.b), 15, what="webapp routed")
        self.console = Console(self.hub.console_port())
        self.assertEqual(self.console.login(self.token)[0], 200)

    def visit(self, cookie=None):
        headers = {"Cookie": cookie} if cookie else {}
        status, h, body = get(self.router.port, host=HOST, headers=headers)
        got = cookie_pair(h["set-cookie"]) if "set-cookie" in h else cookie
        return got, body.decode().strip(), status

    def api(self, path):
        status, doc = self.console.json("GET", path)
        self.assertEqual(status, 200, (path, doc))
        return doc

    def assert_same(self, path, pick, *cli_args, timeout=10, normalize=lambda d: d):
        """The API's document (or pick(doc)) equals `skyport CLI_ARGS --json`; retried while clocks tick."""
        last = {}

        def same():
            last["cli"] = normalize(self.cli_json(*cli_args, "--json"))
            last["api"] = pick(self.api(path))
            return last["cli"] == last["api"]
        try:
            wait_until(same, timeout, interval=0.3, what=f"{path} equal to skyport {' '.join(cli_args)} --json")
        except AssertionError:
            self.assertEqual(last["api"], last["cli"], path)

    def test_gets_equal_the_clis_json_and_a_split_moves_the_router(self):
        for _ in range(30):
            self.visit()
        self.assert_same("/api/overview", lambda d: d["apps"], "apps")
        # `status` stamps each row with the time it was probed or last heard of: equal but for those clocks.
        self.assert_same("/api/overview", lambda d: without_probe_times(d["status"]), "status",
                         normalize=without_probe_times)
        self.assert_same("/api/apps/webapp", lambda d: d["ps"], "ps", "webapp")
        self.assert_same("/api/apps/webapp", lambda d: d["releases"], "releases", "webapp")
        self.assert_same("/api/apps/webapp", lambda d: d["config"], "config", "webapp")
        self.assert_same("/api/registry", lambda d: d, "registry", "show")
        self.assert_same("/api/drones", lambda d: d, "drones")
        self.assert_same("/api/flights", lambda d: d, "flight", "list")
        for bucket in ("hour", "day", "week", "month"):
            self.assert_same(f"/api/apps/webapp/stats?bucket={bucket}", lambda d: d, "stats", "webapp", "--by", bucket)
        self.assert_same("/api/apps/webapp/stats", lambda d: d, "stats", "webapp")
        app = self.api("/api/apps/webapp")
        self.assertIsNone(app["route"], "no route config yet")
        self.assertEqual(app["config"]["app"], "webapp")

        # The preview says how many users move and writes nothing.
        status, preview = self.console.json("POST", "/api/apps/webapp/split/preview",
                                            {"weights": {self.a[:8]: 100, self.b[:8]: 0}})
        self.assertEqual(status, 200, preview)
        self.assertIn("moved_users_fraction", preview)
        self.assertIsNone(self.api("/api/apps/webapp")["route"])
        # The split itself: the router follows (poll it).
        status, route = self.console.json("POST", "/api/apps/webapp/split", {"weights": {self.a[:8]: 100}})
        self.assertEqual(status, 200, route)
        self.assertEqual(route["weights"], {self.a: 100})
        self.assertEqual(route, json.loads(self.cli("registry", "route", "get", "webapp").stdout))
        wait_until(lambda: all(self.visit()[1] == self.a for _ in range(10)), 10, what="router sends everyone to A")
        self.assert_same("/api/apps/webapp", lambda d: d["route"], "registry", "route", "get", "webapp")
        status, route = self.console.json("POST", "/api/apps/webapp/split",
                                          {"weights": {self.a[:8]: 50, self.b[:8]: 50}})
        self.assertEqual(status, 200, route)
        wait_until(lambda: {self.visit()[1] for _ in range(40)} == {self.a, self.b}, 10, what="both arms served")
        # A commit that is not running: 409, nothing written.
        status, doc = self.console.json("POST", "/api/apps/webapp/split", {"weights": {"deadbeef": 1}})
        self.assertEqual(status, 409, doc)

    def test_a_flight_started_and_killed_through_the_api(self):
        spec = {"name": "f1", "app": "webapp", "version": 1, "arms": {"control": self.a[:8], "treatment": self.b[:8]},
                "control": "control",
                "flightplan": [{"action": "weight", "arms": {"treatment": 50}}, {"action": "wait", "for": "1h"}]}
        status, st = self.console.json("POST", "/api/flights", spec)
        self.assertEqual(status, 200, st)
        self.assertEqual(st["state"], "running")
        wait_until(lambda: self.cli_json("flight", "status", "f1", "--json")["step"] == "2", 20, what="weight step")
        self.assert_same("/api/flights/f1", lambda d: d["status"], "flight", "status", "f1")
        self.assert_same("/api/flights/f1", lambda d: d["log"], "flight", "log", "f1")
        self.assert_same("/api/flights", lambda d: d, "flight", "list")
        # A second start of the same name conflicts.
        status, doc = self.console.json("POST", "/api/flights", spec)
        self.assertEqual(status, 409, doc)
        status, st = self.console.json("POST", "/api/flights/f1/kill", {"reason": "from the console"})
        self.assertEqual(status, 200, st)
        self.assertIn(st["state"], ("cleanup", "killed"))
        wait_until(lambda: self.cli_json("flight", "status", "f1", "--json")["state"] == "killed", 30,
                   what="flight killed")
        log = self.cli_json("flight", "log", "f1", "--json")
        self.assertTrue(any("from the console" in json.dumps(e) for e in log), log)
        self.assert_same("/api/flights?all=1", lambda d: d, "flight", "list", "--all")

    def test_slow_readers_do_not_stop_a_deploy(self):
        # Event streams nobody reads, with tiny receive buffers, and a request head that never ends.
        socks = []
        for _ in range(8):
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
            s.connect(("127.0.0.1", self.console.port))
            s.sendall(f"GET /api/events HTTP/1.1\r\nHost: {self.console.host}\r\nCookie: {self.console.cookie}\r\n\r\n"
                      .encode())
            socks.append(s)
            self.addCleanup(s.close)
        loris = socket.create_connection(("127.0.0.1", self.console.port))
        loris.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        self.addCleanup(loris.close)
        c = self.commit({"app.py": APP + "# c\n"}, "c")
        self.push()
        started = time.monotonic()
        self.cli("deploy", "webapp", c[:8], timeout=60)
        took = time.monotonic() - started
        self.assertLess(took, 30, "the deploy went on beside the slow console clients")
        self.assertIn(c, self.show("webapp"))
        # The console itself still answers others.
        self.assertEqual(self.console.json("GET", "/api/drones")[0], 200)


if __name__ == "__main__":
    unittest.main()
