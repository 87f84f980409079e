"""Hostile review of the console (issue 17): each test is an attack found on a real hub's
console on 127.0.0.1 (hub/console/), kept as a regression test.

- A page on any other port of the same host (a deployed app, a dev server) sets
  `skyport_session=junk; Path=/api`: cookies ignore ports, and the browser sends the longer path
  first, so the console read the junk one and the operator was logged out for good (logging in
  again set a Path=/ cookie that still came second).
"""
import unittest

from harness import ClusterTest, Hub
from test_console_api import CONSOLE, Console


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


if __name__ == "__main__":
    unittest.main()
