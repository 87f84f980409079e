"""Events and experiment data end to end on 127.0.0.1: a registry, a hub and a
router (registry mode, --hub); two commits of webapp split 50/50; users get
their cookie through the router and post events to POST /_skyport/events;
the router aggregates exposures and events per user, arm and hour and ships
them to the hub, which stores them durably; `skyport stats --event` reads
them back. Also: what the endpoint refuses, server-side posts that name
their user with the token, and a hub outage that loses nothing.
"""
import http.client
import json
import re
import signal
import unittest

from harness import Backend, ClusterTest, Hub, Router, wait_until
from test_router import COOKIE_RE, cookie_pair, get

C1 = "aaaa" + "1" * 36
C2 = "bbbb" + "2" * 36
HOST = "webapp.localhost"


def post(port, body, headers=None, path="/_skyport/events", method="POST"):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
        conn.request(method, path, body=data, headers={"Host": HOST, "Content-Type": "application/json", **(headers or {})})
        r = conn.getresponse()
        return r.status, r.read().decode()
    finally:
        conn.close()


class EventsTest(ClusterTest):
    def setUp(self):
        super().setUp()
        self.hub = Hub(self.tmp, self.token_file, self.registry).start()
        self.addCleanup(self.hub.kill)
        self.b1 = Backend(self.tmp, "one").start()
        self.addCleanup(self.b1.kill)
        self.b2 = Backend(self.tmp, "two").start()
        self.addCleanup(self.b2.kill)
        # Many simulated users from one address: above the default new-user budget per address.
        self.router = Router(self.tmp, self.token_file, registry=self.registry,
                             extra=["--hub", self.hub.address(),
                                    "--new-users-address-burst", "100000"]).start()
        self.addCleanup(self.router.kill)
        for commit, b in ((C1, self.b1), (C2, self.b2)):
            self.cli("registry", "register", f"webapp@{commit}", "web", "--host", "127.0.0.1", "--port", str(b.port))
        wait_until(lambda: get(self.router.port, host=HOST)[0] == 200, 10, what="webapp routed")
        self.cli("split", "webapp", f"{C1}=50", f"{C2}=50")
        rev = int(self.cli_json("registry", "route", "get", "webapp")["revision"])
        wait_until(lambda: self.router.metric("skyport_router_table_revision", default=-1) >= rev, 10, what="split in the router")
        with open(self.token_file) as f:
            self.token = f.read().strip()

    def user(self):
        """A first visit through the router: (cookie pair, commit)."""
        status, headers, _ = get(self.router.port, host=HOST)
        self.assertEqual(status, 200)
        return cookie_pair(headers["set-cookie"]), headers["x-skyport-commit"]

    def test_refusals(self):
        cookie, _ = self.user()
        h = {"Cookie": cookie}
        cases = [
            (b"not json", 400, "body"),
            ({"event": "$exposure"}, 400, "reserved"),
            ({"event": "buy", "value": "12"}, 400, "value"),
            ({"event": "buy", "user": "0" * 32}, 400, "user"),   # naming a user needs the token
            ({"event": "buy", "colour": "red"}, 400, "colour"),
            ([{"event": "buy"}] * 1001, 413, ""),
            (b"[" + b",".join([b'{"event":"buy","value":1}'] * 3000) + b"]", 413, ""),
        ]
        for body, status, words in cases:
            got, text = post(self.router.port, body, h)
            self.assertEqual(got, status, f"{body!r:.60}: {text}")
            self.assertIn(words, text)
        self.assertEqual(post(self.router.port, None, h, method="GET")[0], 405)
        # No cookie and no user named: the event belongs to nobody.
        got, text = post(self.router.port, {"event": "buy"})
        self.assertEqual(got, 400, text)
        self.assertIn("no user", text)
        # The router still serves (nothing of the above disturbed it).
        self.assertEqual(get(self.router.port, host=HOST)[0], 200)

    def test_events_reach_the_hub_and_survive_its_outage(self):
        users = [self.user() for _ in range(60)]
        for cookie, commit in users:
            got, text = post(self.router.port, [{"event": "purchase", "value": 10}], {"Cookie": cookie})
            self.assertEqual(got, 202, text)
            self.assertEqual(json.loads(text)["commit"], commit, "an event is attributed to the user's arm")
        # Server-side: the token lets a post name its user.
        uid = COOKIE_RE.match(users[0][0]).group(1)
        got, text = post(self.router.port, {"event": "refund", "value": 3, "user": uid},
                         {"Authorization": f"Bearer {self.token}"})
        self.assertEqual(got, 202, text)
        wait_until(lambda: self.router.metric("skyport_router_stats_shipped_rows_total", default=-1) >= 121, 10,
                   what="exposures + events shipped")
        # Hub away: rows wait in the router; hub back: they arrive, none lost.
        self.hub.kill(signal.SIGKILL)
        more = [self.user() for _ in range(20)]
        for cookie, _ in more:
            self.assertEqual(post(self.router.port, {"event": "purchase", "value": 5}, {"Cookie": cookie})[0], 202)
        wait_until(lambda: self.router.metric("skyport_router_stats_pending_rows", default=-1) >= 40, 10, what="rows held while the hub is down")
        wait_until(lambda: self.router.metric("skyport_router_stats_hub_up", default=-1) == 0, 10, what="the router notices the hub is gone")
        self.hub.start()
        wait_until(lambda: self.router.metric("skyport_router_stats_pending_rows", default=-1) == 0, 20, what="held rows shipped")
        self.assertEqual(self.router.metric("skyport_router_stats_dropped_rows_total", default=-1), 0)
        self.check_hub_totals(users=80, purchases=80, purchase_sum=60 * 10 + 20 * 5)

    def test_a_known_difference_shows_in_skyport_stats(self):
        # C2's users convert 40% of the time, C1's 10%: skyport stats must see
        # +30 points with a tiny p-value, and no sample ratio mismatch at 50/50.
        # The k-th user of each arm decides by k (not by the visit's number, whose arm is random),
        # so each arm converts at exactly its rate and only the arms' sizes vary.
        per_arm = {C1: [], C2: []}
        for _ in range(300):
            cookie, commit = self.user()
            rate = 4 if commit == C2 else 1
            bought = len(per_arm[commit]) % 10 < rate
            if bought:
                got, text = post(self.router.port, {"event": "purchase", "value": 20 if commit == C2 else 10},
                                 {"Cookie": cookie})
                self.assertEqual(got, 202, text)
            per_arm[commit].append(bought)
        expected_converted = sum(sum(v) for v in per_arm.values())
        env = {**self.env(), "SKYPORT_HUB": self.hub.address()}

        def experiment():
            doc = json.loads(self.cli("stats", "webapp", "--event", "purchase", "--control", C1[:8], "--json",
                                      env=env).stdout)
            return {a["arm"]: a for a in doc_arms(doc)}, doc
        wait_until(lambda: sum(a["converted"] for a in experiment()[0].values()) == expected_converted, 15,
                   what="every purchase at the hub")
        arms, doc = experiment()
        c1, c2 = arms[C1], arms[C2]
        self.assertEqual(c1["converted"], sum(per_arm[C1]))
        self.assertEqual(c2["converted"], sum(per_arm[C2]))
        delta = c2["delta_conversion"]
        self.assertGreater(delta["difference"], 0.2, doc)
        self.assertLess(delta["p"], 1e-4, doc)
        lo, hi = delta["ci"]
        self.assertTrue(0.1 < lo < delta["difference"] < hi < 0.5, doc)
        self.assertIsNone(c1["delta_conversion"], "control has no delta")
        # Requests are kept at the hub too (durable, by bucket): every first visit was one.
        self.assertGreaterEqual(c1["requests"] + c2["requests"], 300, doc)
        self.assertEqual(c1["errors_5xx"] + c2["errors_5xx"], 0, doc)
        self.assertAlmostEqual(c2["mean"], 20.0, places=9)
        self.assertAlmostEqual(c1["mean"], 10.0, places=9)
        srm = doc["experiment"]["buckets"][0]["srm"]
        self.assertIsNotNone(srm)
        self.assertFalse(srm["mismatch"], srm)

        # The flight gate on the same data: the sequential test sees C2 better (exit 0, pass);
        # asked the other way round (C2 as control), C1 is worse: fail (exit 1).
        gate = ["gate", "webapp", "--metric", "conversion", "--event", "purchase", "--test", "sequential",
                "--alpha", "0.05", "--json"]
        r = self.cli(*gate, "--control", C1[:8], "--arm", C2[:8], env=env, check=False)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(json.loads(r.stdout)["verdict"], "pass")
        r = self.cli(*gate, "--control", C2[:8], "--arm", C1[:8], env=env, check=False)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertEqual(json.loads(r.stdout)["verdict"], "fail")
        # Too few users for the minimum sample: wait (exit 3).
        r = self.cli(*gate, "--control", C1[:8], "--arm", C2[:8], "--min-samples", "100000", env=env, check=False)
        self.assertEqual(r.returncode, 3, r.stdout + r.stderr)
        self.assertEqual(json.loads(r.stdout)["verdict"], "wait")

    def test_error_rate_and_latency_gates_read_the_hub(self):
        # Everyone visits once (200 on both arms); then C2's backend dies and
        # its users' second visits get the router's 502.
        users = [self.user() for _ in range(60)]
        self.b2.kill()
        for cookie, commit in users:
            status, _, _ = get(self.router.port, host=HOST, headers={"Cookie": cookie})
            self.assertEqual(status, 200 if commit == C1 else 502)
        n1 = sum(1 for _, c in users if c == C1)
        n2 = len(users) - n1
        self.assertGreater(min(n1, n2), 10, "both arms got users")
        env = {**self.env(), "SKYPORT_HUB": self.hub.address()}

        def hub_arms():
            doc = json.loads(self.cli("stats", "webapp", "--json", env=env).stdout)
            return {a["arm"]: a for a in doc_arms(doc)}
        wait_until(lambda: hub_arms()[C2]["errors_5xx"] == n2 and hub_arms()[C1]["requests"] >= 2 * n1, 15,
                   what="every request's outcome at the hub")
        arms = hub_arms()
        self.assertEqual(arms[C1]["errors_5xx"], 0)
        self.assertEqual(arms[C2]["status"]["5xx"], n2)
        self.assertGreaterEqual(arms[C1]["status"]["2xx"], 2 * n1)
        self.assertGreater(arms[C1]["latency_p99_us"], 0)
        # The routers are not asked: the gate judges the hub's durable numbers.
        self.router.kill()
        gate = ["gate", "webapp", "--control", C1[:8], "--arm", C2[:8], "--min-samples", "10", "--json"]
        r = self.cli(*gate, "--metric", "error_rate", "--max-increase", "0.01", env=env, check=False)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        doc = json.loads(r.stdout)
        self.assertEqual(doc["verdict"], "fail")
        self.assertEqual(doc["numbers"]["treatment"]["errors"], n2)
        self.assertEqual(doc["numbers"]["control"]["errors"], 0)
        self.assertGreaterEqual(doc["numbers"]["control"]["requests"], 2 * n1)
        self.assertNotIn("router", r.stderr)
        r = self.cli(*gate, "--metric", "latency_p99", "--max-increase", "1000", env=env, check=False)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        doc = json.loads(r.stdout)
        self.assertGreater(doc["numbers"]["control"]["p99_us"], 0)
        self.assertGreater(doc["numbers"]["treatment"]["p99_us"], 0)

    def local_responses(self):
        _, text = self.router.admin_get("/metrics", token=False)
        return {m.group(1): int(m.group(2))
                for m in re.finditer(r'^skyport_router_local_responses_total\{code="([^"]+)"\} (\d+)$', text, re.M)}

    def test_local_responses_are_counted_by_their_own_status(self):
        cookie, _ = self.user()
        before = self.local_responses()
        self.assertEqual(post(self.router.port, None, {"Cookie": cookie}, method="GET")[0], 405)
        conn = http.client.HTTPConnection("127.0.0.1", self.router.port, timeout=10)
        try:  # chunked: 411
            conn.request("POST", "/_skyport/events", body=iter([b'{"event":"buy"}']),
                         headers={"Host": HOST, "Cookie": cookie, "Transfer-Encoding": "chunked"})
            r = conn.getresponse()
            r.read()
            self.assertEqual(r.status, 411)
        finally:
            conn.close()
        self.assertEqual(post(self.router.port, [{"event": "buy"}] * 1001, {"Cookie": cookie})[0], 413)
        after = self.local_responses()
        for code in ("405", "411", "413"):
            self.assertEqual(after.get(code, 0) - before.get(code, 0), 1, f"{code}: {after}")
        self.assertEqual(after.get("505", 0), before.get("505", 0), after)

    def test_duplicate_authorization_is_refused(self):
        uid = "0123456789abcdef0123456789abcdef"
        body = json.dumps({"event": "refund", "value": 3, "user": uid}).encode()
        for values in ((f"Bearer {self.token}", "Bearer wrong"), ("Bearer wrong", f"Bearer {self.token}"),
                       (f"Bearer {self.token}", f"Bearer {self.token}")):
            conn = http.client.HTTPConnection("127.0.0.1", self.router.port, timeout=10)
            try:
                conn.putrequest("POST", "/_skyport/events", skip_host=True, skip_accept_encoding=True)
                conn.putheader("Host", HOST)
                conn.putheader("Content-Type", "application/json")
                conn.putheader("Content-Length", str(len(body)))
                for v in values:
                    conn.putheader("Authorization", v)
                conn.endheaders(body)
                r = conn.getresponse()
                text = r.read().decode()
                self.assertEqual(r.status, 400, text)
                self.assertIn("Authorization", text)
            finally:
                conn.close()
        # One header still works.
        got, text = post(self.router.port, {"event": "refund", "value": 3, "user": uid},
                         {"Authorization": f"Bearer {self.token}"})
        self.assertEqual(got, 202, text)

    def test_events_are_accepted_with_no_instance_running(self):
        cookie, _ = self.user()
        for _, roles in self.cli_json("registry", "show", "--wide").items():
            for _, entries in roles.items():
                for e in entries:
                    self.cli("registry", "free", str(e["id"]))
        wait_until(lambda: get(self.router.port, host=HOST)[0] == 503, 10, what="no instance of webapp in the router")
        got, text = post(self.router.port, [{"event": "purchase", "value": 7}], {"Cookie": cookie})
        self.assertEqual(got, 202, text)
        self.assertEqual(json.loads(text)["accepted"], 1)
        self.assertNotIn("commit", json.loads(text), "no arm serves the user now")
        # Refusals still apply.
        self.assertEqual(post(self.router.port, {"event": "purchase"})[0], 400)

    def check_hub_totals(self, users, purchases, purchase_sum):
        """What the hub stored, through `skyport stats --event purchase --json`."""
        r = self.cli("stats", "webapp", "--event", "purchase", "--json", env={**self.env(),
                                                                            "SKYPORT_HUB": self.hub.address()})
        doc = json.loads(r.stdout)
        rows = [a for a in doc_arms(doc)]
        # setUp's probes were first visits too: they are exposed users without events.
        self.assertGreaterEqual(sum(a["users"] for a in rows), users, doc)
        self.assertEqual(sum(a["converted"] for a in rows), users, doc)
        self.assertEqual(sum(a["events"] for a in rows), purchases, doc)
        self.assertAlmostEqual(sum(a["sum"] for a in rows), purchase_sum, places=6)


def doc_arms(doc):
    """The per-arm experiment rows of `skyport stats --json` (whole range)."""
    exp = doc["experiment"]
    for bucket in exp["buckets"]:
        for arm in bucket["arms"]:
            yield arm


if __name__ == "__main__":
    unittest.main()
