"""Hostile review of the console (issue 17): each test is an attack found on a real hub's
console on 127.0.0.1 (hub/console/), kept as a regression test.

- A page on any other port of the same host (a deployed app, a dev server) sets
  `skyport_session=junk; Path=/api`: cookies ignore ports, and the browser sends the longer path
  first, so the console read the junk one and the operator was logged out for good (logging in
  again set a Path=/ cookie that still came second).
- Login guesses from many loopback source addresses (127.0.0.2, .3, ...) each had their own
  budget of 5 a minute: one local process had 10,000 x 5 guesses a minute.
- DNS rebinding: a page on evil.example whose name is re-pointed at 127.0.0.1 is same-origin with
  the console ("Origin: http://evil.example:PORT" equals "Host: evil.example:PORT"), so its
  logins passed the Origin check: the operator's browser guessed tokens for it and filled the
  operator's login limit (their logins and Bearer scripts then got 429). The console now answers
  IP literals, localhost and the names in --console-hosts only (421 otherwise); a TLS proxy that
  passes the console its own address as Host works when its name is listed (Origin compared).
"""
import http.client
import json
import socket
import unittest

from harness import ClusterTest, Hub
from test_console_api import CONSOLE, Console, bearer, read_log


def request_from(source, port, method, path, body=None, headers=None):
    """(status, body) of one request whose socket is bound to the loopback address `source`."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=(source, 0))
    try:
        h = {"Host": f"127.0.0.1:{port}", **(headers or {})}
        if isinstance(body, dict):
            body = json.dumps(body)
            h["Content-Type"] = "application/json"
        conn.request(method, path, body=body, headers=h)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


class ConsoleReviewTest(ClusterTest):
    def setUp(self):
        super().setUp()
        with open(self.token_file) as f:
            self.token = f.read().strip()
        self.hub = Hub(self.tmp, self.token_file, self.registry, extra=CONSOLE).start()
        self.addCleanup(self.hub.kill)
        self.console = Console(self.hub.console_port())

    def test_a_shadowing_cookie_from_another_port_does_not_log_the_operator_out(self):
        self.assertEqual(self.console.login(self.token)[0], 200)
        good = self.console.cookie  # "skyport_session=<id>"
        # What the browser sends once a page on 127.0.0.1:OTHER ran
        # document.cookie = "skyport_session=junk; path=/api": the longer path first.
        for cookie in (f"skyport_session=junk; {good}", f"a=1; skyport_session=; {good}; b=2"):
            self.console.cookie = cookie
            self.assertEqual(self.console.json("GET", "/api/session"), (200, {"csrf": self.console.csrf}), cookie)
            status, doc = self.console.json("POST", "/api/apps/webapp/split/preview", {"weights": {"abcd1234": 1}})
            self.assertEqual(status, 409, (cookie, doc))  # through auth and CSRF, to the registry
        # Junk alone is still nobody.
        self.console.cookie = "skyport_session=junk; skyport_session=" + "ab" * 32
        self.assertEqual(self.console.json("GET", "/api/session")[0], 401)

    def test_login_guesses_from_many_loopback_addresses_share_one_limit(self):
        try:
            s = socket.socket()
            s.bind(("127.0.0.2", 0))
            s.close()
        except OSError as e:
            self.skipTest(f"cannot bind 127.0.0.2 here: {e}")
        port = self.console.port
        for i in range(5):
            status, raw = request_from(f"127.0.0.{i + 2}", port, "POST", "/api/login", {"token": f"guess-{i}"})
            self.assertEqual(status, 401, (i, raw))
        for source in ("127.0.0.20", "127.0.0.1", "127.1.2.3"):
            status, raw = request_from(source, port, "POST", "/api/login", {"token": "guess-more"})
            self.assertEqual(status, 429, (source, raw))
        status, _ = request_from("127.0.0.30", port, "GET", "/api/drones", headers=bearer("x" + self.token))
        self.assertEqual(status, 429)
        self.assertEqual(self.hub.metric("skyport_hub_console_login_failures_total"), 5)

    def test_dns_rebinding_a_foreign_host_name_is_refused_before_the_login(self):
        port = self.console.port
        evil = {"Host": f"evil.example:{port}", "Origin": f"http://evil.example:{port}"}
        for i in range(6):
            status, raw = request_from("127.0.0.1", port, "POST", "/api/login", {"token": f"guess-{i}"}, headers=evil)
            self.assertEqual(status, 421, (i, raw))
        self.assertEqual(request_from("127.0.0.1", port, "GET", "/", headers={"Host": "evil.example"})[0], 421)
        self.assertEqual(self.hub.metric("skyport_hub_console_login_failures_total"), 0, "no guess reached the login")
        self.assertIn('skyport_hub_console_refused_total{cause="host"} 7', self.hub.metrics())
        self.assertIn("console: request for another host name refused", read_log(self.hub))
        # The operator is not locked out; localhost and IP literals are answered.
        for host in (f"localhost:{port}", f"127.0.0.1:{port}"):
            status, raw = request_from("127.0.0.1", port, "POST", "/api/login", {"token": self.token},
                                       headers={"Host": host, "Origin": f"http://{host}"})
            self.assertEqual(status, 200, (host, raw))


class ConsoleBehindAProxyTest(ClusterTest):
    """--console-hosts: the name a TLS proxy serves; the proxy may pass its own Host or the console's address."""

    def test_listed_names_are_answered_and_their_origin_is_the_consoles_own(self):
        with open(self.token_file) as f:
            token = f.read().strip()
        hub = Hub(self.tmp, self.token_file, self.registry,
                  extra=CONSOLE + ("--console-hosts", "console.example.com,other.example")).start()
        self.addCleanup(hub.kill)
        port = hub.console_port()
        origin = {"Origin": "https://console.example.com"}
        # nginx's default: Host is the upstream's address; Origin is the proxy's name.
        status, raw = request_from("127.0.0.1", port, "POST", "/api/login", {"token": token}, headers=origin)
        self.assertEqual(status, 200, raw)
        # The proxy passing the browser's Host.
        status, raw = request_from("127.0.0.1", port, "GET", "/", headers={"Host": "console.example.com"})
        self.assertEqual(status, 200, raw)
        self.assertEqual(request_from("127.0.0.1", port, "GET", "/", headers={"Host": "third.example"})[0], 421)
        status, raw = request_from("127.0.0.1", port, "POST", "/api/login", {"token": token},
                                   headers={"Origin": "https://third.example"})
        self.assertEqual(status, 403, raw)
        bad = Hub(self.tmp, self.token_file, self.registry, name="hub2",
                  extra=CONSOLE + ("--console-hosts", "bad host!"))
        with self.assertRaises(AssertionError) as ctx:
            bad.start()
        self.assertIn("--console-hosts", str(ctx.exception))


if __name__ == "__main__":
    unittest.main()
