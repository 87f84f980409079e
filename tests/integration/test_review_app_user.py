"""Hostile-app review (issue 13): with --app-user every app was one user; --app-uids gives
each app a uid of its own, and this test checks that one app cannot touch another's.

All apps of a drone run as the same --app-user, and every checkout is given
to that user (GiveCheckoutTo). So an app can rewrite another app's code in its
checkout (it runs with the victim's config on its next start) and read the
victim's secrets from /proc/PID/environ (same uid, dumpable). Expected: an app
cannot touch another app's checkout or processes.
"""
import json
import os
import pwd
import unittest
import urllib.request

from harness import DeployTest, Drone, wait_until, http_app

VICTIM_APP = http_app()

# Tries another app's checkout and process; reports what it could do.
EVIL_APP = http_app(r'''import http.server, json, os
def attempt(fn):
    try:
        return fn()
    except OSError as e:
        return "denied " + type(e).__name__
def write():
    with open(os.path.join(os.environ["VICTIM_DIR"], "app.py"), "a") as f:
        f.write("\n# owned\n")
    return "written"
def environ():
    env = open("/proc/%s/environ" % os.environ["VICTIM_PID"], "rb").read()
    return "read SECRET" if b"SECRET=hunter2" in env else "read"
report = json.dumps({"write": attempt(write), "environ": attempt(environ)}).encode()
''', body='report')


class SharedAppUserTest(DeployTest):
    DRONES = ()

    def setUp(self):
        super().setUp()
        try:
            pwd.getpwnam("nobody")
        except KeyError:
            self.skipTest("no user `nobody` on this machine")
        if os.geteuid() != 0:
            self.skipTest("--app-user needs a root drone")
        os.chmod(self.tmp, 0o711)
        self.drones["d1"] = Drone(self.tmp, self.token_file, "d1", self.hub, self.registry,
                                  extra=["--app-uids", "61184-61283"]).start()
        wait_until(lambda: self.connected_drones() == {"d1"}, 15, what="drone attached")

    def test_an_app_cannot_touch_another_apps_checkout_or_environment(self):
        victim = self.commit({"app.py": VICTIM_APP, "Procfile": "web: python3 app.py\n"})
        self.push("webapp")
        self.cli("deploy", "webapp", "master", "--env", "SECRET=hunter2", timeout=60)
        [proc] = [p for p in json.loads(self.cli("ps", "--json").stdout) if p["app"] == "webapp"]
        victim_dir = os.path.join(self.drones["d1"].data, "deploy", "webapp", victim)
        self.commit({"app.py": EVIL_APP})
        self.push("evil")
        evil = self.git("rev-parse", "HEAD").stdout.strip()
        self.cli("deploy", "evil", "master", "--env", f"VICTIM_DIR={victim_dir}", "--env",
                 f"VICTIM_PID={proc['pid']}", timeout=60)
        [entry] = self.show("evil")[evil]["web"]
        with urllib.request.urlopen(f"http://127.0.0.1:{entry['port']}/", timeout=5) as r:
            report = json.loads(r.read())
        with open(os.path.join(victim_dir, "app.py")) as f:
            self.assertNotIn("# owned", f.read(), f"evil rewrote webapp's code in its checkout ({report})")
        self.assertTrue(report["write"].startswith("denied"), report)
        self.assertTrue(report["environ"].startswith("denied"), report)


if __name__ == "__main__":
    unittest.main()
