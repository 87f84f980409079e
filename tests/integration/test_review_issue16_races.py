"""Review of issue 16: three cases a hostile read found (each failed before its fix).

- A config change rolls every commit of the app; with no split the routers send everyone to the
  commit registered last, so a rolled older commit took the traffic (for good in commit-hash
  order, for the newest's roll in creation order). Now a config change rolls oldest first and
  every instance registers with its commit's deploy time (DeployRequest.deployed_unix_ms), so
  not one request reaches the older commit during the change.
- Deploy on push targeted every drone any deployment names: one drone away failed every push.
  It now deploys to the attached ones.
- `apps destroy` did not hold the app against deploys: one made during it survived. It now
  stops what appears meanwhile (bounded passes, else says so).
"""
import collections
import os
import signal
import threading
import time

from harness import DeployTest, Router, wait_until
from test_releases import APP, via_router


class ConfigChangeKeepsTrafficTest(DeployTest):
    DRONES = ("d1",)

    def setUp(self):
        super().setUp()
        self.router = Router(self.tmp, self.token_file, registry=self.registry).start()
        self.addCleanup(self.router.kill)

    def test_a_config_change_leaves_the_traffic_on_the_newest_deploy(self):
        # Two commits where the newer one sorts first: the config change restarts it first.
        older = self.commit({"app.py": APP, "Procfile": "web: python3 app.py\n", "label.txt": "older"}, "older")
        for i in range(64):
            newer = self.commit({"label.txt": f"newer {i}"}, f"newer {i}")
            if newer < older:
                break
        self.assertLess(newer, older)
        self.push()
        self.cli("deploy", "webapp", older[:10], timeout=60)
        self.cli("deploy", "webapp", newer[:10], timeout=60)
        wait_until(lambda: via_router(self.router)[1] == f"app {newer[:7]}\n", 10, what="the newest deploy routed")
        self.assertEqual(self.cli_json("releases", "webapp", "--json")["current"], "v2")

        # Requests all through the change: not one may reach the older commit, not even while the
        # newer one rolls (its replacement registers with the commit's deploy time, not its own).
        seen, stop = [], threading.Event()

        def load():
            while not stop.is_set():
                seen.append(via_router(self.router)[1])
        t = threading.Thread(target=load)
        t.start()
        try:
            r = self.cli("config", "set", "webapp", "GREETING=hi", timeout=90)
        finally:
            stop.set()
            t.join()
        # On a failure, say what each answer was and how often (a refusal or an error says
        # something else than an answer of the older commit), and the drone's view.
        why = f"answers: {collections.Counter(seen)}; config set said: {r.stdout} {r.stderr}"
        self.assertIn("2 commits restarted rolling", r.stdout, why)
        self.assertGreater(len(seen), 5, why)
        self.assertEqual(set(seen), {f"app {newer[:7]}\n"},
                         f"traffic reached the older commit during the change: {why}; "
                         f"ps: {self.cli('ps', 'webapp').stdout}")
        answers = {via_router(self.router)[1] for _ in range(20)}
        self.assertEqual(answers, {f"app {newer[:7]}\n"}, "a config change moved the traffic to the older commit")
        current = self.cli_json("releases", "webapp", "--json")
        cur = [x for x in current["releases"] if x["version"] == current["current"]]
        self.assertEqual(cur[0]["commit"], newer)


class DeployOnPushWithADroneAwayTest(DeployTest):
    """Deploy on push targets every drone any deployment of the app names. One of them away
    (maintenance, a crash, a drone retired for good that the desired state still names) makes
    every push fail its deploy, with nothing deployed to the drones that are there."""
    DRONES = ("d1", "d2")
    HUB_EXTRA = ("--deploy-timeout", "20")

    def test_a_push_deploys_to_the_drones_that_are_attached(self):
        first = self.commit({"app.py": APP, "Procfile": "web: python3 app.py\n", "label.txt": "1"}, "1")
        self.push()
        self.cli("deploy", "webapp", first[:10], timeout=60)  # on d1 and d2
        self.cli("apps", "set", "webapp", "--deploy-on-push", "master")
        self.drones["d2"].kill(signal.SIGTERM)
        wait_until(lambda: self.connected_drones() == {"d1"}, 15, what="d2 away")
        second = self.commit({"label.txt": "2"}, "2")
        r = self.git("push", self.hub.git_url("webapp", self.token), "master", check=False)
        self.assertEqual(r.returncode, 0, r.stderr)
        running = {(p["drone"], p["commit"]) for p in self.cli_json("ps", "webapp", "--json")
                   if p["state"] == "running"}
        self.assertIn(("d1", second), running)


STUBBORN_APP = "import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n" + APP


class DestroyRaceTest(DeployTest):
    """`apps destroy` claims the app against rollbacks and retirements only: a deploy (or a
    deploy on push) made while it stops the app's commits survives the destroy, which says it
    is done: the app runs on with no releases, no config and no route."""
    DRONES = ("d1",)

    def test_a_deploy_during_a_destroy_does_not_survive_it_unnoticed(self):
        a = self.commit({"app.py": STUBBORN_APP, "Procfile": "web: python3 app.py\n", "label.txt": "a"}, "a")
        b = self.commit({"app.py": APP, "label.txt": "b"}, "b")
        self.push()
        self.cli("deploy", "webapp", a[:10], timeout=60)
        destroy = self.spawn("apps", "destroy", "webapp", "--confirm", "webapp")
        # a ignores SIGTERM: its stop takes the drone's --stop-timeout (5 s); deploy b meanwhile.
        def stopping():
            with open(self.drones["d1"].log_path, errors="replace") as log:
                return f"stopping instance=webapp@{a}" in log.read()
        wait_until(stopping, 30, what="the destroy under way")
        self.assertIsNone(destroy.poll(), "the destroy ended before the deploy")
        self.cli("deploy", "webapp", b[:10], timeout=60)
        out, err = destroy.communicate(timeout=60)
        running = {p["commit"] for p in self.cli_json("ps", "webapp", "--json") if p["state"] == "running"}
        if destroy.returncode == 0:
            self.assertEqual(running, set(), f"destroy said it was done, yet the app runs: {out}")


class DeployDuringARetirementTest(DeployTest):
    """A rollback's grace ends and the Retirer stops the rolled-back-from commit; a deploy of that
    very commit made while the stop runs reported success, then the stop took it away (the
    release said succeeded, nothing ran it, the desired state forgot it). Now the deploy waits for
    the stop and starts the commit again."""
    DRONES = ("d1",)

    def drone_log(self):
        with open(self.drones["d1"].log_path, errors="replace") as f:
            return f.read()

    def running(self):
        return {p["commit"] for p in self.cli_json("ps", "webapp", "--json") if p["state"] == "running"}

    def test_a_deploy_of_the_commit_being_retired_runs_it_again(self):
        a = self.commit({"app.py": APP, "Procfile": "web: python3 app.py\n", "label.txt": "a"}, "a")
        # b ignores SIGTERM: its stop takes the drone's stop timeout, a window to deploy it in.
        b = self.commit({"app.py": STUBBORN_APP, "label.txt": "b"}, "b")
        self.push()
        self.cli("deploy", "webapp", a[:10], timeout=60)
        self.cli("deploy", "webapp", b[:10], timeout=60)
        self.cli("rollback", "webapp", "--grace", "1s", timeout=30)
        wait_until(lambda: f"stopping instance=webapp@{b}" in self.drone_log(), 30, what="the retirement of b under way")
        r = self.cli("deploy", "webapp", b[:10], check=False, timeout=90)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        wait_until(lambda: "rollback grace over" in self.hub_log(), 30, what="the retirement done")
        wait_until(lambda: b in self.running(), 30, what="b running again after its deploy")
        releases = self.cli_json("releases", "webapp", "--json")["releases"]
        self.assertEqual((releases[-1]["commit"], releases[-1]["outcome"]), (b, "succeeded"))
        # The hub wants it too: a drone that restarts (and reconciles) runs it.
        self.drones["d1"].kill(signal.SIGTERM)
        self.drones["d1"].start()
        wait_until(lambda: b in self.running(), 30, what="b running after the drone's restart")

    def hub_log(self):
        with open(self.hub.log_path, errors="replace") as f:
            return f.read()

    def test_a_config_change_during_the_grace_does_not_cancel_the_retirement(self):
        # A config change restarts every commit that runs, b too while it waits out its grace;
        # that restart is no choice of b (it used to count as "v5 chose it again": b ran for good).
        a = self.commit({"app.py": APP, "Procfile": "web: python3 app.py\n", "label.txt": "a"}, "a")
        b = self.commit({"label.txt": "b"}, "b")
        self.push()
        self.cli("deploy", "webapp", a[:10], timeout=60)
        self.cli("deploy", "webapp", b[:10], timeout=60)
        self.cli("rollback", "webapp", "--grace", "4s", timeout=30)
        r = self.cli("config", "set", "webapp", "GREETING=hi", check=False, timeout=90)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn(b, self.running())  # restarted within its grace
        wait_until(lambda: "rollback grace over" in self.hub_log(), 30, what="the grace over")
        self.assertIn("rollback grace over: stopped", self.hub_log())
        wait_until(lambda: self.running() == {a}, 30, what="b stopped")
        descriptions = [x["description"] for x in self.cli_json("releases", "webapp", "--json")["releases"]]
        self.assertEqual(descriptions.count("config v1 restart"), 2, descriptions)


if __name__ == "__main__":
    import unittest
    unittest.main()
