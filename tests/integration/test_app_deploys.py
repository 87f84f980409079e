"""Issue 13: one deadline for the whole deploy, `stop` aborts a release, and a paused
`skyport logs -f` cannot grow the hub. Each test brings its own misbehaving app."""
import json
import os
import shutil
import signal
import subprocess
import threading
import time
import urllib.request

from harness import DeployTest, binary, wait_until

APP = '''import http.server, os, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path.startswith("/burst/"):
            n = int(self.path.split("/")[2])
            line = "x" * 990 + "\\n"
            for i in range(n // 100):
                sys.stdout.write(f"{i:08d} " + line * 100)
            sys.stdout.flush()
        body = b"ok\\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
print("listening", flush=True)
http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
'''


def release_pids(marker):
    """Pids of processes whose command line holds `marker` (the test's own release step)."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                if marker.encode() in f.read():
                    out.append(int(entry))
        except OSError:
            continue
    return out


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class DeployDeadlineTest(DeployTest):
    DRONES = ("d1",)

    def slow_release_commit(self, marker):
        # The marker makes the release's shell findable in /proc (a list: the shell does not exec
        # `sleep` away), and unique to this test.
        return self.commit({"app.py": APP, "Procfile": f"release: sleep 30; echo {marker}\nweb: python3 app.py\n"},
                           marker)

    def test_release_past_the_deadline_fails_and_never_starts(self):
        marker = f"skyport-it-{os.getpid()}-deadline"
        c = self.slow_release_commit(marker)
        self.push()
        t0 = time.monotonic()
        r = self.cli("deploy", "webapp", c[:10], "--timeout", "3", check=False, timeout=30)
        took = time.monotonic() - t0
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertLess(took, 10)
        self.assertIn("deadline", r.stderr)
        # The release was killed with the deploy, and nothing starts later (polled past the old 20 s gap: 8 s here).
        wait_until(lambda: not release_pids(marker), 5, what="release step killed")
        end = time.monotonic() + 8
        while time.monotonic() < end:
            self.assertEqual(json.loads(self.cli("ps", "webapp", "--json").stdout), [])
            self.assertEqual(self.show("webapp"), {})
            time.sleep(0.5)
        self.assertFalse(os.path.exists(os.path.join(self.drones["d1"].data, "deploy", "webapp", c)))

    def test_stop_aborts_a_running_release_and_ps_shows_it(self):
        marker = f"skyport-it-{os.getpid()}-stop"
        c = self.slow_release_commit(marker)
        self.push()
        deploy = subprocess.Popen([binary("skyport"), "deploy", "webapp", c[:10], "--timeout", "60"],
                                  env=self.env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        self.procs.append(deploy)
        wait_until(lambda: release_pids(marker), 15, what="release running")
        ps = wait_until(lambda: [p for p in json.loads(self.cli("ps", "webapp", "--json").stdout)
                                 if p["state"] == "release"], 10, what="ps shows the release")
        self.assertEqual(ps[0]["commit"], c)
        self.assertIn(ps[0]["pid"], release_pids(marker))
        t0 = time.monotonic()
        r = self.cli("stop", "webapp", c[:10], check=False, timeout=30)
        self.assertLess(time.monotonic() - t0, 10)
        self.assertEqual(r.returncode, 0, r.stderr)
        wait_until(lambda: not release_pids(marker), 5, what="release step killed")
        self.assertNotEqual(deploy.wait(timeout=15), 0)
        self.assertIn("stopped during the release", deploy.stderr.read())
        self.assertEqual(json.loads(self.cli("ps", "webapp", "--json").stdout), [])


class ReconcileDeadlineTest(DeployTest):
    """The deploys the hub sends a re-attached drone (reconcile) carry the hub's --deploy-timeout
    too: a release that hangs on the restarted drone is killed then, not 10 minutes later."""
    DRONES = ("d1",)
    HUB_EXTRA = ("--deploy-timeout", "4")

    def test_a_hung_release_during_reconcile_is_killed_at_the_hubs_deadline(self):
        marker = f"skyport-it-{os.getpid()}-reconcile"
        hang = os.path.join(self.tmp, "hang")
        c = self.commit({"app.py": APP,
                         "Procfile": f"release: if [ -e {hang} ]; then sleep 60; echo {marker}; fi\n"
                                     "web: python3 app.py\n"}, marker)
        self.push()
        self.cli("deploy", "webapp", c[:10], timeout=60)
        # The drone dies and loses its checkout (a new disk, say); its next run gets the deploy again
        # from the hub, checks the commit out afresh, and now the release hangs.
        self.drones["d1"].kill(signal.SIGKILL)
        shutil.rmtree(os.path.join(self.drones["d1"].data, "deploy", "webapp", c))
        open(hang, "w").close()
        self.drones["d1"].start()
        wait_until(lambda: release_pids(marker), 20, what="the reconcile's release running")
        t0 = time.monotonic()
        wait_until(lambda: not release_pids(marker), 15, what="the hung release killed at the hub's deadline")
        self.assertLess(time.monotonic() - t0, 10)
        wait_until(lambda: "deadline" in self.drones["d1"].log(), 10, what="the drone reporting the deadline")


class LogsFollowerBoundTest(DeployTest):
    DRONES = ("d1",)
    HUB_EXTRA = ("--logs-follower-max-kb", "256", "--metrics-listen", "127.0.0.1:0")

    def test_paused_follower_does_not_grow_the_hub_and_sees_the_skipped_marker(self):
        self.commit({"app.py": APP, "Procfile": "web: python3 app.py\n"})
        self.push()
        self.cli("deploy", "webapp", "master", timeout=60)
        [(_, roles)] = self.show("webapp").items()
        port = roles["web"][0]["port"]
        follower = subprocess.Popen([binary("skyport"), "logs", "-f", "webapp"], env=self.env(),
                                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.procs.append(follower)
        wait_until(lambda: self.hub.metric("skyport_hub_logs_followers") == 1, 10, what="follower attached")
        hub_pid = self.hub.proc.pid
        before = rss_kb(hub_pid)
        # 60 MB of log lines while the follower reads nothing.
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/burst/60000", timeout=60) as r:
            r.read()
        # The drone has sent it all once the hub's RSS and skipped count stop moving (2 s).
        seen = []

        def settled():
            seen.append((rss_kb(hub_pid) // 1024, self.hub.metric("skyport_hub_logs_lines_skipped_total")))
            return len(seen) >= 3 and seen[-1] == seen[-2] == seen[-3]
        wait_until(settled, 90, interval=1.0, what="burst delivered")
        grown_mb = (rss_kb(hub_pid) - before) / 1024
        self.assertLess(grown_mb, 30, f"hub grew by {grown_mb:.0f} MB")
        self.assertGreater(self.hub.metric("skyport_hub_logs_lines_skipped_total"), 1000)

        # Resumed: the follower sees what was queued, then the marker.
        seen, marker = [], threading.Event()

        def read():  # to the end, so the follower never blocks on its stdout
            for raw in follower.stdout:
                if b"lines skipped" in raw:
                    seen.append(raw.decode(errors="replace"))
                    marker.set()
        t = threading.Thread(target=read, daemon=True)
        t.start()
        self.assertTrue(marker.wait(30), "the resumed follower saw no marker")
        self.assertRegex(seen[0], r"-- \d+ lines skipped")
        follower.send_signal(signal.SIGINT)
        follower.wait(timeout=10)
        wait_until(lambda: self.hub.metric("skyport_hub_logs_followers") == 0, 10, what="follower gone")
