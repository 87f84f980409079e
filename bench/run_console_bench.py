#!/usr/bin/env python3
"""The console's server side (issue 17, "Performance"): how long the API takes to answer
the overview and app pages with 50 apps, 500 instances and 3 flights, and what open,
polling consoles cost a deploy and a push.

One hub (SQLite store, --console-listen on loopback) and its registry from the test
harness; APPS apps pushed (two commits each); DRONES fake drones (bench/fleet_bench, which
answers deploys as a drone does without starting anything, so 500 instances cost no
processes) held attached while every app is deployed to all of them; FLIGHTS flights started
(a weight step, then a long wait). Then, past the console's 500 ms cache each time (so every
call asks the hub, the registry and the routers as the CLI would): SAMPLES GETs of each data
route, p50 / p90 / max in ms and the answer's size. Last, DEPLOYS deploys (alternating the two
commits of one app) and as many `git push`es, first with no console, then with CLIENTS
consoles open: each a live-update stream plus the overview and app pages fetched every second
(what an open page does when the state keeps changing).

Usage: BUILD=/work/build python3 bench/run_console_bench.py
  (needs skyport-registry, skyport-hub, skyport, fleet_bench in BUILD; git)
Knobs (env): APPS=50 DRONES=10 FLIGHTS=3 SAMPLES=20 DEPLOYS=5 CLIENTS=8 OUT=<json file>
"""
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import tempfile
import time

import bench_env as env
from bench_env import harness

APPS = int(os.environ.get("APPS", "50"))
DRONES = int(os.environ.get("DRONES", "10"))
FLIGHTS = int(os.environ.get("FLIGHTS", "3"))
SAMPLES = int(os.environ.get("SAMPLES", "20"))
DEPLOYS = int(os.environ.get("DEPLOYS", "5"))
CLIENTS = int(os.environ.get("CLIENTS", "8"))
OUT = os.environ.get("OUT", "")


class Console:
    def __init__(self, port, token):
        self.port = port
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("POST", "/api/login", json.dumps({"token": token}), {"Content-Type": "application/json"})
        r = conn.getresponse()
        assert r.status == 200, r.read()
        self.cookie = r.getheader("Set-Cookie").split(";", 1)[0]
        r.read()
        conn.close()

    def get(self, path):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request("GET", path, headers={"Cookie": self.cookie})
            r = conn.getresponse()
            body = r.read()
            return r.status, body
        finally:
            conn.close()


def percentiles(ms):
    ms = sorted(ms)
    return {"p50": round(statistics.median(ms), 1), "p90": round(ms[int(0.9 * (len(ms) - 1))], 1),
            "max": round(ms[-1], 1)}


def main():
    holder = tempfile.TemporaryDirectory(prefix="skyport-console-bench-")
    tmp = holder.name
    token_file = os.path.join(tmp, "token")
    secret = os.urandom(16).hex()
    with open(token_file, "w") as f:
        f.write(secret + "\n")
    os.chmod(token_file, 0o600)
    registry = harness.Registry(tmp, token_file).start()
    hub = harness.Hub(tmp, token_file, registry, extra=["--console-listen", "127.0.0.1:0", "--deploy-timeout", "60"])
    hub.start()
    started = []
    result = {"apps": APPS, "drones": DRONES, "flights": FLIGHTS, "machine": env.machine_facts()}
    try:
        cli_env = {k: v for k, v in os.environ.items() if not k.startswith("SKYPORT_")}
        cli_env.update(SKYPORT_REGISTRY=registry.address(), SKYPORT_HUB=hub.address(), SKYPORT_TOKEN_FILE=token_file,
                       HOME=tmp)

        def cli(*args):
            r = subprocess.run([env.tool("skyport"), *args], capture_output=True, text=True, env=cli_env, timeout=120)
            if r.returncode != 0:
                raise RuntimeError(f"skyport {' '.join(args)}: {r.stderr}")
            return r.stdout

        work = os.path.join(tmp, "work")
        os.makedirs(work)
        git_env = {"HOME": tmp, "PATH": os.environ["PATH"], "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@x",
                   "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@x"}

        def git(*args):
            return subprocess.run(["git", *args], cwd=work, check=True, capture_output=True, text=True,
                                  env=git_env).stdout.strip()
        git("init", "-q", "-b", "master")
        commits = []
        for i in range(2):
            with open(os.path.join(work, "Procfile"), "w") as f:
                f.write(f"web: python3 -m http.server $PORT  # {i}\n")
            git("add", "-A")
            git("commit", "-q", "-m", f"c{i}")
            commits.append(git("rev-parse", "HEAD"))
        apps = [f"app{i:02d}" for i in range(APPS)]
        for a in apps:
            git("push", "-q", hub.git_url(a, secret), "master")

        stop_file = os.path.join(tmp, "fleet.stop")
        fleet = subprocess.Popen([env.tool("fleet_bench"), "--hub", hub.address(), "--token-file", token_file,
                                  "--drones", str(DRONES), "--prefix", "fake", "--cli", env.tool("skyport"),
                                  "--app", apps[0], "--commit", commits[0], "--hold", "3600",
                                  "--hold-until-file", stop_file],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env)
        started.append(fleet)
        first = json.loads(fleet.stdout.readline())
        assert "error" not in first, first
        t = time.monotonic()
        for a in apps[1:]:
            cli("deploy", a, commits[0])
        result["deploy_all_s"] = round(time.monotonic() - t, 2)
        ps = json.loads(cli("ps", "--json"))
        result["instances"] = len(ps)

        flights_started = 0
        for i in range(FLIGHTS):
            spec = {"name": f"f{i}", "app": apps[i], "version": 1,
                    "arms": {"control": commits[0], "treatment": commits[1]}, "control": "control",
                    "flightplan": [{"action": "weight", "arms": {"treatment": 10}}, {"action": "wait", "for": "1h"}]}
            path = os.path.join(tmp, f"f{i}.json")
            with open(path, "w") as f:
                json.dump(spec, f)
            try:
                cli("flight", "start", path)
                flights_started += 1
            except RuntimeError as e:
                result.setdefault("flight_errors", []).append(str(e)[:300])
        result["flights_started"] = flights_started

        console = Console(hub.console_port(), secret)
        routes = ["/api/overview", f"/api/apps/{apps[7]}", "/api/flights", "/api/flights/f0", "/api/drones",
                  "/api/registry", f"/api/apps/{apps[0]}/stats?bucket=day"]
        latency = {}
        for path in routes:
            ms, size = [], 0
            for _ in range(SAMPLES):
                time.sleep(0.55)  # past the 500 ms cache
                t = time.monotonic()
                status, body = console.get(path)
                ms.append((time.monotonic() - t) * 1000)
                size = len(body)
                if status != 200:
                    raise RuntimeError(f"{path}: {status} {body[:300]}")
            latency[path] = {**percentiles(ms), "bytes": size}
            print(f"{path:40s} p50 {latency[path]['p50']:7.1f} ms  p90 {latency[path]['p90']:7.1f} ms  "
                  f"max {latency[path]['max']:7.1f} ms  {size} bytes", flush=True)
        result["latency_ms"] = latency

        app = apps[-1]
        pushes = [0]

        def deploy_and_push():
            out = {"deploy": [], "push": []}
            for i in range(DEPLOYS):
                t = time.monotonic()
                cli("deploy", app, commits[i % 2])
                out["deploy"].append((time.monotonic() - t) * 1000)
                with open(os.path.join(work, "f.txt"), "w") as f:
                    f.write(str(time.monotonic_ns()))
                git("add", "-A")
                git("commit", "-q", "-m", "p")
                pushes[0] += 1
                t = time.monotonic()
                git("push", "-q", hub.git_url("pushed", secret), "master")
                out["push"].append((time.monotonic() - t) * 1000)
            return {k: percentiles(v) for k, v in out.items()}

        result["quiet"] = deploy_and_push()
        stop = threading.Event()

        def poll():
            c = Console(console.port, secret)
            while not stop.is_set():
                c.get("/api/overview")
                c.get(f"/api/apps/{app}")
                stop.wait(1.0)
        threads = [threading.Thread(target=poll) for _ in range(CLIENTS)]
        for th in threads:
            th.start()
        streams = []
        for _ in range(CLIENTS):
            s = socket.create_connection(("127.0.0.1", console.port))
            s.sendall(f"GET /api/events HTTP/1.1\r\nHost: 127.0.0.1:{console.port}\r\nCookie: {console.cookie}\r\n\r\n".encode())
            streams.append(s)
        time.sleep(1)
        result["with_consoles"] = deploy_and_push()
        stop.set()
        for th in threads:
            th.join()
        for s in streams:
            s.close()
        for k in ("quiet", "with_consoles"):
            print(f"{k:14s} deploy p50 {result[k]['deploy']['p50']:7.1f} ms max {result[k]['deploy']['max']:7.1f}   "
                  f"push p50 {result[k]['push']['p50']:7.1f} ms max {result[k]['push']['max']:7.1f}", flush=True)
        print(json.dumps(result))
        if OUT:
            with open(OUT, "w") as f:
                json.dump(result, f, indent=2)
    finally:
        with open(os.path.join(tmp, "fleet.stop"), "w"):
            pass
        for p in started:
            try:
                p.wait(timeout=40)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=10)
        hub.kill()
        registry.kill()
        holder.cleanup()


if __name__ == "__main__":
    sys.exit(main())
