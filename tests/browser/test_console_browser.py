"""The console in a real browser (headless Chromium through Selenium) against a
real loopback cluster (console_cluster.py): log in (a wrong token refused),
the apps on the overview, a split changed on the app page (confirmation
dialog) and followed by the router, a flight started and its timeline
moving, then killed with a reason, the experiment page's every number equal
to `skyport stats --json` and its charts holding the same data, the registry
filter, a 390 px viewport without horizontal page overflow, the actions
reachable with the keyboard, and security: no session -> the login page and
401 from the API, the token in no JavaScript-readable storage, a cross-site
form POST refused, a logout in another tab ending this one's session, a killed
hub shown as such (polling, the error banner); markup in data stays text; the
keyboard focus survives live refreshes. Screenshots of each page go to the artifact dir
($SKYPORT_ARTIFACTS/console or build/test-artifacts/console).

Skips (exit 77 under ctest) with the reason when chromium, chromedriver or
python3-selenium is missing.
"""
import http.server
import json
import os
import sys
import threading
import time
import unittest

if __name__ == "__main__":
    from console_cluster import python_with_selenium
    _py = python_with_selenium()
    if _py:  # Debian's python3-selenium is on /usr/bin/python3, not on a pyenv python3
        os.execv(_py, [_py, *sys.argv])

from console_cluster import ConsoleCluster, artifact_dir, browser_missing, new_browser
from harness import wait_until

MISSING = browser_missing()
if not MISSING:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys
    from selenium.common.exceptions import StaleElementReferenceException


class Page:
    """The browser on the console: navigation, waits on the page's own state, screenshots."""

    def __init__(self, test, driver, base):
        self.t, self.d, self.base = test, driver, base
        self.shots = artifact_dir()

    def js(self, script, *args):
        return self.d.execute_script(script, *args)

    def go(self, route):
        """Opens #ROUTE and waits until the page rendered its data once."""
        self.js("document.body.removeAttribute('data-loaded'); location.hash = arguments[0];", route)
        self.wait_loaded()

    def wait_loaded(self, timeout=15):
        wait_until(lambda: self.js("return document.body.dataset.loaded || ''") not in ("",), timeout,
                   what=f"page {self.js('return location.hash')} rendered (error: {self.error()!r})")

    def wait(self, script, what, timeout=15, *args):
        try:
            return wait_until(lambda: self.js(script, *args), timeout, interval=0.1, what=what)
        except AssertionError as e:
            self.shot("failure")
            raise AssertionError(f"{e}; page {self.js('return location.hash')}, error banner {self.error()!r}") from None

    def error(self):
        return self.js("const e = document.getElementById('error'); return e && !e.hidden ? e.textContent : ''")

    def q(self, css):
        return self.d.find_element(By.CSS_SELECTOR, css)

    def qs(self, css):
        return self.d.find_elements(By.CSS_SELECTOR, css)

    def click(self, css):
        """Clicks the element `css` names, found afresh on each try: a live refresh may replace
        it between the find and the click (StaleElementReferenceException), as it does every
        second for the releases table."""
        def attempt():
            try:
                self.q(css).click()
                return True
            except StaleElementReferenceException:
                return False
        wait_until(attempt, 10, interval=0.05, what=f"a click on {css}")

    def type_into(self, css, text):
        """Replaces a field's value as a user does: focus, select all, type (input events, which
        mark the form edited). Selenium's clear() blurs the field without an input event, and a
        live refresh in between put the server's value back under the typing ("5080")."""
        box = self.q(css)
        box.click()
        box.send_keys(Keys.CONTROL, "a")
        box.send_keys(text)

    def confirm(self):
        """Clicks Confirm in the confirmation dialog (which must be open)."""
        self.wait("return document.getElementById('confirm').open", "the confirmation dialog open")
        self.click("#confirm-ok")
        self.wait("return !document.getElementById('confirm').open", "the confirmation dialog closed")

    def shot(self, name):
        path = os.path.join(self.shots, f"{name}.png")
        self.d.save_screenshot(path)
        print(f"screenshot: {path}", file=sys.stderr)
        return path

    def login(self, token):
        self.wait("return !!document.getElementById('token')", "the login page")
        field = self.q("#token")
        field.clear()
        field.send_keys(token)
        self.click("#login-submit")

    def no_page_overflow(self):
        return self.js("return document.documentElement.scrollWidth <= window.innerWidth + 1")


MISSING_KEY = object()


def lookup(doc, path):
    """doc["a"]["b"][0] for "a.b.0"; None under a null (a control's delta_conversion), MISSING_KEY if absent."""
    for k in path.split("."):
        if doc is None:
            return None
        if isinstance(doc, list):
            doc = doc[int(k)] if k.isdigit() and int(k) < len(doc) else MISSING_KEY
        elif isinstance(doc, dict):
            doc = doc.get(k, MISSING_KEY)
        if doc is MISSING_KEY:
            return MISSING_KEY
    return doc


@unittest.skipIf(MISSING, f"no real browser here: {MISSING}")
class ConsoleBrowserTest(ConsoleCluster):
    def setUp(self):
        super().setUp()
        self.driver = new_browser()
        self.addCleanup(self.driver.quit)
        self.page = Page(self, self.driver, self.console)

    def test_console_end_to_end(self):
        bought = self.start_webapp()
        p = self.page
        self.driver.get(self.console + "/")

        # ---- log in: a wrong token is refused, the right one opens the overview
        p.login("not-the-token")
        p.wait("return document.getElementById('login-error').textContent.length > 0", "the refusal shown")
        self.assertIn("Refused", p.q("#login-error").text)
        self.assertEqual(p.js("return document.body.dataset.page"), "login")
        p.shot("login")
        p.login(self.token)
        p.wait("return document.body.dataset.page === 'overview' && document.body.dataset.loaded", "the overview")
        storage = p.js("return [document.cookie, JSON.stringify(localStorage), JSON.stringify(sessionStorage)]")
        for where in storage:
            self.assertNotIn(self.token, where)
        self.assertNotIn("skyport_session", storage[0], "the session cookie is HttpOnly")
        self.assertEqual(p.js("return document.getElementById('token')"), None)

        # ---- overview: the app, its commits and weights, every component up
        p.wait("return !!document.querySelector('#apps-table tr[data-app=webapp]')", "webapp on the overview")
        row = p.q("#apps-table tr[data-app=webapp]")
        for c in (self.a, self.b):
            self.assertTrue(row.find_elements(By.CSS_SELECTOR, f"li[data-commit='{c}']"), c)
        self.assertEqual(len(row.find_elements(By.CSS_SELECTOR, ".split-bar .seg")), 2)
        kinds = {e.get_attribute("data-kind") for e in p.qs("#health-table tr[data-kind]")}
        self.assertEqual(kinds, {"hub", "registry", "drone", "router"})
        self.assertTrue(p.no_page_overflow())
        p.shot("overview")

        # ---- app page: commits side by side, change the split, the router follows
        p.go("#/apps/webapp")
        self.assertEqual(len(p.qs(".commit-card")), 2)
        for c, w in ((self.a, "80"), (self.b, "20")):
            p.type_into(f"#w-{c}", w)
        p.click("#split-apply")
        p.wait("return document.getElementById('confirm').open", "the confirmation dialog")
        self.assertIn("users will change arm", p.q("#confirm-body").text)
        self.assertEqual(self.route_weights(), {self.a: 50, self.b: 50}, "nothing changes before the confirmation")
        p.confirm()
        wait_until(lambda: self.route_weights() == {self.a: 80, self.b: 20}, 10, what="the route at 80/20")
        self.wait_router_follows()
        p.wait(f"return document.querySelector(\".split-bar .seg[data-commit='{self.a}']\")?.dataset.weight === '80'",
               "the page's split bar at 80 (live refresh)", timeout=5)
        charts = p.js("return Object.keys(window.skyportCharts)")
        for c in ("requests", "errors", "p50", "p99"):
            self.assertIn(c, charts)
        reqs = p.js("return window.skyportCharts.requests.data.datasets.map(d => d.data.reduce((s, x) => s + (x || 0), 0))")
        self.assertGreater(sum(reqs), 0, "the requests chart holds the arms' requests")
        p.shot("app")

        # ---- keyboard: Tab reaches the split's Apply and a rollback button
        p.js("document.activeElement.blur(); window.scrollTo(0, 0)")
        reached = set()
        for _ in range(120):
            ActionChains(self.driver).send_keys(Keys.TAB).perform()
            reached.add(p.js("const a = document.activeElement; return a.id || a.dataset.rollback || a.tagName"))
            if "split-apply" in reached and any(x.startswith("v") for x in reached if x):
                break
        self.assertIn("split-apply", reached)
        self.assertTrue(any(x.startswith("v") for x in reached if x), f"no rollback button reached: {reached}")
        # Live refreshes re-render the releases table: the focus stays on the same button.
        p.js("document.querySelector('[data-rollback]').focus()")
        version = p.js("return document.activeElement.dataset.rollback")
        loaded = int(p.js("return document.body.dataset.loaded"))
        p.wait(f"return +document.body.dataset.loaded >= {loaded + 2}", "two live refreshes")
        self.assertEqual(p.js("return document.activeElement.dataset.rollback"), version)

        # ---- a flight: started from the page, its timeline moves, killed with a reason
        p.go("#/flights")
        spec = {"name": "checkout-v2", "app": "webapp", "version": 1,
                "arms": {"control": self.a[:8], "treatment": self.b[:8]}, "control": "control",
                "flightplan": [{"action": "weight", "arms": {"treatment": 10}}, {"action": "wait", "for": "2s"},
                               {"action": "weight", "arms": {"treatment": 30}}, {"action": "wait", "for": "1h"}]}
        p.js("document.getElementById('flight-spec').value = arguments[0]", json.dumps(spec, indent=1))
        p.click("#flight-start")
        p.confirm()
        p.wait("return location.hash === '#/flights/checkout-v2' && document.body.dataset.loaded", "the flight page")
        first = p.js("return document.querySelectorAll('#timeline-table tbody tr').length")
        # Live: once the hub is at step 4, the page shows it within 2 s without a reload.
        wait_until(lambda: self.cli_json("flight", "status", "checkout-v2", "--json")["step"] == "4", 15,
                   interval=0.1, what="the flight at step 4")
        p.wait("return document.querySelector('#plan li.current')?.dataset.step === '4'",
               "the plan's current step at 4 within 2 s (live refresh)", timeout=2.0)
        later = p.js("return document.querySelectorAll('#timeline-table tbody tr').length")
        self.assertGreater(later, first, "the timeline moved without a reload")
        weights = p.js("return window.skyportCharts.weights.data.datasets.map(d => [d.label, d.data.map(p => p.y)])")
        self.assertIn(30, dict(weights)["treatment"], weights)
        p.shot("flight")
        # The reason is user text shown in the timeline: markup in it stays text.
        p.q("#kill-reason").send_keys("seen enough in the browser test <img src=x id=injected onerror=alert(1)>")
        p.click("#flight-kill")
        p.confirm()
        p.wait("return document.getElementById('flight-state').dataset.state === 'killed'", "the flight killed", timeout=10)
        status = self.cli_json("flight", "status", "checkout-v2", "--json")
        self.assertEqual(status["state"], "killed")
        self.assertIn("seen enough in the browser test", status["reason"])
        self.assertIn("seen enough in the browser test", p.q("#flight-state").text)
        p.wait("return [...document.querySelectorAll('#timeline-table td')].some(td => td.textContent.includes('<img src=x'))",
               "the reason's markup shown as text in the timeline")
        self.assertEqual(p.js("return document.querySelectorAll('#injected, main img').length"), 0, "markup from data was parsed")
        p.shot("flight-killed")

        # ---- experiment page: every number equals skyport stats --json, every chart holds them
        def compare():
            p.go("#/apps/webapp/experiment?event=purchase&bucket=hour")
            doc = self.cli_json("stats", "webapp", "--event", "purchase", "--by", "hour", "--json")["experiment"]
            cells = p.js("return [...document.querySelectorAll('td[data-field]')].map(td => "
                         "[td.dataset.bucket, td.dataset.arm, td.dataset.field, td.dataset.value])")
            arms = {(str(b["bucket_unix_s"]), a["arm"]): a for b in doc["buckets"] for a in b["arms"]}
            shown = {(bucket, arm) for bucket, arm, _, _ in cells}
            diffs = [] if shown == set(arms) else [("arms shown", sorted(shown), sorted(arms))]
            for bucket, arm, path, value in cells:
                want = lookup(arms.get((bucket, arm)), path)
                if want is MISSING_KEY or json.loads(value) != want:
                    diffs.append(((bucket, arm[:8], path), json.loads(value), want))
            return (doc, cells) if not diffs else AssertionError(diffs[:5])
        doc, cells = wait_until(compare, 20, interval=0.5, what="the page's numbers equal to skyport stats --json")
        self.assertGreater(len(cells), 30, "the page shows the arms' numbers")
        fields = {c[2] for c in cells}
        for f in ("users", "conversion_rate", "mean", "delta_conversion.difference", "delta_conversion.ci.0",
                  "delta_conversion.p", "delta_mean.ci.1"):
            self.assertIn(f, fields)
        arms = [a["arm"] for a in doc["buckets"][-1]["arms"]]
        self.assertEqual(sum(a["events"] for b in doc["buckets"] for a in b["arms"]), bought)
        data = p.js("const c = window.skyportCharts; const f = (id) => c[id].data.datasets.filter(d => !d.band && !d.alpha)"
                    ".map(d => d.data); return {users: f('users'), conversion: f('conversion'), mean: f('mean'),"
                    " lift: f('lift'), pvalue: f('pvalue')}")
        order = sorted(arms)  # the page's arm order (colour, marker) on every page
        for i, arm in enumerate(order):
            per_bucket = [next((a for a in b["arms"] if a["arm"] == arm), None) for b in doc["buckets"]]
            self.assertEqual(data["users"][i], [a and a["users"] for a in per_bucket])
            self.assertEqual(data["conversion"][i], [a and a["conversion_rate"] for a in per_bucket])
            self.assertEqual(data["mean"][i], [a and a["mean"] for a in per_bucket])
        # Lift and p-value: the server's cumulative looks (one per bucket), the sequential p of the gates.
        looks = doc["cumulative"]
        self.assertEqual(len(looks), len(doc["buckets"]))
        treat = [a for a in order if a != doc["control"]]
        for i, arm in enumerate(treat):
            per_look = [next((a for a in look["arms"] if a["arm"] == arm), None) for look in looks]
            self.assertEqual(data["lift"][i], [a and a["delta_conversion"] and a["delta_conversion"]["difference"]
                                               for a in per_look])
            self.assertEqual(data["pvalue"][i], [a and a["sequential_p"] for a in per_look])
            self.assertTrue(all(a and a["sequential_p"] is not None for a in per_look), per_look)
        bands = p.js("return window.skyportCharts.conversion.data.datasets.filter(d => d.band).map(d => d.data)")
        self.assertEqual(len(bands), len(order), "a 95% band per arm on the conversion chart")
        for i, arm in enumerate(order):
            per_bucket = [next((a for a in b["arms"] if a["arm"] == arm), None) for b in doc["buckets"]]
            self.assertEqual(bands[i], [a and a["conversion_ci"] for a in per_bucket])
        # The users were dealt 50/50 and the split is now 80/20: the server's check flags a sample
        # ratio mismatch, and the page says so loudly.
        mismatch = [b for b in doc["buckets"] if b["srm"] and b["srm"]["mismatch"]]
        self.assertTrue(mismatch, "users dealt 50/50 against weights of 80/20 are a mismatch")
        banner = p.qs("#srm-banner")
        self.assertTrue(banner and banner[0].is_displayed(), "the mismatch banner")
        self.assertEqual(len(banner[0].find_elements(By.CSS_SELECTOR, "li")), len(mismatch))
        p.shot("experiment")
        self.driver.set_window_size(1280, 1400)
        p.shot("console-experiment")
        self.driver.set_window_size(1280, 900)

        # A range start (24h, as --since) is passed on: the page shows the same arms.
        p.go("#/apps/webapp/experiment?event=purchase&bucket=day&since=24h")
        self.assertEqual(p.q("#sel-since").get_attribute("value"), "24h")
        self.assertTrue(p.qs("td[data-field='users']"), "the arms' numbers with since=24h")

        # ---- registry: the port table and its filter
        p.go("#/registry")
        show = self.cli_json("registry", "show")
        a_entries = sum(len(v) for v in show[self.a].values())
        total = int(p.q("#registry-count").get_attribute("data-shown"))
        self.assertGreaterEqual(total, a_entries + sum(len(v) for v in show[self.b].values()))
        p.q("#registry-filter").send_keys(self.a[:10])
        p.wait(f"return document.getElementById('registry-count').dataset.shown === '{a_entries}'",
               f"the filter keeps {a_entries} entries of {self.a[:10]}")
        rows = p.qs("#registry-table tbody tr")
        self.assertTrue(rows and all(r.get_attribute("data-commit") == self.a for r in rows))
        p.q("#registry-filter").send_keys(" nothing-matches-this")
        p.wait("return document.getElementById('registry-count').dataset.shown === '0'", "no entry")
        p.shot("registry")

        # ---- rollback from the deploy history (confirmed), the app page follows
        p.go("#/apps/webapp")
        releases = self.cli_json("releases", "webapp", "--json")
        target = next(r for r in releases["releases"] if not r["current"] and r["outcome"] == "succeeded")
        p.click(f"[data-rollback='{target['version']}']")
        p.confirm()
        wait_until(lambda: self.cli_json("releases", "webapp", "--json")["current"] != releases["current"], 20,
                   what="a new current release after the rollback")
        now = self.cli_json("releases", "webapp", "--json")
        current = next(r for r in now["releases"] if r["current"])
        self.assertEqual(current["commit"], target["commit"])
        p.wait(f"return document.querySelector('#releases-table tr.row-current')?.dataset.release === '{current['version']}'",
               "the page's current release follows", timeout=5)
        self.assertIn("Rolled back", p.q("#rollback-result").text)

        # ---- 390 px wide: no horizontal page overflow on any page
        self.driver.set_window_size(390, 844)
        for route, name in (("#/", "overview"), ("#/apps/webapp", "app"), ("#/flights/checkout-v2", "flight"),
                            ("#/apps/webapp/experiment?event=purchase&bucket=hour", "experiment"), ("#/registry", "registry")):
            p.go(route)
            self.assertTrue(p.no_page_overflow(),
                            f"{name} at 390 px: page {p.js('return document.documentElement.scrollWidth')} px wide")
            p.shot(f"{name}-390")
        self.assertEqual(self.browser_errors(), [])

    def browser_errors(self):
        """Severe console messages of the page (script errors), not the 401 of the refused login."""
        logs = self.driver.get_log("browser")
        return [e["message"] for e in logs if e["level"] == "SEVERE" and " 401 " not in e["message"]
                and "/api/login" not in e["message"]]


@unittest.skipIf(MISSING, f"no real browser here: {MISSING}")
class ConsoleSecurityTest(ConsoleCluster):
    DRONES = ("d1",)

    def setUp(self):
        super().setUp()
        self.driver = new_browser()
        self.addCleanup(self.driver.quit)
        self.page = Page(self, self.driver, self.console)

    def attacker_site(self, target):
        """A page on another origin (another port of 127.0.0.1) whose form posts a split to the console."""
        html = f"""<!doctype html><form id=f method=POST action="{target}" enctype="text/plain">
<input name='{{"weights":{{"x":100}},"pad":"' value='"}}'></form>
<script>document.getElementById('f').submit()</script>""".encode()

        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(html)))
                self.end_headers()
                self.wfile.write(html)

            def log_message(self, *a):
                pass
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        return f"http://127.0.0.1:{server.server_address[1]}/"

    def test_sessions_cross_site_posts_logout_elsewhere_and_a_dead_hub(self):
        p = self.page
        for route in ("#/", "#/apps/webapp", "#/flights/x", "#/apps/webapp/experiment", "#/registry"):
            self.driver.get(f"{self.console}/{route}")
            p.wait("return document.body.dataset.page === 'login'", f"{route}: the login page")
        for path in ("/api/overview", "/api/apps/webapp", "/api/flights", "/api/registry", "/api/session"):
            status = p.js("const r = new XMLHttpRequest(); r.open('GET', arguments[0], false); r.send(); return r.status", path)
            self.assertEqual(status, 401, path)
        self.driver.get(self.console + "/")
        p.login(self.token)
        p.wait("return document.body.dataset.page === 'overview'", "the overview after login")
        for where in p.js("return [document.cookie, JSON.stringify(localStorage), JSON.stringify(sessionStorage)]"):
            self.assertNotIn(self.token, where)
        # A reload keeps the session (the cookie) and gets the CSRF token again from /api/session.
        self.driver.refresh()
        p.wait("return document.body.dataset.page === 'overview' && document.body.dataset.loaded", "the overview after a reload")
        # The session cookie goes with a form post from another origin of the same site (another
        # port of 127.0.0.1); the hub refuses it (no X-CSRF-Token, foreign Origin) and changes nothing.
        before = self.cli("registry", "route", "get", "webapp", check=False).stdout
        self.driver.get(self.attacker_site(f"{self.console}/api/apps/webapp/split"))
        wait_until(lambda: self.driver.current_url.startswith(self.console), 10, what="the form posted")
        text = self.driver.find_element(By.TAG_NAME, "body").text
        self.assertIn("error", text)
        self.assertEqual(self.cli("registry", "route", "get", "webapp", check=False).stdout, before)
        # Logged out in another tab: this one's event stream says so and it shows the login page.
        self.driver.get(self.console + "/")
        p.wait("return document.body.dataset.page === 'overview' && document.body.dataset.live === 'live'", "the overview, live")
        first = self.driver.current_window_handle
        self.driver.switch_to.new_window("tab")
        self.driver.get(self.console + "/")
        p.wait("return document.body.dataset.page === 'overview'", "the overview in a second tab")
        p.click("#logout")
        p.wait("return document.body.dataset.page === 'login'", "the login page after logout")
        self.driver.close()
        self.driver.switch_to.window(first)
        p.wait("return document.body.dataset.page === 'login'", "the first tab on the login page", timeout=5)
        status = p.js("const r = new XMLHttpRequest(); r.open('GET', '/api/overview', false); r.send(); return r.status")
        self.assertEqual(status, 401)
        # The hub killed under an open page: the page says the hub does not answer and polls.
        p.login(self.token)
        p.wait("return document.body.dataset.page === 'overview' && document.body.dataset.loaded", "the overview again")
        self.hub.kill()
        p.wait("return document.body.dataset.live === 'polling'", "polling once the event stream is gone", timeout=10)
        p.wait("return !document.getElementById('error').hidden", "an error banner", timeout=10)
        self.assertIn("did not answer", p.error())
        p.shot("hub-down")


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    if MISSING and not result.failures and not result.errors:
        print(f"SKIPPED: {MISSING}", file=sys.stderr)
        sys.exit(77)
    sys.exit(0 if result.wasSuccessful() else 1)
