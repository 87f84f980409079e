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

from harness import DeployTest, pid_alive, wait_until

SERVER = r'''import http.server, os
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *a):
        pass
'''

VICTIM_APP = SERVER + r'''
http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
'''

# Double-forks a daemon whose environment names it webapp's instance 0.
EVIL_APP = SERVER + r'''
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
http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
'''


class ForgedIdentityEscapeTest(DeployTest):
    DRONES = ("d1",)
    DRONE_EXTRA = ("--cgroups", "off")

    def test_stop_stops_a_daemon_that_names_itself_as_another_apps_instance(self):
        victim = self.commit({"app.py": VICTIM_APP, "Procfile": "web: python3 app.py\n"})
        self.push("webapp")
        self.cli("deploy", "webapp", "master", timeout=60)
        beat = os.path.join(self.tmp, "beat")
        self.commit({"app.py": EVIL_APP})
        self.push("evil")
        self.cli("deploy", "evil", "master", "--env", f"BEAT_FILE={beat}", "--env", f"VICTIM_COMMIT={victim}",
                 timeout=60)
        pid = int(wait_until(lambda: open(beat).read().strip(), 10, what="daemon pid"))

        def kill():
            if pid_alive(pid):
                os.kill(pid, signal.SIGKILL)
        self.addCleanup(kill)
        # Let the drone adopt it (the orphan scan runs every second or so).
        wait_until(lambda: "escaped its instance" in self.drones["d1"].log(), 10, what="the drone adopting it")
        self.cli("stop", "evil", "master")
        wait_until(lambda: not pid_alive(pid), 10, what="evil's escaped daemon to be gone after `skyport stop evil`")


if __name__ == "__main__":
    unittest.main()
