"""Flights end to end on 127.0.0.1: a registry, a hub (the control tower), two
drones and a router with --hub. The app is pushed in two commits; the control
is deployed by hand, the flight deploys the treatment, moves weights on
time, enrolls only the users its filter and range admit, and cleans up on
kill, a failed gate, or endBy. A hub kill -9 mid-plan resumes the flight at
its step; a bad spec is refused with its field named and changes nothing.
"""
import http.server
import json
import os
import signal
import threading
import time
from unittest import mock

from harness import DeployTest, Router, wait_until
from test_router import cookie_pair, get

APP = '''import http.server, os
COMMIT = os.environ["SKYPORT_COMMIT"]
FAIL = os.path.exists("fail.txt")

class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        body = f"{COMMIT}\\n".encode()
        self.send_response(500 if FAIL and self.path != "/healthz" else 200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass

http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
'''
HOST = "webapp.localhost"
LINUX = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"
MAC = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15"


class Hook:
    """A webhook receiver on 127.0.0.1 for the plan's pings: records (method, path, body)."""

    def __init__(self):
        got = self.got = []

        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                got.append(("GET", self.path, ""))
                self.send_response(204)
                self.end_headers()

            def do_POST(self):
                n = int(self.headers.get("Content-Length", 0))
                got.append(("POST", self.path, self.rfile.read(n).decode()))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class FlightTest(DeployTest):
    HUB_EXTRA = ("--gate-interval-ms", "300")

    def setUp(self):
        super().setUp()
        self.a = self.commit({"app.py": APP, "Procfile": "web: python3 app.py\n"}, "control")
        self.push()
        self.cli("deploy", "webapp", self.a[:8])
        self.b = self.commit({"app.py": APP + "# treatment\n"}, "treatment")
        self.push()
        # Many simulated users from one address: above the default new-user budget per address.
        self.router = Router(self.tmp, self.token_file, registry=self.registry,
                             extra=["--hub", self.hub.address(),
                                    "--new-users-address-burst", "100000"]).start()
        self.addCleanup(self.router.kill)
        wait_until(lambda: self.visit(LINUX)[1] == self.a, 15, what="webapp routed to the control")

    # ---- helpers
    def visit(self, ua, cookie=None):
        """A request through the router: (cookie pair, commit served, status)."""
        headers = {"User-Agent": ua}
        if cookie:
            headers["Cookie"] = cookie
        status, h, body = get(self.router.port, host=HOST, headers=headers)
        got = cookie_pair(h["set-cookie"]) if "set-cookie" in h else cookie
        return got, body.decode().strip(), status

    def spec(self, plan, **kw):
        doc = {"name": "checkout-v2", "app": "webapp", "version": 1,
               "arms": {"control": self.a[:8], "treatment": "master"}, "control": "control",
               "flightplan": plan}
        doc.update(kw)
        return doc

    def start_flight(self, doc, check=True):
        path = os.path.join(self.tmp, f"spec-{time.monotonic_ns()}.json")
        with open(path, "w") as f:
            json.dump(doc, f)
        return self.cli("flight", "start", path, "--json", check=check)

    def status(self, name="checkout-v2"):
        return self.cli_json("flight", "status", name, "--json")

    def log(self, name="checkout-v2"):
        return self.cli_json("flight", "log", name, "--json")

    def commits_running(self):
        return set(self.show("webapp"))

    def share_of_b(self, ua, n):
        served = [self.visit(ua)[1] for _ in range(n)]
        self.assertTrue(set(served) <= {self.a, self.b}, served)
        return served.count(self.b) / n

    # ---- tests
    def test_flight_enrolls_moves_weights_on_time_and_kill_cleans_up(self):  # noqa: C901
        doc = self.spec([
            {"action": "deploy", "arm": "treatment", "instances": 1},
            {"action": "weight", "arms": {"treatment": 50}},
            {"action": "wait", "for": "5s"},
            {"action": "weight", "arms": {"treatment": 100}},
            {"action": "wait", "for": "1h"},
        ], filter={"oses": ["linux"]}, randomDeploy={"keyname": "uid", "ge": 0.0, "lt": 0.5})
        st = json.loads(self.start_flight(doc).stdout)
        self.assertEqual(st["state"], "running")
        wait_until(lambda: self.status()["step"] == "3", 60, what="treatment deployed and weighted 50%")
        self.assertIn(self.b, self.commits_running(), "the flight deployed the treatment")
        # Enrolled: linux users in the lower half of the range; half of them on B.
        share = self.share_of_b(LINUX, 200)
        self.assertEqual(self.status()["step"], "3", "still in the 5 s wait")
        self.assertTrue(0.15 < share < 0.35, share)
        self.assertEqual(self.share_of_b(MAC, 60), 0.0, "mac users are not enrolled: control")
        wait_until(lambda: self.status()["step"] == "5", 10, what="second weight step")
        share = self.share_of_b(LINUX, 300)
        self.assertTrue(0.40 < share < 0.60, share)
        # A cookie keeps its arm.
        for _ in range(20):
            cookie, commit, _ = self.visit(LINUX)
            if commit == self.b:
                break
        for _ in range(10):
            self.assertEqual(self.visit(LINUX, cookie)[1], self.b)
        # The wait between the weight steps took its 2 s (measured from its start).
        entries = self.log()
        weights = [e for e in entries if e["kind"] == "weight"]
        self.assertGreaterEqual(len(weights), 2, entries)
        self.assertGreaterEqual(weights[-1]["unix_ms"] - weights[0]["unix_ms"], 5000, weights)
        wait_until(lambda: all(a["users_enrolled"] > 0 for a in self.status()["arms"]), 10,
                   what="enrolled users of both arms counted at the hub")

        # Kill: every user back on control within a second, the treatment stopped.
        t0 = time.monotonic()
        killed = self.cli_json("flight", "kill", "checkout-v2", "--reason", "test says so", "--json")
        self.assertIn(killed["state"], ("cleanup", "killed"))
        # The registry has the control-only route; routers follow within milliseconds.
        wait_until(lambda: self.visit(LINUX, cookie)[1] == self.a, 1.0, interval=0.01,
                   what="the user back on control within a second of the kill")
        self.assertEqual(self.share_of_b(LINUX, 100), 0.0)
        self.assertLess(time.monotonic() - t0, 3.0)
        wait_until(lambda: self.status()["state"] == "killed", 30, what="flight killed")
        wait_until(lambda: self.b not in self.commits_running(), 30, what="treatment stopped")
        self.assertIn(self.a, self.commits_running(), "the control keeps running")
        self.assertIn("test says so", self.status()["reason"])
        kinds = [e["kind"] for e in self.log()]
        self.assertIn("kill", kinds)
        self.assertEqual(kinds[-1], "end")

    def test_hub_restart_mid_plan_resumes_at_its_step(self):
        doc = self.spec([
            {"action": "weight", "arms": {"treatment": 20}},
            {"action": "wait", "for": "4s"},
            {"action": "weight", "arms": {"treatment": 60}},
            {"action": "wait", "for": "1h"},
        ], arms={"control": self.a[:8], "treatment": self.a[:8]})
        # Two arms on one commit: refused by the hub, nothing changes.
        r = self.start_flight(doc, check=False)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("arms.", r.stderr)
        self.cli("deploy", "webapp", self.b[:8])
        doc["arms"] = {"control": self.a[:8], "treatment": self.b[:8]}
        self.start_flight(doc)
        wait_until(lambda: self.status()["step"] == "2", 15, what="the wait")
        started_wait = [e for e in self.log() if e["kind"] == "weight"][0]["unix_ms"]
        self.hub.kill(signal.SIGKILL)
        self.hub.start()
        self.assertEqual(self.status()["step"], "2", "resumed at the wait")
        wait_until(lambda: self.status()["step"] == "4", 15, what="the second weight after the restart")
        weights = [e for e in self.log() if e["kind"] == "weight"]
        self.assertGreaterEqual(weights[-1]["unix_ms"] - started_wait, 4000, "the wait kept its absolute deadline")
        self.assertLess(weights[-1]["unix_ms"] - started_wait, 9000, "and did not start over")
        route = self.cli_json("registry", "route", "get", "webapp")
        self.assertEqual(route["weights"][self.b], 600000, route)
        share = self.share_of_b(LINUX, 300)
        self.assertTrue(0.48 < share < 0.72, share)

    def test_failed_gate_sends_traffic_back_and_stops_the_treatment(self):
        bad = self.commit({"fail.txt": "500s\n"}, "broken treatment")
        self.push()
        doc = self.spec([
            {"action": "deploy", "arm": "treatment"},
            {"action": "weight", "arms": {"treatment": 50}},
            {"action": "gate", "metric": "error_rate", "arm": "treatment", "max_increase": 0.01, "min_samples": 20},
            {"action": "promote", "arm": "treatment"},
        ], arms={"control": self.a[:8], "treatment": bad[:8]})
        self.start_flight(doc)
        wait_until(lambda: self.status()["step"] == "3", 60, what="the gate")
        # Traffic for the gate: half of the users see 500s.
        deadline = time.monotonic() + 30
        while self.status()["state"] == "running" and time.monotonic() < deadline:
            for _ in range(20):
                self.visit(LINUX)
        wait_until(lambda: self.status()["state"] == "failed", 30, what="the gate failed the flight")
        self.assertIn("error_rate", self.status()["reason"])
        gates = [e for e in self.log() if e["kind"] == "gate"]
        self.assertTrue(gates and gates[-1]["data"]["verdict"] == "fail", gates)
        self.assertEqual(self.share_of_b(LINUX, 50), 0.0)
        wait_until(lambda: bad not in self.commits_running(), 30, what="broken treatment stopped")
        self.assertEqual(set(self.commits_running()), {self.a})

    def test_promote_keeps_the_old_commit_for_its_grace_then_retires_it(self):
        hook = Hook()
        self.addCleanup(hook.close)
        doc = self.spec([
            {"action": "deploy", "arm": "treatment"},
            [{"action": "weight", "arms": {"treatment": 50}},
             {"action": "ping", "url": f"http://127.0.0.1:{hook.port}/hook?flight={{{{name}}}}&step={{{{step}}}}"}],
            {"action": "promote", "arm": "treatment", "grace": "3s"},
            {"action": "ping", "method": "POST", "url": f"http://127.0.0.1:{hook.port}/done",
             "body": '{"flight": "{{name}}", "status": "{{status}}", "arm": "{{arm}}"}'},
        ])
        self.start_flight(doc)
        wait_until(lambda: self.status()["state"] == "promoted", 60, what="promoted")
        wait_until(lambda: len(hook.got) == 2, 10, what="both pings")
        self.assertEqual(hook.got[0][:2], ("GET", "/hook?flight=checkout-v2&step=2.2"))
        method, path, body = hook.got[1]
        self.assertEqual((method, path), ("POST", "/done"))
        self.assertEqual(json.loads(body), {"flight": "checkout-v2", "status": "promoted", "arm": "treatment"})
        pings = [e for e in self.log() if e["kind"] == "ping"]
        self.assertTrue(any("204" in e["message"] for e in pings), pings)
        self.assertEqual(self.share_of_b(MAC, 50), 1.0, "everyone on the promoted commit")
        self.assertIn(self.a, self.commits_running(), "the old commit keeps running during the grace")
        r = self.cli("flight", "kill", "checkout-v2", check=False)
        self.assertEqual(r.returncode, 1, "a promoted flight is rolled back with a split, not killed")
        self.assertIn("promoted", r.stderr)
        wait_until(lambda: self.a not in self.commits_running(), 30, what="old commit retired")
        self.assertEqual(self.share_of_b(LINUX, 20), 1.0)

    def test_a_promoted_flights_name_can_be_reused_during_its_grace(self):
        self.start_flight(self.spec([
            {"action": "deploy", "arm": "treatment"},
            {"action": "promote", "arm": "treatment", "grace": "1h"},
        ]))
        wait_until(lambda: self.status()["state"] == "promoted", 60, what="promoted")
        first_id = self.status()["id"]
        # Its promotion is written: the name is free for the next experiment.
        self.start_flight(self.spec([{"action": "wait", "for": "1h"}],
                                    arms={"control": "master", "treatment": self.a[:8]}))
        now = self.status()
        self.assertEqual(now["state"], "running")
        self.assertNotEqual(now["id"], first_id, "by name: the newer flight")
        ids = {f["id"]: f["state"] for f in self.cli_json("flight", "list", "--all", "--json")}
        self.assertEqual(ids.get(first_id), "promoted")
        # A third flight of the name while the second runs is refused, as before.
        r = self.start_flight(self.spec([{"action": "wait", "for": "1h"}],
                                        arms={"control": "master", "treatment": self.a[:8]}), check=False)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("is active (running)", r.stderr)
        # A split written over the flight's route would drop it from the routers: refused.
        r = self.cli("split", "webapp", f"{self.a[:8]}=100", check=False)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("flight checkout-v2 is active on webapp", r.stderr)
        self.assertEqual(self.status()["state"], "running")
        self.cli("flight", "kill", "checkout-v2")

    def test_a_rollback_during_the_grace_keeps_the_old_commit(self):
        doc = self.spec([
            {"action": "deploy", "arm": "treatment"},
            {"action": "promote", "arm": "treatment", "grace": "2s"},
        ])
        self.start_flight(doc)
        wait_until(lambda: self.status()["state"] == "promoted", 60, what="promoted")
        # Something is wrong with the new commit: the instant rollback is a weight flip.
        self.cli("split", "webapp", f"{self.a[:8]}=100")
        self.assertEqual(self.share_of_b(LINUX, 20), 0.0)
        wait_until(lambda: any("left running" in e["message"] for e in self.log()), 30,
                   what="the retirement skipping the commit the route uses")
        self.assertIn(self.a, self.commits_running(), "the rolled-back-to commit keeps running")
        self.assertEqual(self.share_of_b(LINUX, 20), 0.0)

    def test_end_by_expires_the_flight(self):
        end_by = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 4))
        doc = self.spec([
            {"action": "deploy", "arm": "treatment"},
            {"action": "weight", "arms": {"treatment": 100}},
            {"action": "wait", "for": "1h"},
        ], endBy=end_by)
        self.start_flight(doc)
        wait_until(lambda: self.status()["step"] == "3", 60, what="all enrolled users on the treatment")
        self.assertEqual(self.share_of_b(LINUX, 20), 1.0)
        wait_until(lambda: self.status()["state"] == "expired", 15, what="expired at endBy")
        self.assertEqual(self.share_of_b(LINUX, 20), 0.0)

    def test_bad_spec_is_refused_with_the_field_and_changes_nothing(self):
        before = self.cli("registry", "route", "get", "webapp", check=False)
        doc = self.spec([{"action": "weight", "arms": {"nosuch": 5}}, {"action": "wait"}],
                        filter={"oses": ["beos"]})
        r = self.start_flight(doc, check=False)
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        for field in ("flightplan[0].arms.nosuch", "flightplan[1]", "filter.oses[0]"):
            self.assertIn(field, r.stderr)
        # Unknown commit: refused by the hub (it resolves arms), nothing started.
        doc = self.spec([], arms={"control": self.a[:8], "treatment": "no-such-branch"})
        r = self.start_flight(doc, check=False)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("arms.treatment", r.stderr)
        self.assertEqual(self.cli_json("flight", "list", "--json"), [])
        self.assertEqual(self.commits_running(), {self.a})
        after = self.cli("registry", "route", "get", "webapp", check=False)
        self.assertEqual((after.returncode, after.stdout), (before.returncode, before.stdout), "route untouched")

    def test_max_flights_from_the_environment_refuses_one_more_start(self):
        self.hub.kill(signal.SIGKILL)
        with mock.patch.dict(os.environ, {"SKYPORT_HUB_MAX_FLIGHTS": "1"}):
            self.hub.start()
        self.start_flight(self.spec([{"action": "wait", "for": "1h"}]))
        r = self.start_flight(self.spec([{"action": "wait", "for": "1h"}], name="another"), check=False)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("1 flights are not finished", r.stderr)
        self.assertIn("--max-flights", r.stderr)
        self.assertEqual([f["name"] for f in self.cli_json("flight", "list", "--json")], ["checkout-v2"])
        # A timeline that fits one reply: no notice, on stdout or (with --json) stderr.
        text = self.cli("flight", "log", "checkout-v2")
        self.assertNotIn("left out", text.stdout)
        js = self.cli("flight", "log", "checkout-v2", "--json")
        self.assertEqual(js.stderr.strip(), "")
        self.assertIsInstance(json.loads(js.stdout), list)


if __name__ == "__main__":
    import unittest
    unittest.main()
