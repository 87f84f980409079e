#!/usr/bin/env python3
"""The console's benchmark (issue 17, "Performance"), on loopback.

A registry, a hub with its console, two drones and a router; 50 apps of one
tiny app (a socket server on $PORT), each deployed with 5 instances per drone
(500 instances), and 3 of them with a second commit and a flight running.
Then, in headless Chromium (Selenium):

1. First paint of data: the time from navigation start until the page has
   rendered its first API answer (the page's own mark `skyport:data:<page>`,
   read with performance.getEntriesByName), for the overview and an app page,
   ROUNDS full page loads each (a fresh URL each time: no page cache; the
   hub's 500 ms GET cache may or may not hold the answer). Goal: < 300 ms.
2. The console's cost to the hub's other work: `git push` of a new commit and
   `skyport deploy` of it (one instance per drone, the previous one stopped),
   ROUNDS times without any console page open and ROUNDS times with two
   browsers open on live pages (overview, and the app page of the app being
   deployed, each refetching on every SSE tick), interleaved. Reported:
   medians and the ratio, and the hub's CPU time per phase (from /proc) to
   tell the hub's share from the browsers'.

Usage: BUILD=build /usr/bin/python3 bench/console_bench.py   (needs chromium,
chromium-driver, python3-selenium; the build's daemons and CLI; git)
Knobs (env): APPS=50 INSTANCES=5 (per drone) FLIGHTS=3 ROUNDS=15 COST_ROUNDS=6 OUT=<json file>
Every process is started here and stopped by pid; data in a temp dir.
"""
import concurrent.futures
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
BUILD = os.path.abspath(os.environ.get("BUILD", os.path.join(REPO, "build")))
os.environ["SKYPORT_BIN"] = BUILD
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
sys.path.insert(0, os.path.join(REPO, "tests", "browser"))

from console_cluster import browser_missing, new_browser, python_with_selenium  # noqa: E402

if __name__ == "__main__" and python_with_selenium():
    py = python_with_selenium()
    os.execv(py, [py, *sys.argv])

import harness  # noqa: E402

APPS = int(os.environ.get("APPS", "50"))
INSTANCES = int(os.environ.get("INSTANCES", "5"))
FLIGHTS = int(os.environ.get("FLIGHTS", "3"))
ROUNDS = int(os.environ.get("ROUNDS", "15"))
COST_ROUNDS = int(os.environ.get("COST_ROUNDS", "6"))
OUT = os.environ.get("OUT", "")

# The smallest app a drone can run: accepts on $PORT, answers every request 200.
TINY = '''import os, socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(os.environ["PORT"])))
s.listen(64)
while True:
    c, _ = s.accept()
    try:
        c.recv(65536)
        c.sendall(b"HTTP/1.1 200 OK\\r\\nContent-Length: 3\\r\\nConnection: close\\r\\n\\r\\nok\\n")
    except OSError:
        pass
    c.close()
'''


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().split(") ", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


class Bench(harness.DeployTest):
    HUB_EXTRA = ("--console-listen", "127.0.0.1:0", "--deploy-timeout", "300")

    def runTest(self):
        pass

    def cli_t(self, *args, timeout=300):
        t0 = time.monotonic()
        self.cli(*args, timeout=timeout)
        return time.monotonic() - t0

    def build_fleet(self):
        self.a = self.commit({"app.py": TINY, "Procfile": "web: python3 -S app.py\n"}, "a")
        self.b = self.commit({"app.py": TINY + "# b\n"}, "b")
        log(f"pushing and deploying {APPS} apps x {INSTANCES} instances x {len(self.DRONES)} drones")

        for i in range(APPS):  # one push at a time (the hub limits concurrent pushes: 429)
            self.push(app=f"app{i:02d}")

        def one(i):
            app = f"app{i:02d}"
            self.cli("deploy", app, self.a[:10], "--instances", str(INSTANCES), timeout=300)
            if i < FLIGHTS:
                self.cli("deploy", app, self.b[:10], "--instances", "1", timeout=300)
                self.cli("split", app, f"{self.a}=100", f"{self.b}=0")
            return app
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            self.apps = list(pool.map(one, range(APPS)))
        for i in range(FLIGHTS):
            spec = {"name": f"flight-{i}", "app": self.apps[i], "version": 1,
                    "arms": {"control": self.a[:10], "treatment": self.b[:10]}, "control": "control",
                    "flightplan": [{"action": "weight", "arms": {"treatment": 10}}, {"action": "wait", "for": "1h"}]}
            path = os.path.join(self.tmp, f"flight-{i}.json")
            with open(path, "w") as f:
                json.dump(spec, f)
            self.cli("flight", "start", path)
        doc = self.cli_json("apps", "--json")
        up = sum(a["instances_up"] for a in doc["apps"])
        flights = self.cli_json("flight", "list", "--json")
        log(f"{len(doc['apps'])} apps, {up} instances up, {len(flights)} flights")
        return len(doc["apps"]), up, len(flights)

    def login(self, driver):
        driver.get(self.console + "/")
        harness.wait_until(lambda: driver.execute_script("return !!document.getElementById('token')"), 15)
        driver.find_element("id", "token").send_keys(self.token)
        driver.find_element("id", "login-submit").click()
        harness.wait_until(lambda: driver.execute_script("return document.body.dataset.page === 'overview' && document.body.dataset.loaded"), 15)

    def first_paint(self, driver, route, page, rounds):
        out = []
        for i in range(rounds):
            driver.get(f"{self.console}/?n={time.monotonic_ns()}#{route}")
            mark = harness.wait_until(lambda: driver.execute_script(
                "const m = performance.getEntriesByName(arguments[0]); return m.length ? m[0].startTime : 0",
                f"skyport:data:{page}"), 15, interval=0.01, what=f"{page} data painted")
            out.append(mark)
            if mark > 1000:
                slow = driver.execute_script("return performance.getEntriesByType('resource').map(e => "
                                             "[e.name, Math.round(e.startTime), Math.round(e.duration)])")
                log(f"slow {page} load: {mark:.0f} ms: {slow}")
            time.sleep(0.3)
        return out

    def cost(self, rounds, drivers):
        """Push + deploy of a new commit to the last app, `rounds` times; (push s, deploy s, hub cpu s) lists."""
        app = self.apps[-1]
        push, deploy, cpu = [], [], []
        for _ in range(rounds):
            c = self.commit({"app.py": TINY + f"# {time.monotonic_ns()}\n"}, "next")
            prev = self.current
            t0 = time.monotonic()
            c0 = cpu_s(self.hub.proc.pid)
            self.push(app=app)
            push.append(time.monotonic() - t0)
            deploy.append(self.cli_t("deploy", app, c[:10]))
            cpu.append(cpu_s(self.hub.proc.pid) - c0)
            self.cli("stop", app, prev[:10])
            self.current = c
        return push, deploy, cpu


def main():
    missing = browser_missing()
    if missing:
        raise SystemExit(f"console_bench: {missing}")
    b = Bench()
    b.setUp()
    b.console = f"http://127.0.0.1:{harness.wait_until(lambda: b.hub.console_port(), 10)}"
    drivers = []
    try:
        n_apps, up, n_flights = b.build_fleet()
        b.current = b.a
        d = new_browser()
        drivers.append(d)
        b.login(d)
        log(f"first paint, {ROUNDS} loads per page")
        overview = b.first_paint(d, "/", "overview", ROUNDS)
        app_page = b.first_paint(d, f"/apps/{b.apps[0]}", "app", ROUNDS)
        d.get(b.console + "/#/registry")  # a page without live data while measuring the cost
        log(f"push + deploy, {COST_ROUNDS} rounds without and with the console open, interleaved")
        quiet, busy = ([], [], []), ([], [], [])
        watchers = [new_browser(), new_browser()]
        drivers += watchers
        for w in watchers:
            b.login(w)
        for r in range(COST_ROUNDS):
            for mode in ((quiet, busy) if r % 2 == 0 else (busy, quiet)):
                if mode is busy:
                    watchers[0].get(f"{b.console}/#/")
                    watchers[1].get(f"{b.console}/#/apps/{b.apps[-1]}")
                else:
                    for w in watchers:
                        w.get(f"{b.console}/#/registry")  # static: no refetching
                        w.execute_script("window.stop()")
                        w.get("about:blank")
                p, dep, c = b.cost(1, drivers)
                for lst, v in zip(mode, (p, dep, c)):
                    lst.extend(v)
        med = statistics.median
        result = {
            "date": time.strftime("%Y-%m-%d"), "apps": n_apps, "instances_up": up, "flights": n_flights,
            "first_paint_ms": {
                "overview": {"median": round(med(overview), 1), "p90": round(pct(overview, 0.9), 1), "max": round(max(overview), 1)},
                "app": {"median": round(med(app_page), 1), "p90": round(pct(app_page, 0.9), 1), "max": round(max(app_page), 1)},
            },
            "push_s": {"without": round(med(quiet[0]), 3), "with_console": round(med(busy[0]), 3),
                       "ratio": round(med(busy[0]) / med(quiet[0]), 2)},
            "deploy_s": {"without": round(med(quiet[1]), 3), "with_console": round(med(busy[1]), 3),
                         "ratio": round(med(busy[1]) / med(quiet[1]), 2)},
            "hub_cpu_s_per_push_and_deploy": {"without": round(med(quiet[2]), 3), "with_console": round(med(busy[2]), 3)},
            "rounds": {"first_paint": ROUNDS, "cost": COST_ROUNDS},
            "raw": {"overview_ms": overview, "app_ms": app_page, "quiet": quiet, "busy": busy},
        }
        text = json.dumps(result, indent=1)
        print(text)
        if OUT:
            with open(OUT, "w") as f:
                f.write(text)
    finally:
        for d in drivers:
            d.quit()
        b.doCleanups()


if __name__ == "__main__":
    main()
