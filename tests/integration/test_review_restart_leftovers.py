"""Hostile-app review (issue 13): nothing outlives a drone restart.

The drone records each instance's leader (pid, start time) and group. After
a crash it stops a left-over group only if the leader is still the same
process (drone/state_file.cc StopLeftovers). An app whose leader exits when
the drone dies (it watches getppid(), as PR_SET_PDEATHSIG would) leaves its
worker - same process group, never escaped - running for good: the restarted
drone says "pid N is gone (or reused); nothing to stop". Likewise a daemon
the app double-forks (setsid) only once the drone is dead was never adopted,
so it is not in the state file either.
"""
import os
import signal
import unittest

from harness import DeployTest, pid_alive, wait_until, http_app

APP = http_app(r'''import http.server, os, threading, time
beat = os.environ["BEAT_FILE"]
if os.fork() == 0:
    with open(beat + ".tmp", "w") as f:
        f.write(str(os.getpid()))
    os.replace(beat + ".tmp", beat)
    while True:
        time.sleep(0.05)
parent = os.getppid()
def watch():
    while os.getppid() == parent:
        time.sleep(0.02)
    os._exit(0)
threading.Thread(target=watch, daemon=True).start()
''')

# When the drone dies: daemonizes (fork, setsid, fork) and the leader exits.
ESCAPE_LATER_APP = http_app(r'''import http.server, os, threading, time
beat = os.environ["BEAT_FILE"]
parent = os.getppid()
def watch():
    while os.getppid() == parent:
        time.sleep(0.02)
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            with open(beat + ".tmp", "w") as f:
                f.write(str(os.getpid()))
            os.replace(beat + ".tmp", beat)
            while True:
                time.sleep(0.05)
        os._exit(0)
    os._exit(0)
threading.Thread(target=watch, daemon=True).start()
''')


class LeaderGoneLeftoversTest(DeployTest):
    DRONES = ("d1",)
    DRONE_EXTRA = ("--cgroups", "off")

    def test_a_restarted_drone_stops_the_group_of_a_leader_that_exited_meanwhile(self):
        beat = os.path.join(self.tmp, "beat")
        self.commit({"app.py": APP, "Procfile": "web: exec python3 app.py\n"})
        self.push()
        self.cli("deploy", "webapp", "master", "--env", f"BEAT_FILE={beat}", timeout=60)
        worker = int(wait_until(lambda: open(beat).read().strip(), 10, what="worker pid"))

        def kill():
            if pid_alive(worker):
                os.kill(worker, signal.SIGKILL)
        self.addCleanup(kill)
        leader = int(open(f"/proc/{worker}/stat").read().split(") ", 1)[1].split()[1])
        d = self.drones["d1"]
        d.kill(signal.SIGKILL)
        wait_until(lambda: not pid_alive(leader), 10, what="the leader to exit with the drone")
        self.assertTrue(pid_alive(worker))
        d.start()
        wait_until(lambda: not pid_alive(worker), 15, what="the worker of the old group to be gone after the restart")

    def test_a_restarted_drone_stops_a_daemon_that_escaped_while_it_was_down(self):
        beat = os.path.join(self.tmp, "beat")
        self.commit({"app.py": ESCAPE_LATER_APP, "Procfile": "web: exec python3 app.py\n"})
        self.push()
        self.cli("deploy", "webapp", "master", "--env", f"BEAT_FILE={beat}", timeout=60)
        d = self.drones["d1"]
        d.kill(signal.SIGKILL)
        daemon = int(wait_until(lambda: open(beat).read().strip(), 10, what="daemon pid"))

        def kill():
            if pid_alive(daemon):
                os.kill(daemon, signal.SIGKILL)
        self.addCleanup(kill)
        d.start()
        wait_until(lambda: not pid_alive(daemon), 15, what="the daemon that escaped meanwhile to be gone after the restart")


if __name__ == "__main__":
    unittest.main()
