"""Config changes and rollbacks under load (split from test_config.py for its own time
budget): 20 `skyport config set` changes, then 20 `skyport rollback`s (each undoing the one
before, so each restores the other config and rolls the instances), while wrk sends requests
through a router in registry mode to examples/envecho; not one request may fail (no non-2xx
answer, no socket error, no timeout), and after each change every answer shows the new value.
The figures are in docs/benchmarks.md.
"""
import os
import shutil
import signal
import subprocess
import time
import unittest

from harness import wait_until

ROLLBACKS = 20
from test_config import CHANGES, HOST, SECRET, RouterBase
from test_rolling_redeploy import WRK_SCRIPT, wrk_summary


@unittest.skipUnless(shutil.which("wrk"), "wrk is not installed (scripts/setup.sh installs it)")
class ConfigUnderLoadTest(RouterBase):
    """The strictest case: one drone, one instance. Each change leaves the app with no instance
    at all unless the new one is ready and registered before the old one goes (with the order
    reversed, this test sees hundreds of failed requests)."""
    DRONES = ("d1",)
    INSTANCES = 1

    def test_twenty_config_changes_and_twenty_rollbacks_under_wrk_zero_failures(self):
        commit = self.push_envecho()
        n = len(self.DRONES) * self.INSTANCES
        self.cli("deploy", "webapp", commit, "--instances", str(self.INSTANCES), timeout=60)
        wait_until(lambda: self.answers() == {"GREETING=(unset)"}, 15, what="the app serving")
        self.assertEqual(len(self.instances(commit)), n)
        self.assertEqual(self.registered(commit), n)

        wrk_out = os.path.join(self.tmp, "wrk.out")
        script = os.path.join(self.tmp, "report.lua")
        with open(script, "w") as f:
            f.write(WRK_SCRIPT)
        with open(wrk_out, "w") as out:
            wrk = subprocess.Popen(["wrk", "-t1", "-c8", "-d3600s", "--timeout", "5s", "-s", script,
                                    "-H", f"Host: {HOST}", f"http://127.0.0.1:{self.router.port}/"],
                                   stdout=out, stderr=subprocess.STDOUT)
        self.addCleanup(lambda: wrk.poll() is None and wrk.kill())
        started = time.monotonic()
        for i in range(1, CHANGES + 1):
            r = self.config("set", "webapp", f"GREETING=v{i}", f"TOKEN={SECRET}", timeout=120)
            self.assertEqual(r.returncode, 0, f"change {i}: {r.stdout}{r.stderr}")
            # The command returns once every instance runs the new config.
            self.assertEqual(self.answers(8), {f"GREETING=v{i}"}, f"change {i}")
            self.assertEqual(len(self.instances(commit)), n, f"change {i}: {self.instances(commit)}")
            self.assertEqual(self.registered(commit), n, f"change {i}")
        duration = time.monotonic() - started
        # Rollbacks: the first goes back to the release of config v(CHANGES-1), the next undoes it, ...
        rollbacks_started = time.monotonic()
        for i in range(1, ROLLBACKS + 1):
            want = f"GREETING=v{CHANGES - 1}" if i % 2 == 1 else f"GREETING=v{CHANGES}"
            r = self.cli("rollback", "webapp", "--grace", "0s", "--json", check=False, timeout=120)
            self.assertEqual(r.returncode, 0, f"rollback {i}: {r.stdout}{r.stderr}")
            self.assertEqual(self.answers(8), {want}, f"rollback {i}")
            self.assertEqual(len(self.instances(commit)), n, f"rollback {i}: {self.instances(commit)}")
            self.assertEqual(self.registered(commit), n, f"rollback {i}")
        rollbacks_duration = time.monotonic() - rollbacks_started
        wrk.send_signal(signal.SIGINT)
        wrk.wait(timeout=20)
        with open(wrk_out) as f:
            text = f.read()
        requests, bad, errors = wrk_summary(text)
        print(f"\n{CHANGES} config changes ({len(self.DRONES)} drone(s) x {self.INSTANCES} instance(s), rolling) "
              f"in {duration:.1f} s: "
              f"then {ROLLBACKS} rollbacks in {rollbacks_duration:.1f} s: "
              f"{requests} requests, {bad} non-2xx, socket errors {errors}")
        self.assertGreater(requests, CHANGES * 10, text)
        self.assertEqual(bad, 0, f"non-2xx answers during the config changes:\n{text}")
        self.assertEqual(errors, {"connect": 0, "read": 0, "write": 0, "timeout": 0},
                         f"socket errors during the config changes:\n{text}")
        self.assertEqual(self.config_json()["version"], CHANGES + ROLLBACKS)  # each rollback restored one
        self.assertNotIn(SECRET, self.logs_text())
        self.assertNotIn(SECRET, self.router.log())


@unittest.skipUnless(shutil.which("wrk"), "wrk is not installed (scripts/setup.sh installs it)")
class ConfigUnderLoadManyTest(ConfigUnderLoadTest):
    """Two drones rolling at once, two instances each (two steps per drone per change)."""
    DRONES = ("d1", "d2")
    INSTANCES = 2


if __name__ == "__main__":
    unittest.main()
