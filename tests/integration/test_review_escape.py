"""Hostile-app review (issue 13): escaping process tracking.

Without a per-instance cgroup (--cgroups off, or a host without cgroup v2
delegation) the drone attributes a process the kernel re-parented to it by the
SKYPORT_* names in its /proc/PID/environ. Those names are the app's to choose:
a daemon of app "evil" that names itself as an instance of another app
("webapp") is tracked with that instance, so `skyport stop evil` leaves it
running (for as long as the other app runs).
"""
import os
import signal
import unittest

from harness import DeployTest, Drone, pid_alive, wait_until, http_app

VICTIM_APP = http_app()

# Double-forks a daemon whose environment names it webapp's instance 0.
EVIL_APP = http_app(r'''import os
beat = os.environ["BEAT_FILE"]
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        env = {"SKYPORT_APP": "webapp", "SKYPORT_COMMIT": os.environ["VICTIM_COMMIT"], "SKYPORT_ROLE": "web",
               "SKYPORT_INSTANCE": "0", "SKYPORT_DRONE": os.environ["SKYPORT_DRONE"], "BEAT_FILE": beat,
               "PATH": os.environ["PATH"]}
        os.execve("/bin/sh", ["sh", "-c", 'echo $$ > "$BEAT_FILE.tmp"; mv "$BEAT_FILE.tmp" "$BEAT_FILE"; '
                              'while :; do sleep 0.05; done'], env)
    os._exit(0)
os.wait()
''')


class ForgedIdentityEscapeTest(DeployTest):
    """Apps run with a uid each (--app-uids), the drone without cgroups: a claim to be another
    app's instance, made from another uid, does not count (the daemon is stopped with its own app
    or killed as nobody's). With one user for all apps, or apps as the drone's user, they can
    signal each other anyway: the uid is what separates them (docs/security.md, Apps)."""
    DRONES = ()

    def setUp(self):
        super().setUp()
        if os.geteuid() != 0:
            self.skipTest("--app-uids needs a root drone")
        os.chmod(self.tmp, 0o711)  # the apps' uids reach their checkouts under it
        self.drones["d1"] = Drone(self.tmp, self.token_file, "d1", self.hub, self.registry,
                                  extra=["--cgroups", "off", "--app-uids", "61184-61283"]).start()
        wait_until(lambda: self.connected_drones() == {"d1"}, 15, what="drone attached")

    def test_stop_stops_a_daemon_that_names_itself_as_another_apps_instance(self):
        victim = self.commit({"app.py": VICTIM_APP, "Procfile": "web: python3 app.py\n"})
        self.push("webapp")
        self.cli("deploy", "webapp", "master", timeout=60)
        beats = os.path.join(self.tmp, "beats")
        os.mkdir(beats)
        os.chmod(beats, 0o777)  # the evil app's uid writes its heartbeat here
        beat = os.path.join(beats, "beat")
        self.commit({"app.py": EVIL_APP})
        self.push("evil")
        self.cli("deploy", "evil", "master", "--env", f"BEAT_FILE={beat}", "--env", f"VICTIM_COMMIT={victim}",
                 timeout=60)
        pid = int(wait_until(lambda: open(beat).read().strip(), 10, what="daemon pid"))

        def kill():
            if pid_alive(pid):
                os.kill(pid, signal.SIGKILL)
        self.addCleanup(kill)
        # The orphan scan (every 200 ms) sees its claim and refuses it: evil's uid is not webapp's.
        wait_until(lambda: "claims an instance of another user's app" in self.drones["d1"].log(), 10,
                   what="the drone refusing the forged claim")
        self.assertNotIn("escaped its instance", self.drones["d1"].log(), "the daemon was tracked as webapp's")
        self.cli("stop", "evil", "master")
        wait_until(lambda: not pid_alive(pid), 10, what="evil's escaped daemon to be gone after `skyport stop evil`")


if __name__ == "__main__":
    unittest.main()
