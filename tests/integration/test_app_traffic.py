"""Issue 13, traffic goes only to the app: misbehaving apps and strangers on the drone's ports.

Each test brings its own small app in the test's repository: squatters on the registry's port
range, a commit that binds and dies 200 ms later, an app deployed with no live instance, an app
that never listens."""
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time

from harness import DeployTest, Router, free_range, wait_until
from test_drone_apps import drone_metric

HEALTHY = '''import http.server, os
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/crash":
            open("dead", "w").close()  # every later run dies at once: a crash loop
            os._exit(3)
        body = f"app {os.environ['SKYPORT_COMMIT'][:7]} {os.getpid()}\\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
if os.path.exists("dead"):
    raise SystemExit(1)
print("listening on", os.environ["PORT"], flush=True)
http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
'''

# Binds, answers the readiness probe, and exits 200 ms later.
CRASHY = '''import os, socket, time
s = socket.socket()
s.bind(("127.0.0.1", int(os.environ["PORT"])))
s.listen()
print("up, and about to die", flush=True)
time.sleep(0.2)
raise SystemExit(1)
'''

# Never listens.
DEAF = '''import time
print("hello from the deaf app", flush=True)
time.sleep(600)
'''

# A stranger on the drone's host: answers every request with "squatter".
SQUATTER = '''import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"squatter\\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
srv = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H)
print("ready", flush=True)
srv.serve_forever()
'''


def via_router(router, path="/", host="webapp.localhost"):
    conn = http.client.HTTPConnection("127.0.0.1", router.port, timeout=5)
    try:
        conn.request("GET", path, headers={"Host": host})
        r = conn.getresponse()
        return r.status, r.read().decode()
    finally:
        conn.close()


class AppTrafficTest(DeployTest):
    DRONES = ("d1",)

    def app_commit(self, source, message="app"):
        return self.commit({"app.py": source, "Procfile": "web: python3 app.py\n", "version.txt": message}, message)

    def start_router(self):
        r = Router(self.tmp, self.token_file, registry=self.registry).start()
        self.addCleanup(r.kill)
        return r


RANGE_BASE = free_range(8)


class SquattersTest(AppTrafficTest):
    # Eight ports for the whole cluster, five of them held by strangers before any deploy.
    REGISTRY_EXTRA = ("--port-range", f"{RANGE_BASE}-{RANGE_BASE + 7}")
    DRONE_EXTRA = ("--metrics-listen", "127.0.0.1:0")

    def test_squatters_on_the_port_range_never_get_traffic(self):
        squatted = [RANGE_BASE + i for i in (0, 1, 2, 4, 6)]
        for port in squatted:
            p = subprocess.Popen([sys.executable, "-c", SQUATTER, str(port)], stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, text=True)
            self.procs.append(p)
            self.assertEqual(p.stdout.readline().strip(), "ready")
        router = self.start_router()
        commits = []
        for i in range(3):
            c = self.app_commit(HEALTHY, f"v{i}")
            self.push()
            r = self.cli("deploy", "webapp", c[:10], timeout=60)
            self.assertIn("registered", r.stdout)
            commits.append(c)
        ports = {e["port"] for roles in self.show("webapp").values() for e in roles.get("web", [])}
        self.assertEqual(ports, {RANGE_BASE + i for i in (3, 5, 7)})
        # Every request through the router is answered by the app (the newest commit), none by a squatter.
        wait_until(lambda: via_router(router)[1].startswith(f"app {commits[-1][:7]} "), 10, what="newest routed")
        for _ in range(60):
            status, body = via_router(router)
            self.assertEqual(status, 200, body)
            self.assertTrue(body.startswith(f"app {commits[-1][:7]} "), body)
        # A fourth deploy finds only squatted ports: it fails saying so, and the drone logged each clash.
        c = self.app_commit(HEALTHY, "v3")
        self.push()
        r = self.cli("deploy", "webapp", c[:10], check=False, timeout=60)
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertIn("taken outside the cluster", r.stderr)
        self.assertIn("port clash", self.drones["d1"].log())
        # ... and counted: the fourth deploy alone was handed each of the five squatted ports.
        self.assertGreaterEqual(drone_metric(self.drones["d1"], "skyport_drone_port_clashes_total"), 5)
        self.assertEqual(via_router(router)[0], 200)


class CrashLoopTest(AppTrafficTest):
    DRONE_EXTRA = ("--min-uptime-ms", "1500")

    def test_crash_looping_newest_commit_takes_no_traffic(self):
        a = self.app_commit(HEALTHY, "healthy")
        self.push()
        self.cli("deploy", "webapp", a[:10], timeout=60)
        router = self.start_router()
        wait_until(lambda: via_router(router)[0] == 200, 10, what="A routed")

        answers, stop = [], threading.Event()

        def load():
            while not stop.is_set():
                try:
                    answers.append(via_router(router))
                except OSError as e:
                    answers.append((0, str(e)))
                time.sleep(0.01)

        t = threading.Thread(target=load)
        t.start()
        try:
            b = self.app_commit(CRASHY, "crashy")
            self.push()
            r = self.cli("deploy", "webapp", b[:10], check=False, timeout=60)
            time.sleep(0.5)  # load keeps running a moment past the failed deploy
        finally:
            stop.set()
            t.join()
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertRegex(r.stderr, r"exited with code 1 after (\d+ms|\d+\.\ds)")  # ms, or s from 1 s on (a loaded machine)
        self.assertGreater(len(answers), 20)
        bad = [x for x in answers if x[0] != 200 or not x[1].startswith(f"app {a[:7]} ")]
        self.assertEqual(bad, [], f"{len(bad)} of {len(answers)} requests not answered by A")
        self.assertEqual(set(self.show("webapp")), {a})


class NoLiveInstanceTest(AppTrafficTest):
    DRONE_EXTRA = ("--min-uptime-ms", "300")

    def test_deployed_app_without_a_live_instance_is_503(self):
        a = self.app_commit(HEALTHY)
        self.push()
        self.cli("deploy", "webapp", a[:10], timeout=60)
        router = self.start_router()
        wait_until(lambda: via_router(router)[0] == 200, 10, what="routed")
        try:
            via_router(router, "/crash")
        except (OSError, http.client.HTTPException):
            pass  # the app dies with the connection
        status, body = wait_until(lambda: (lambda r: r if r[0] != 200 and r[0] != 502 else None)(via_router(router)),
                                  10, what="a non-200 answer")
        self.assertEqual(status, 503, body)
        self.assertIn('"webapp"', body)
        self.assertIn("no live instance", body)
        # The unknown app is still a 404.
        self.assertEqual(via_router(router, host="nosuch.localhost")[0], 404)


class ReadinessFailureTest(AppTrafficTest):
    DRONE_EXTRA = ("--ready-timeout", "2")

    def test_failure_names_port_and_probe_error_and_logs_stay(self):
        c = self.app_commit(DEAF)
        self.push()
        r = self.cli("deploy", "webapp", c[:10], check=False, timeout=60)
        self.assertNotEqual(r.returncode, 0)
        out = r.stdout + r.stderr
        self.assertRegex(out, r"not ready on port \d+ after 2s")
        self.assertIn("Connection refused", out)
        # One `failed` progress line (DRONE COMMIT STAGE MESSAGE), not one from the drone and one from the hub.
        self.assertEqual(len(re.findall(r"^\S+\s+\S+\s+failed\s", r.stdout, re.M)), 1, r.stdout)
        logs = self.cli("logs", "webapp", c[:10]).stdout
        self.assertIn("hello from the deaf app", logs)
