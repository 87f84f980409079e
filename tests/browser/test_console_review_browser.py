"""Hostile review of the console (issue 17) in a real browser (headless Chromium through
Selenium) against a real loopback cluster (console_cluster.py).

- The app page's split form sent every commit the route names. After the usual way to retire a
  commit (`skyport split webapp A=100 B=0`, then `skyport stop webapp B`) the route still names B
  with weight 0, B no longer runs, and the hub refuses any split naming it (409 "not running"):
  every preview and split from the console failed until someone used the CLI.
- A link with a malformed %-escape ("#/apps/%E0%A4%A") threw a URIError at boot: a logged-in
  operator was shown the login page.
- A page on another port of the same host set `skyport_session=junk; Path=/api` (cookies ignore
  ports; the longer path is sent first): the operator was logged out for good.

Skips (exit 77 under ctest) with the reason when chromium, chromedriver or python3-selenium is
missing. Screenshots go to the artifact dir ($SKYPORT_ARTIFACTS/console-review).
"""
import http.server
import os
import sys
import threading
import unittest

if __name__ == "__main__":
    from console_cluster import python_with_selenium
    _py = python_with_selenium()
    if _py:  # Debian's python3-selenium is on /usr/bin/python3, not on a pyenv python3
        os.execv(_py, [_py, *sys.argv])

from console_cluster import APP, ConsoleCluster, artifact_dir, browser_missing, new_browser
from harness import wait_until
from test_console_browser import Page

MISSING = browser_missing()


class _CookieTosser(http.server.BaseHTTPRequestHandler):
    """Any page on another port of 127.0.0.1 (a deployed app, a dev server)."""

    def do_GET(self):
        body = b"<!doctype html><script>document.cookie = 'skyport_session=junk; path=/api';</script>hi"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


@unittest.skipIf(MISSING, f"no real browser here: {MISSING}")
class ConsoleReviewBrowserTest(ConsoleCluster):
    DRONES = ("d1",)

    def setUp(self):
        super().setUp()
        self.driver = new_browser()
        self.addCleanup(self.driver.quit)
        self.page = Page(self, self.driver, self.console)
        self.page.shots = artifact_dir("console-review")

    def log_in(self):
        self.driver.get(self.console + "/")
        self.page.login(self.token)
        self.page.wait("return document.body.dataset.page === 'overview' && document.body.dataset.loaded",
                       "the overview")

    def test_the_split_form_works_once_a_commit_at_weight_0_was_stopped(self):
        a = self.commit({"app.py": APP, "Procfile": "web: python3 app.py\n"}, "a")
        self.push()
        self.cli("deploy", "webapp", a[:8])
        b = self.commit({"app.py": APP + "# b\n"}, "b")
        self.push()
        self.cli("deploy", "webapp", b[:8])
        self.cli("split", "webapp", f"{a}=100", f"{b}=0")
        self.cli("stop", "webapp", b[:8])
        self.assertIn(b, self.cli_json("registry", "route", "get", "webapp")["weights"], "B is still named, at 0")
        p = self.page
        self.log_in()
        p.go("#/apps/webapp")
        p.wait(f"return document.getElementById('w-{b}')?.disabled === true", "B shown as not running")
        p.type_into(f"#w-{a}", "70")  # focused while typed: the page's live refresh leaves the field alone
        self.assertEqual(p.js(f"return document.getElementById('w-{a}').value"), "70", "the form kept what was typed")
        p.click("#split-apply")
        p.wait("return document.getElementById('confirm').open || !document.getElementById('error').hidden",
               "the confirmation dialog (or a refusal)")
        self.assertEqual(p.error(), "", "the preview was refused")
        p.confirm()
        wait_until(lambda: self.route_weights() == {a: 70} or p.error(), 10, what="the route at A only")
        self.assertEqual(p.error(), "", "the split was refused")
        self.assertEqual(self.route_weights(), {a: 70})
        p.shot("split-after-stop")

    def test_a_malformed_link_shows_an_error_not_the_login_page(self):
        p = self.page
        self.log_in()
        self.driver.get(self.console + "/#/apps/%E0%A4%A")
        self.driver.refresh()
        p.wait("return document.body.dataset.page === 'app' && !document.getElementById('error').hidden",
               "the app page with the hub's refusal")
        self.assertIn("app", p.error())
        errors = [e["message"] for e in self.driver.get_log("browser") if "URIError" in e["message"]]
        self.assertEqual(errors, [])

    def test_a_cookie_set_by_another_port_does_not_log_the_operator_out(self):
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _CookieTosser)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        p = self.page
        self.log_in()
        self.driver.get(f"http://127.0.0.1:{server.server_address[1]}/")
        self.driver.get(self.console + "/#/flights")
        p.wait("return document.body.dataset.page && document.body.dataset.page !== ''", "a page")
        p.wait("return document.body.dataset.page === 'flights' && document.body.dataset.loaded",
               "the flights page, still logged in")
        p.shot("after-cookie-tossing")


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    if MISSING and not result.failures and not result.errors:
        print(f"SKIPPED: {MISSING}", file=sys.stderr)
        sys.exit(77)
    sys.exit(0 if result.wasSuccessful() else 1)
