"""Deploy options end to end: fixed drone command, worker roles, health paths,
instances, env, follow logs, targeting by label and count."""
import json
import os
import sys
import urllib.request

from harness import DeployTest, Drone, wait_until

ECHO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "echo_server.py")

APP = '''import http.server, os
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/crash":
            os._exit(5)
        body = f"{os.environ['GREETING']} {os.environ['SKYPORT_INSTANCE']}\\n".encode()
        self.send_response(200 if self.path in ("/", "/healthz") else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
print("web up", os.environ["SKYPORT_INSTANCE"], flush=True)
http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
'''
WORKER = 'import time\nprint("working", flush=True)\ntime.sleep(1000)\n'


def get(port, path="/"):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
        return r.read().decode().strip()


class FixedCommandTest(DeployTest):
    DRONES = ("d1",)

    def setUp(self):
        super().setUp()
        # Replace d1 by a drone that runs one fixed command, as propagit drones did.
        self.drones["d1"].kill()
        self.drones["d1"] = Drone(self.tmp, self.token_file, "d1", self.hub, self.registry,
                                  extra=["--role", "http", "--", sys.executable, ECHO]).start()
        wait_until(lambda: self.connected_drones() == {"d1"}, 15, what="fixed-command drone attached")

    def test_fixed_command_ignores_the_procfile(self):
        a = self.commit({"README": "no Procfile here\n"})
        self.push()
        self.cli("deploy", "webapp", "master")
        table = self.show("webapp")
        [entry] = table[a]["http"]
        self.assertEqual(get(entry["port"]), f"port {entry['port']}")


class RoleOptionsTest(DeployTest):
    DRONES = ("d1",)

    def test_workers_health_instances_env_and_follow_logs(self):
        a = self.commit({
            "app.py": APP, "worker.py": WORKER,
            "Procfile": "web: python3 app.py\nworker: python3 worker.py\n",
            "skyport.json": json.dumps({"roles": {"worker": {"port": False}, "web": {"health": "/healthz"}}}),
        })
        self.push()
        self.cli("deploy", "webapp", "master", "--instances", "2", "--env", "GREETING=hello")
        table = self.show("webapp")
        self.assertEqual(set(table[a]), {"web"})  # workers are never registered
        ports = sorted(e["port"] for e in table[a]["web"])
        self.assertEqual(len(ports), 2)
        self.assertEqual(sorted(get(p) for p in ports), ["hello 0", "hello 1"])
        ps = json.loads(self.cli("ps", "--json").stdout)
        self.assertEqual(sorted((p["role"], p["instance"], p["state"]) for p in ps),
                         [("web", 0, "running"), ("web", 1, "running"),
                          ("worker", 0, "running"), ("worker", 1, "running")])
        self.assertIn("working", self.cli("logs", "webapp", "--role", "worker").stdout)

        follow = self.spawn("logs", "webapp", "--role", "web", "-f")
        # Tail first: both instances said hello at start.
        seen = []
        wait_until(lambda: seen.append(follow.stdout.readline()) or sum("web up" in l for l in seen) >= 2, 10,
                   what="tail lines")
        try:
            get(ports[0], "/crash")
        except Exception:  # noqa: BLE001 - the process dies mid-request
            pass
        # The restarted instance's start-up line arrives on the follow stream.
        wait_until(lambda: seen.append(follow.stdout.readline()) or sum("web up" in l for l in seen) >= 3, 15,
                   what="followed line after restart")


class TargetingTest(DeployTest):
    DRONES = ("d1", "d2", "d3")

    def setUp(self):
        super().setUp()
        self.drones["d3"].kill()
        self.drones["d3"] = Drone(self.tmp, self.token_file, "d3", self.hub, self.registry,
                                  extra=["--label", "zone=b"]).start()
        wait_until(lambda: self.connected_drones() == {"d1", "d2", "d3"}, 15, what="drones attached")

    def test_labels_count_and_names(self):
        a = self.commit({"app.py": APP, "Procfile": "web: python3 app.py\n"})
        self.push()
        self.cli("deploy", "webapp", "master", "--label", "zone=b", "--env", "GREETING=x")
        drones = {p["drone"] for p in json.loads(self.cli("ps", "--json").stdout)}
        self.assertEqual(drones, {"d3"})
        self.cli("deploy", "webapp", "master", "--count", "1", "--env", "GREETING=x")
        drones = sorted(p["drone"] for p in json.loads(self.cli("ps", "--json").stdout))
        self.assertEqual(len(drones), 2)  # d3 plus the least loaded of the others
        r = self.cli("deploy", "webapp", "master", "--drones", "nope", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("nope", r.stderr)
        r = self.cli("deploy", "webapp", "master", "--label", "zone=mars", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(len(self.show("webapp")[a]["web"]), 2)
