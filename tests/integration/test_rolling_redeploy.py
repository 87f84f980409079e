"""Rolling redeploys under load: 50 deploy-then-stop cycles between two commits
of an app on two drones, while wrk keeps requests going through a router in
registry mode, and every fifth cycle one drone is killed with SIGKILL and
restarted. The promise under test: not one request fails (no non-2xx answer, no
socket error, no timeout), and after every cycle the router serves only the
commit just deployed.

All on 127.0.0.1, with the real registry, hub, drones, router and wrk. This is a
correctness test (zero failures), not a benchmark: no rate is asserted.
"""
import os
import re
import shutil
import signal
import subprocess
import unittest

from harness import DeployTest, Drone, Router, wait_until
from test_router import get

CYCLES = int(os.environ.get("SKYPORT_ROLLING_CYCLES", "50"))
KILL_EVERY = 5
HOST = "webapp.localhost"

# HTTP/1.1 with keep-alive, so the router pools connections to the instances:
# a stop must not leave a pooled connection pointing at a dying process.
APP = '''import http.server, os, signal, sys
COMMIT = os.environ["SKYPORT_COMMIT"]

class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        body = f"{COMMIT} {os.environ['SKYPORT_DRONE']}\\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass

class S(http.server.ThreadingHTTPServer):
    daemon_threads = True

server = S(("127.0.0.1", int(os.environ["PORT"])), H)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
server.serve_forever()
'''


# Each failed answer is written out with its status and body, so a failure names what went wrong.
WRK_SCRIPT = '''
response = function(status, headers, body)
  if status >= 300 then
    io.write("bad answer: " .. status .. " " .. string.sub(body or "", 1, 200) .. "\\n")
  end
end
'''


def wrk_summary(text):
    """(requests, non-2xx/3xx count, {connect, read, write, timeout}) from wrk's output."""
    m = re.search(r"(\d+) requests in", text)
    requests = int(m.group(1)) if m else 0
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    bad = int(m.group(1)) if m else 0
    errors = {"connect": 0, "read": 0, "write": 0, "timeout": 0}
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        errors = dict(zip(errors, map(int, m.groups())))
    return requests, bad, errors


@unittest.skipUnless(shutil.which("wrk"), "wrk is not installed (scripts/setup.sh installs it)")
class RollingRedeployTest(DeployTest):
    def setUp(self):
        super().setUp()
        self.router = Router(self.tmp, self.token_file, registry=self.registry,
                             extra=["--new-users-address-burst", "1000000000",
                                    "--new-users-address-rate", "1000000000"]).start()
        self.addCleanup(self.router.kill)

    def served_commits(self, n=8):
        seen = set()
        for _ in range(n):
            status, h, _ = get(self.router.port, host=HOST)
            if status != 200:
                return {f"status {status}"}
            seen.add(h.get("x-skyport-commit", "?"))
        return seen

    def deploy(self, commit):
        r = self.cli("deploy", "webapp", commit, check=False, timeout=60)
        self.assertEqual(r.returncode, 0, f"deploy {commit[:12]}: {r.stdout}{r.stderr}")

    def stop(self, commit):
        r = self.cli("stop", "webapp", commit, check=False, timeout=60)
        self.assertEqual(r.returncode, 0, f"stop {commit[:12]}: {r.stdout}{r.stderr}")

    def restart_drone(self, name):
        old = self.drones[name]
        old.kill(signal.SIGKILL)
        self.drones[name] = Drone(self.tmp, self.token_file, name, self.hub, self.registry,
                                  extra=old.extra).start()
        wait_until(lambda: self.connected_drones() == set(self.DRONES), 20, what=f"{name} attached again")

    def test_fifty_redeploys_under_wrk_with_drone_kills(self):
        self.commit({"app.py": APP, "Procfile": "web: python3 app.py\n", "v.txt": "a\n"}, "a")
        a = self.git("rev-parse", "HEAD").stdout.strip()
        self.commit({"v.txt": "b\n"}, "b")
        b = self.git("rev-parse", "HEAD").stdout.strip()
        self.push()
        self.deploy(a)
        wait_until(lambda: self.served_commits() == {a}, 15, what="the router serving A")

        wrk_out = os.path.join(self.tmp, "wrk.out")
        script = os.path.join(self.tmp, "report.lua")
        with open(script, "w") as f:
            f.write(WRK_SCRIPT)
        with open(wrk_out, "w") as out:
            wrk = subprocess.Popen(["wrk", "-t1", "-c8", "-d3600s", "--timeout", "5s", "-s", script, "-H", f"Host: {HOST}",
                                    f"http://127.0.0.1:{self.router.port}/"],
                                   stdout=out, stderr=subprocess.STDOUT)
        self.addCleanup(lambda: wrk.poll() is None and wrk.kill())

        current, kills = a, 0
        for i in range(1, CYCLES + 1):
            new = b if current == a else a
            self.deploy(new)
            self.stop(current)
            wait_until(lambda: self.served_commits() == {new}, 15,
                       what=f"cycle {i}: the router serving only {new[:12]}")
            current = new
            if i % KILL_EVERY == 0:
                self.restart_drone(self.DRONES[kills % len(self.DRONES)])
                kills += 1
                # The restarted drone converges on what the hub wants (the current commit) on its own.
                wait_until(lambda: self.served_commits() == {current}, 15,
                           what=f"cycle {i}: still serving {current[:12]} after the drone restart")

        wrk.send_signal(signal.SIGINT)
        wrk.wait(timeout=20)
        with open(wrk_out) as f:
            text = f.read()
        requests, bad, errors = wrk_summary(text)
        print(f"\n{CYCLES} redeploys, {kills} drone kills: {requests} requests, {bad} non-2xx, errors {errors}")
        self.assertGreater(requests, CYCLES * 10, text)
        if bad:
            print(self.router.log()[-4000:])
        self.assertEqual(bad, 0, f"non-2xx answers during the redeploys:\n{text}")
        self.assertEqual(errors, {"connect": 0, "read": 0, "write": 0, "timeout": 0},
                         f"socket errors during the redeploys:\n{text}")


if __name__ == "__main__":
    unittest.main()
