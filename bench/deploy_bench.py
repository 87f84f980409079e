#!/usr/bin/env python3
"""deploy_bench.py: times "deploy COMMIT -> first HTTP 200" for Skyport and for
propagit + seaport, side by side, on clusters run_deploy_bench.sh has started.

Every round makes one new commit of the same trivial app, pushes it to both
hubs (not timed), lets the hubs settle, then for each system (order alternates
per round) starts the timer, starts the deploy command and probes every
instance port as soon as the system makes it known, every PROBE_MS:
  skyport:  `skyport --json deploy webapp C`; ports from its "starting on port N"
            lines (probing starts before the drone calls it ready).
  propagit: propagit_client.js deploy (Hub.deploy + Hub.spawn on every drone);
            ports from seaport: an observer connection sees the app's own
            registration (seaport 2: the app picks its port and registers it).
Records, per run, first-200 / all-200 / command exit (ms from the start) and
each stage's time, and prints one JSON line per run to --out. The previous
round's instances are stopped after each run (not timed).

Configuration comes from the environment the runner exports (see
run_deploy_bench.sh): SKYPORT_CLI, SKYPORT_HUB/_REGISTRY/_TOKEN_FILE,
SKYPORT_GIT_URL, PROPAGIT_HUB, PROPAGIT_SECRET, PROPAGIT_GIT_URL, SEAPORT_ADDR,
NODE_CMD (JSON list: node + shim), CLIENT_CMD_PREFIX (JSON list: taskset...).
"""
import argparse
import http.client
import json
import os
import re
import socket
import subprocess
import threading
import time

APP = r'''import http.server, json, os, random, socket, threading

# The same app for both systems. Skyport's drone hands it $PORT; under
# propagit + seaport there is no $PORT: like seed 003's web.js
# (seaport.register), the app picks a port and registers itself at $SEAPORT.
port = os.environ.get("PORT")
if port is None:
    port = 10000 + random.randrange(55000)
    host, sp = os.environ["SEAPORT"].rsplit(":", 1)
    sea = socket.create_connection((host, int(sp)))
    rid = os.urandom(8).hex()
    meta = {"role": "webapp", "version": "0.0.0", "commit": os.environ["COMMIT"],
            "host": "127.0.0.1", "port": port, "id": rid}
    sea.sendall((json.dumps(["register", rid, meta]) + "\n").encode())

    def heartbeat():
        while True:
            threading.Event().wait(15)
            sea.sendall(b'["heartbeat"]\n')
    threading.Thread(target=heartbeat, daemon=True).start()

BODY = open("greeting.txt", "rb").read()

class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, *a):
        pass

http.server.ThreadingHTTPServer(("127.0.0.1", int(port)), H).serve_forever()
'''

# The same app in node (APP_LANG=node): it starts in ~40 ms instead of
# Python's ~70-190 ms, so the deploy path itself shows.
APP_JS = r'''const http = require("http"), net = require("net"), fs = require("fs"), crypto = require("crypto");
let port = process.env.PORT;
if (port === undefined) {
  port = 10000 + Math.floor(Math.random() * 55000);
  const [host, sp] = process.env.SEAPORT.split(":");
  const sea = net.connect(Number(sp), host);
  const rid = crypto.randomBytes(8).toString("hex");
  const meta = {role: "webapp", version: "0.0.0", commit: process.env.COMMIT, host: "127.0.0.1", port: Number(port), id: rid};
  sea.write(JSON.stringify(["register", rid, meta]) + "\n");
  setInterval(() => sea.write('["heartbeat"]\n'), 15000);
}
const body = fs.readFileSync("greeting.txt");
http.createServer((req, res) => { res.writeHead(200, {"Content-Length": body.length}); res.end(body); })
  .listen(Number(port), "127.0.0.1");
'''
# APP_LANG=minimal: the most trivial app there is — a raw socket answering
# 200, on python3 -S (no site import), so start-up is a few ms and what is
# measured is the deploy path.
APP_MIN = r'''import json, os, random, socket
port = os.environ.get("PORT")
if port is None:
    port = 10000 + random.randrange(55000)
    host, sp = os.environ["SEAPORT"].rsplit(":", 1)
    sea = socket.create_connection((host, int(sp)))
    rid = os.urandom(8).hex()
    meta = {"role": "webapp", "version": "0.0.0", "commit": os.environ["COMMIT"],
            "host": "127.0.0.1", "port": int(port), "id": rid}
    sea.sendall((json.dumps(["register", rid, meta]) + "\n").encode())
body = open("greeting.txt", "rb").read()
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(port)))
s.listen(64)
while True:
    c, _ = s.accept()
    c.recv(65536)
    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body))
    c.close()
'''
APP_LANG = os.environ.get("APP_LANG", "python")
APP_FILE, APP_SRC, APP_CMD = {
    "node": ("app.js", APP_JS, ["node", "app.js"]),
    "minimal": ("app.py", APP_MIN, ["python3", "-S", "app.py"]),
}.get(APP_LANG, ("app.py", APP, ["python3", "app.py"]))

GIT_ENV = {"GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
           "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.com",
           "GIT_TERMINAL_PROMPT": "0"}


def ms_since(t0):
    return (time.monotonic() - t0) * 1000.0


class Prober:
    """Polls http://127.0.0.1:PORT/ every interval until a 200; records when (ms since t0)."""

    def __init__(self, t0, interval_s):
        self.t0, self.interval = t0, interval_s
        self.known = {}      # port -> ms when the port became known
        self.ok = {}         # port -> ms of the first 200
        self.attempts = {}
        self.errors = []
        self.lock = threading.Lock()
        self.cv = threading.Condition(self.lock)
        self.stop = False

    def add(self, port):
        with self.lock:
            if port in self.known:
                return
            self.known[port] = ms_since(self.t0)
        threading.Thread(target=self._poll, args=(port,), daemon=True).start()

    def _poll(self, port):
        n = 0
        while not self.stop:
            n += 1
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                c.request("GET", "/")
                status = c.getresponse().status
                c.close()
                if status == 200:
                    with self.cv:
                        self.ok[port] = ms_since(self.t0)
                        self.attempts[port] = n
                        self.cv.notify_all()
                    return
                self.errors.append(f"port {port}: HTTP {status}")
            except OSError:
                pass
            time.sleep(self.interval)

    def wait_all(self, count, deadline):
        with self.cv:
            while len(self.ok) < count and time.monotonic() < deadline:
                self.cv.wait(0.05)
            return len(self.ok) >= count


def git(work, *args):
    env = dict(os.environ, **GIT_ENV, HOME=work)
    r = subprocess.run(["git", *args], cwd=work, capture_output=True, text=True, env=env, timeout=300)
    if r.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)}: {r.stderr.strip()}")
    return r.stdout.strip()


def new_commit(work, n):
    if not os.path.exists(os.path.join(work, ".git")):
        git(work, "init", "-q", "-b", "master")
        with open(os.path.join(work, APP_FILE), "w") as f:
            f.write(APP_SRC)
        with open(os.path.join(work, "Procfile"), "w") as f:
            f.write(f"web: {' '.join(APP_CMD)}\n")
    with open(os.path.join(work, "greeting.txt"), "w") as f:
        f.write(f"hello from round {n}\n")
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", f"round {n}")
    return git(work, "rev-parse", "HEAD")


class SeaportObserver:
    """A raw seaport protocol connection; hands register rows (meta) to listeners."""

    def __init__(self, addr):
        host, port = addr.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)))
        self.listener = None
        self.lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._beat, daemon=True).start()

    def _beat(self):
        while True:
            time.sleep(10)
            try:
                self.sock.sendall(b'["heartbeat"]\n')
            except OSError:
                return

    def _read(self):
        buf = b""
        while True:
            d = self.sock.recv(65536)
            if not d:
                return
            buf += d
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                try:
                    row = json.loads(line)
                except ValueError:
                    continue
                if row and row[0] == "register":
                    with self.lock:
                        cb = self.listener
                    if cb:
                        cb(row[2])


def client_cmd(argv):
    return json.loads(os.environ.get("CLIENT_CMD_PREFIX", "[]")) + argv


def run_skyport(commit, drones, probe_ms, timeout_s):
    t0 = time.monotonic()
    wall0 = time.time() * 1000.0
    prober = Prober(t0, probe_ms / 1000.0)
    p = subprocess.Popen(client_cmd([os.environ["SKYPORT_CLI"], "--json", "deploy", "webapp", commit]),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    stages = {}  # stage -> {drone: ms since t0 (from the drone's unix_ms)}
    first_line = None
    ports = {}
    for line in p.stdout:
        if first_line is None:
            first_line = ms_since(t0)
        try:
            m = json.loads(line)
        except ValueError:
            continue
        stages.setdefault(m["stage"], {})[m.get("drone", "")] = m["unix_ms"] - wall0
        hit = re.search(r"starting on port (\d+)|registered on [^:]+:(\d+)", m.get("message", ""))
        if hit:
            port = int(hit.group(1) or hit.group(2))
            ports[m.get("drone", "")] = port
            prober.add(port)
    rc = p.wait()
    exit_ms = ms_since(t0)
    err = p.stderr.read().strip()
    ok = rc == 0 and prober.wait_all(drones, time.monotonic() + timeout_s)
    prober.stop = True
    r = result("skyport", commit, prober, exit_ms, ok, drones)
    r.update(first_output_ms=first_line, stages=stages, ports=ports)
    if rc != 0:
        r["error"] = f"deploy exited {rc}: {err[-400:]}"
    return r


def run_propagit(commit, drones, probe_ms, timeout_s, observer):
    t0 = time.monotonic()
    wall0 = time.time() * 1000.0
    prober = Prober(t0, probe_ms / 1000.0)
    registered = {}

    def on_register(meta):
        if meta.get("commit") == commit and "port" in meta:
            registered[meta["port"]] = ms_since(t0)
            prober.add(int(meta["port"]))
    with observer.lock:
        observer.listener = on_register
    cmd = json.loads(os.environ["NODE_CMD"]) + [
        os.environ["PROPAGIT_CLIENT"], "deploy", "--hub", os.environ["PROPAGIT_HUB"],
        "--secret", os.environ["PROPAGIT_SECRET"], "--repo", "webapp", "--commit", commit,
        "--seaport", os.environ["SEAPORT_ADDR"], "--", *APP_CMD]
    p = subprocess.Popen(client_cmd(cmd), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         stdin=subprocess.DEVNULL)
    stages, procs = {}, {}
    for line in p.stdout:
        try:
            m = json.loads(line)
        except ValueError:
            continue
        stages[m["stage"]] = {"": m["unix_ms"] - wall0}
        if m["stage"] == "spawned":
            procs = m.get("procs") or {}
    rc = p.wait()
    exit_ms = ms_since(t0)
    err = p.stderr.read().strip()
    ok = rc == 0 and prober.wait_all(drones, time.monotonic() + timeout_s)
    prober.stop = True
    with observer.lock:
        observer.listener = None
    r = result("propagit", commit, prober, exit_ms, ok, drones)
    stages["seaport-registered"] = {str(k): v for k, v in registered.items()}
    r.update(stages=stages, procs=procs)
    if rc != 0:
        r["error"] = f"client exited {rc}: {err[-400:]}"
    return r


def result(system, commit, prober, exit_ms, ok, drones):
    firsts = sorted(prober.ok.values())
    r = {"system": system, "commit": commit, "command_exit_ms": exit_ms,
         "first_200_ms": firsts[0] if firsts else None,
         "all_200_ms": firsts[-1] if len(firsts) >= drones else None,
         "port_known_ms": sorted(prober.known.values()), "ok_200": len(firsts),
         "probe_attempts": list(prober.attempts.values())}
    if not ok:
        r["error"] = f"only {len(firsts)}/{drones} instances answered 200"
    if prober.errors:
        r["http_errors"] = prober.errors[:5]
    return r


def stop_previous(system, prev):
    env = dict(os.environ)
    if system == "skyport":
        subprocess.run([os.environ["SKYPORT_CLI"], "stop", "webapp", prev["commit"]], capture_output=True,
                       env=env, timeout=60)
    elif prev.get("procs"):
        subprocess.run(json.loads(os.environ["NODE_CMD"]) + [
            os.environ["PROPAGIT_CLIENT"], "stop", "--hub", os.environ["PROPAGIT_HUB"], "--secret",
            os.environ["PROPAGIT_SECRET"], "--ids", json.dumps(prev["procs"])], capture_output=True, timeout=60)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", required=True)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--systems", default="skyport,propagit")
    ap.add_argument("--drones", type=int, default=2)
    ap.add_argument("--probe-ms", type=float, default=2.0)
    ap.add_argument("--settle-s", type=float, default=1.0)
    ap.add_argument("--timeout-s", type=float, default=30.0)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    systems = a.systems.split(",")
    os.makedirs(a.work, exist_ok=True)
    observer = SeaportObserver(os.environ["SEAPORT_ADDR"]) if "propagit" in systems else None
    urls = {"skyport": os.environ.get("SKYPORT_GIT_URL"), "propagit": os.environ.get("PROPAGIT_GIT_URL")}
    prev = {}
    with open(a.out, "a") as out:
        for n in range(1 - a.warmup, a.rounds + 1):
            commit = new_commit(a.work, n)
            for s in systems:  # the push is not timed
                git(a.work, "push", "-q", urls[s], "master")
            time.sleep(a.settle_s)  # propagit's hub makes every drone fetch on push; let that finish
            order = systems if n % 2 else list(reversed(systems))
            for s in order:
                if s == "skyport":
                    r = run_skyport(commit, a.drones, a.probe_ms, a.timeout_s)
                else:
                    r = run_propagit(commit, a.drones, a.probe_ms, a.timeout_s, observer)
                r["round"] = n
                r["warmup"] = n < 1
                out.write(json.dumps(r) + "\n")
                out.flush()
                tag = "warm-up" if n < 1 else f"round {n}"
                fmt = lambda v: "-" if v is None else f"{v:.0f}"
                print(f"[deploy_bench] {tag} {s}: first-200 {fmt(r['first_200_ms'])} ms, all-200 "
                      f"{fmt(r['all_200_ms'])} ms, command exit {fmt(r['command_exit_ms'])} ms"
                      + (f"  ERROR {r['error']}" if "error" in r else ""), flush=True)
                if s in prev:
                    stop_previous(s, prev[s])
                prev[s] = r
                time.sleep(0.3)


if __name__ == "__main__":
    main()
