"""Issue 16, releases and rollback, and the apps overview.

Every deploy records a release (v1, v2, ... per app); `skyport releases` lists them; `skyport
rollback` makes an earlier one current (a weight flip when its commit still runs, a deploy then
the flip when it was stopped), recorded as a release of its own; the rolled-back-from commit stops
after its grace. `skyport apps` shows every app. Traffic is checked through a real router."""
import http.client
import json
import os
import signal
import threading
import time

from harness import DeployTest, Router, wait_until
import test_hub_ha  # its cluster set-up (a module import: unittest would run an imported class's tests)

APP = '''import http.server, os, time
time.sleep(float(os.environ.get("SLOW_START", "0")))
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"app {os.environ['SKYPORT_COMMIT'][:7]}\\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
'''


def via_router(router, host="webapp.localhost"):
    conn = http.client.HTTPConnection("127.0.0.1", router.port, timeout=5)
    try:
        conn.request("GET", "/", headers={"Host": host})
        r = conn.getresponse()
        return r.status, r.read().decode()
    except OSError as e:
        return 0, str(e)
    finally:
        conn.close()


class ReleasesTest(DeployTest):
    DRONES = ("d1",)

    def app_commit(self, label, procfile="web: python3 app.py\n"):
        return self.commit({"app.py": APP, "Procfile": procfile, "label.txt": label}, label)

    def releases(self, app="webapp"):
        return self.cli_json("releases", app, "--json")

    def running_commits(self):
        return {p["commit"] for p in self.cli_json("ps", "webapp", "--json") if p["state"] == "running"}

    def two_releases(self):
        a = self.app_commit("a")
        b = self.app_commit("b")
        self.push()
        self.cli("deploy", "webapp", a[:10], timeout=60)
        self.cli("deploy", "webapp", b[:10], timeout=60)
        return a, b

    def test_releases_are_recorded_survive_a_restart_and_bad_inputs_are_refused(self):
        a, b = self.two_releases()
        bad = self.app_commit("bad", procfile="release: exit 3\nweb: python3 app.py\n")
        self.push()
        self.assertEqual(self.cli("deploy", "webapp", bad[:10], check=False, timeout=60).returncode, 1)
        doc = self.releases()
        self.assertEqual([r["version"] for r in doc["releases"]], ["v1", "v2", "v3"])
        self.assertEqual([r["commit"] for r in doc["releases"]], [a, b, bad])
        self.assertEqual([r["outcome"] for r in doc["releases"]], ["succeeded", "succeeded", "failed"])
        self.assertIn("exited with 3", doc["releases"][2]["error"])
        self.assertEqual(doc["current"], "v2")  # no route: the newest succeeded release
        for r in doc["releases"]:
            self.assertEqual(r["who"], "cluster")
            self.assertEqual(r["drones"], ["d1"])
            self.assertEqual(r["config_version"], 0)
            self.assertGreater(r["created_unix_ms"], 0)
        table = self.cli("releases", "webapp").stdout
        self.assertIn("*v2", table)
        self.assertIn("v3: ", table)

        # Env values are secrets: names only.
        self.cli("deploy", "webapp", b[:10], "--env", "API_KEY=hunter2", timeout=60)
        r = self.cli("releases", "webapp", "--json")
        self.assertNotIn("hunter2", r.stdout)
        self.assertEqual(json.loads(r.stdout)["releases"][-1]["env_keys"], ["API_KEY"])

        # Bad inputs.
        r = self.cli("releases", "nosuchapp", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("no app named nosuchapp", r.stderr)
        self.assertEqual(self.cli("releases", "Bad/Name", check=False).returncode, 2)
        self.assertEqual(self.cli("rollback", "webapp", "vx", check=False).returncode, 2)
        self.assertEqual(self.cli("rollback", "webapp", "--grace", "soon", check=False).returncode, 2)
        r = self.cli("rollback", "webapp", "v99", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("no release v99", r.stderr)
        r = self.cli("rollback", "webapp", "v3", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("v3 failed", r.stderr)
        r = self.cli("rollback", "nosuchapp", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("no app named nosuchapp", r.stderr)

        # Without the token nothing is answered.
        wrong = os.path.join(self.tmp, "wrong-token")
        with open(wrong, "w") as f:
            f.write("0" * 32 + "\n")
        for args in (("releases", "webapp"), ("rollback", "webapp"), ("apps",)):
            r = self.cli(*args, check=False, token_file=wrong)
            self.assertEqual(r.returncode, 1, args)
            self.assertIn("UNAUTHENTICATED", r.stderr)

        # A restart (kill -9) keeps the history, and numbering goes on.
        self.hub.kill(signal.SIGKILL)
        self.hub.start()
        wait_until(lambda: self.connected_drones() == {"d1"}, 15, what="drone back")
        self.assertEqual([r["version"] for r in self.releases()["releases"]], ["v1", "v2", "v3", "v4"])
        self.cli("deploy", "webapp", a[:10], timeout=60)
        self.assertEqual(self.releases()["releases"][-1]["version"], "v5")

    def test_rollback_flips_traffic_then_retires_and_redeploys_a_stopped_commit(self):
        router = Router(self.tmp, self.token_file, registry=self.registry).start()
        self.addCleanup(router.kill)
        a, b = self.two_releases()
        wait_until(lambda: via_router(router)[1] == f"app {b[:7]}\n", 10, what="b routed")

        # Only one release: nothing to roll back to is said plainly (another app).
        c = self.app_commit("solo")
        self.push(app="solo")
        self.cli("deploy", "solo", c[:10], timeout=60)
        r = self.cli("rollback", "solo", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("nothing to roll back to", r.stderr)

        # v1's commit still runs: no deploy, an instant flip; b keeps running for its grace.
        t0 = time.monotonic()
        doc = self.cli_json("rollback", "webapp", "--grace", "6s", "--json", timeout=30)
        self.assertLess(time.monotonic() - t0, 10)
        self.assertIn(b, self.running_commits())  # within its grace
        apps = {x["name"]: x for x in self.cli_json("apps", "--json")["apps"]}
        self.assertEqual(doc["release"]["version"], "v3")
        self.assertEqual(doc["release"]["description"], "rollback to v1")
        self.assertEqual(doc["release"]["outcome"], "succeeded")
        self.assertEqual(doc["target"], "v1")
        self.assertFalse(doc["deployed"])
        self.assertEqual(doc["retiring"], [b])
        self.assertEqual(apps["webapp"]["current"]["version"], "v3")
        weights = {c["commit"]: c["weight"] for c in apps["webapp"]["commits"]}
        self.assertEqual(weights, {a: 100, b: 0})
        self.assertEqual((apps["webapp"]["instances_up"], apps["webapp"]["instances_total"]), (2, 2))
        self.assertIsNone(apps["webapp"]["active_flight"])
        self.assertEqual(apps["solo"]["current"]["commit"], c)
        self.assertIn("webapp", self.cli("apps").stdout)
        wait_until(lambda: via_router(router)[1] == f"app {a[:7]}\n", 10, what="a routed after the flip")
        for _ in range(20):
            self.assertEqual(via_router(router), (200, f"app {a[:7]}\n"))
        self.assertEqual(self.cli_json("split", "webapp", "--show", "--json")["weights"], {a: 100})
        rels = self.releases()
        self.assertEqual(rels["current"], "v3")
        self.assertEqual(len(rels["releases"]), 3)

        # After the grace the rolled-back-from commit stops, even across a hub restart (kill -9).
        self.hub.kill(signal.SIGKILL)
        self.hub.start()
        wait_until(lambda: self.connected_drones() == {"d1"}, 15, what="drone back")
        wait_until(lambda: self.running_commits() == {a}, 30, what="b stopped after its grace")
        self.assertEqual(via_router(router), (200, f"app {a[:7]}\n"))

        # The default target now is v2 (a second rollback undoes the first); b was stopped:
        # it is deployed first, then the route flips.
        doc = self.cli_json("rollback", "webapp", "--grace", "1h", "--json", timeout=60)
        self.assertEqual(doc["target"], "v2")
        self.assertTrue(doc["deployed"])
        self.assertEqual(doc["release"]["version"], "v4")
        self.assertEqual(doc["retiring"], [a])
        wait_until(lambda: via_router(router)[1] == f"app {b[:7]}\n", 10, what="b routed again")
        self.assertEqual(self.running_commits(), {a, b})
        r = self.cli("rollback", "webapp", "v4", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("already the current release", r.stderr)
        self.assertEqual([x["outcome"] for x in self.releases()["releases"]], ["succeeded"] * 4)

        # An active flight owns the weights: a rollback is refused until it ends.
        spec = os.path.join(self.tmp, "flight.json")
        with open(spec, "w") as f:
            json.dump({"name": "hold", "app": "webapp", "version": 1, "control": "control",
                       "arms": {"control": b[:10], "treatment": a[:10]},
                       "flightplan": [{"action": "wait", "for": "1h"}]}, f)
        self.cli("flight", "start", spec)
        r = self.cli("rollback", "webapp", "v1", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("flight hold is active", r.stderr)
        apps = {x["name"]: x for x in self.cli_json("apps", "--json")["apps"]}
        self.assertEqual(apps["webapp"]["active_flight"], "hold")
        self.cli("flight", "kill", "hold")
        self.assertEqual(self.releases()["current"], "v4")

    def test_a_deploy_left_by_its_client_or_cut_by_a_hub_restart_is_resolved(self):
        a = self.app_commit("a")
        b = self.app_commit("b")
        self.push()
        # The client goes away mid-deploy: the drone's answer resolves the release.
        p = self.spawn("deploy", "webapp", a[:10], "--env", "SLOW_START=2")
        wait_until(lambda: [r["outcome"] for r in self.releases()["releases"]] == ["pending"], 10,
                   what="v1 pending")
        p.kill()
        p.wait(timeout=10)
        wait_until(lambda: self.releases()["releases"][0]["outcome"] == "succeeded", 20, what="v1 resolved")

        # The hub dies mid-deploy: the release comes back "interrupted".
        p = self.spawn("deploy", "webapp", b[:10], "--env", "SLOW_START=5")
        wait_until(lambda: [r["outcome"] for r in self.releases()["releases"]][-1:] == ["pending"], 10,
                   what="v2 pending")
        self.hub.kill(signal.SIGKILL)
        p.wait(timeout=20)
        self.hub.start()
        r = self.releases()["releases"][-1]
        self.assertEqual((r["version"], r["outcome"]), ("v2", "interrupted"))
        self.assertIn("before the deploy's outcome was known", r["error"])

    def test_apps_destroy_needs_confirm_stops_everything_and_purges(self):
        a, b = self.two_releases()
        self.cli("split", "webapp", f"{a[:10]}=50", f"{b[:10]}=50")
        for args in (("apps", "destroy", "webapp"), ("apps", "destroy", "webapp", "--confirm", "other")):
            r = self.cli(*args, check=False)
            self.assertEqual(r.returncode, 2, args)
            self.assertIn("--confirm webapp", r.stderr)
        self.assertEqual(self.running_commits(), {a, b})
        r = self.cli("apps", "destroy", "nosuchapp", "--confirm", "nosuchapp", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("no app named nosuchapp", r.stderr)

        doc = self.cli_json("apps", "destroy", "webapp", "--confirm", "webapp", "--json", timeout=60)
        self.assertEqual(sorted(doc["stopped"]), sorted([a, b]))
        self.assertTrue(doc["route_removed"])
        self.assertEqual(doc["releases_removed"], 2)
        self.assertFalse(doc["repository_removed"])
        self.assertEqual(self.cli_json("ps", "webapp", "--json"), [])
        self.assertEqual(self.show(), {})
        self.assertIsNone(self.cli_json("split", "webapp", "--show", "--json"))
        self.assertEqual(self.releases()["releases"], [])  # still pushed: known, no releases

        r = self.cli("apps", "destroy", "webapp", "--confirm", "webapp", "--purge")
        self.assertIn("repository removed", r.stdout)
        r = self.cli("releases", "webapp", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("no app named webapp", r.stderr)
        self.assertNotIn("webapp", {x["name"] for x in self.cli_json("apps", "--json")["apps"]})
        self.push()  # a push makes it again
        self.cli("deploy", "webapp", a[:10], timeout=60)
        self.assertEqual([r["version"] for r in self.releases()["releases"]], ["v1"])

    def test_rollbacks_under_load_fail_no_request(self):
        router = Router(self.tmp, self.token_file, registry=self.registry).start()
        self.addCleanup(router.kill)
        a, b = self.two_releases()
        wait_until(lambda: via_router(router)[1] == f"app {b[:7]}\n", 10, what="b routed")
        stop = threading.Event()
        answers = []

        def load():
            while not stop.is_set():
                answers.append(via_router(router))
        threads = [threading.Thread(target=load) for _ in range(4)]
        for t in threads:
            t.start()
        try:
            for i in range(10):  # each rollback undoes the one before: a, b, a, ...
                doc = self.cli_json("rollback", "webapp", "--grace", "1h", "--json", timeout=30)
                want = a if i % 2 == 0 else b
                self.assertEqual((doc["release"]["commit"], doc["deployed"]), (want, False))
                wait_until(lambda: via_router(router)[1] == f"app {want[:7]}\n", 10, what=f"rollback {i} routed")
        finally:
            stop.set()
            for t in threads:
                t.join()
        failed = [x for x in answers if x[0] != 200]
        print(f"\n10 rollbacks under load: {len(answers)} requests, {len(failed)} failed")
        self.assertGreater(len(answers), 100)
        self.assertEqual(failed, [])
        self.assertEqual(self.releases()["releases"][-1]["version"], "v12")


class ReleasesHaTest(DeployTest):
    """Three hubs on etcd (skipped, saying why, without etcd): the releases ride the desired state's key."""
    DRONES = ("d1",)
    setUp = test_hub_ha.HubHaTest.setUp
    _stop_cluster = test_hub_ha.HubHaTest._stop_cluster
    leaders = test_hub_ha.HubHaTest.leaders
    one_leader = test_hub_ha.HubHaTest.one_leader

    def test_releases_survive_a_failover_and_the_new_leader_rolls_back(self):
        leader = self.one_leader()
        wait_until(lambda: self.connected_drones() == {"d1"}, 15, what="the drone attached to the leader")
        a = self.commit({"app.py": APP, "Procfile": "web: python3 app.py\n", "label.txt": "a"}, "a")
        b = self.commit({"app.py": APP, "Procfile": "web: python3 app.py\n", "label.txt": "b"}, "b")
        self.git("push", "-q", leader.git_url("webapp", self.token), "master")
        self.cli("deploy", "webapp", a[:10], timeout=60)
        self.cli("deploy", "webapp", b[:10], timeout=60)
        leader.kill(signal.SIGKILL)
        self.one_leader([h for h in self.hubs if h is not leader])
        wait_until(lambda: self.cli("releases", "webapp", "--json", check=False).returncode == 0, 15,
                   what="the new leader answers")
        doc = self.cli_json("releases", "webapp", "--json")
        self.assertEqual([(r["version"], r["commit"], r["outcome"]) for r in doc["releases"]],
                         [("v1", a, "succeeded"), ("v2", b, "succeeded")])
        wait_until(lambda: self.connected_drones() == {"d1"}, 15, what="the drone attached to the new leader")
        wait_until(lambda: {p["commit"] for p in self.cli_json("ps", "webapp", "--json")
                            if p["state"] == "running"} == {a, b}, 15, what="both commits reported running")
        doc = self.cli_json("rollback", "webapp", "--grace", "1h", "--json", timeout=60)
        self.assertEqual((doc["release"]["version"], doc["target"], doc["deployed"]), ("v3", "v1", False))
