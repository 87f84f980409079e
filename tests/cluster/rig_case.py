"""The scenario side of the multi-host rigs (tests/cluster/test_netns_rig*.py):
RigTestCase runs a scenario on a netns_rig.Rig (skip without root, a watchdog, every
way out through the teardown) and gives it the client machine's view of the cluster:
the skyport CLI, client.py (HTTP through the router), git; LoadLoop is client.py's
load loop; main() exits 77 when everything skipped.
"""
import atexit
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import unittest

from netns_rig import (CLIENT, REPO, SKIP_CODE, CannotMakeNamespaces, Interrupted, Rig, clean_leftovers, run,
                       skip_reason)
from harness import binary, wait_until  # (netns_rig put tests/integration on the path)


class LoadLoop:
    """client.py's load loop on the client machine, sending requests to the router at
    `addr` until stop(); its outcomes are lines in a file, stamped with CLOCK_MONOTONIC
    (which every namespace shares with the test)."""

    def __init__(self, rig, addr, host, name="load"):
        self.out = os.path.join(rig.tmp, f"{name}.out")
        self.proc = rig.spawn("client", name, [sys.executable, CLIENT, "load", addr, "--host", host,
                                               "--out", self.out], stdin=subprocess.PIPE)

    def lines(self):
        """([ok, T, INSTANCE, COMMIT]...), ([fail, T, WHAT]...)"""
        try:
            with open(self.out) as f:
                lines = f.read().splitlines()
        except FileNotFoundError:
            return [], []
        return ([x.split(" ", 3) for x in lines if x.startswith("ok ")],
                [x.split(" ", 2) for x in lines if x.startswith("fail ")])

    def ok_since(self, t, host=None):
        oks = [x for x in self.lines()[0] if float(x[1]) > t]
        return [x for x in oks if host is None or x[2].rsplit(":", 1)[0] == host]

    def stop(self):
        """Ends the loop; returns lines() once it has exited."""
        self.proc.stdin.write(b"stop\n")
        self.proc.stdin.close()
        self.proc.wait(timeout=20)
        return self.lines()


class RigTestCase(unittest.TestCase):
    """A scenario on a Rig: skip without root, a watchdog, signals that unwind into the
    teardown, and the client machine's view of the cluster (the CLI, client.py, git).
    Subclasses set DRONES and HOST and call run_rig(MACHINES, self.scenario)."""
    maxDiff = None
    DRONES = ()
    HOST = "webapp.localhost"
    WATCHDOG_S = 150  # ctest's TIMEOUT is 180: clean up ourselves before being killed

    @classmethod
    def setUpClass(cls):
        reason = skip_reason()
        if reason:
            raise unittest.SkipTest(reason)

    def setUp(self):
        self.rig = None
        self.old_handlers = {}

        def interrupted(signum, _frame):
            if self.rig is not None and self.rig.tearing_down:
                return  # let the teardown finish
            if signum == signal.SIGINT:
                raise KeyboardInterrupt
            if signum == signal.SIGALRM:
                raise TimeoutError(f"cluster rig watchdog: still running after {self.WATCHDOG_S}s")
            raise Interrupted(f"signal {signum}")

        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGALRM):
            self.old_handlers[s] = signal.signal(s, interrupted)
        signal.alarm(self.WATCHDOG_S)

    def tearDown(self):
        signal.alarm(0)
        for s, h in self.old_handlers.items():
            signal.signal(s, h)

    def run_rig(self, machines, scenario):
        """Makes the rig, runs scenario(t0) on it, and tears it down whatever happens
        (the logs' tails printed first when the scenario failed)."""
        self.t0 = t0 = time.monotonic()
        clean_leftovers()
        self.rig = rig = Rig(machines)
        atexit.register(rig.teardown)  # belt and braces: an exception escaping everything below
        ok = False
        try:
            try:
                rig.create()
            except CannotMakeNamespaces as e:
                self.skipTest(f"cannot make network namespaces here ({e}); the rig needs root with CAP_SYS_ADMIN")
            scenario(t0)
            ok = True
        finally:
            if not ok and rig.namespaces:
                rig.dump_logs()
            rig.teardown()
        print(f"\ncluster rig: whole run {time.monotonic() - t0:.1f}s", file=sys.stderr)

    def step(self, what):
        print(f"[{time.monotonic() - self.t0:5.1f}s] {what}", file=sys.stderr)

    # ------------------------------------------------------------ daemons

    def start_drone(self, d, hub, registry, lease_ttl):
        """skyport-drone on machine `d`, advertising the machine's own address."""
        rig = self.rig
        return rig.spawn(d, f"drone-{d}", [
            binary("skyport-drone"), "--hub", hub, "--registry", registry, "--name", d,
            "--advertise", rig.ip[d], "--data", os.path.join(rig.tmp, f"drone-{d}"),
            "--token-file", rig.token_file, "--lease-ttl", str(lease_ttl), "--drain-ms", "100",
            "--ready-timeout", "20"])

    def start_router(self, registry, hub=None):
        """skyport-router on the router machine: traffic on :8080, admin on its own 127.0.0.1:6003."""
        rig = self.rig
        router = rig.spawn("router", "router", [
            binary("skyport-router"), "--registry", registry, *(["--hub", hub] if hub else []),
            "--listen", f"{rig.ip['router']}:8080",
            "--admin", "127.0.0.1:6003", "--port-file", os.path.join(rig.tmp, "router.port"),
            "--token-file", rig.token_file, "--threads", "2", "--name", "router-1", "--drain-ms", "200",
            # The client machine stands for thousands of users: no new-user budget per address.
            "--new-users-address-burst", "1000000"])
        rig.wait_port_file(os.path.join(rig.tmp, "router.port"), router, "router")
        return router

    def wait_drones_attached(self, drones, what):
        """Polls `skyport drones` until every drone of `drones` ({name: Popen}) is connected; a
        drone that exits fails the test with its log."""
        rig = self.rig

        def connected():
            for d, p in drones.items():
                if p.poll() is not None:
                    raise AssertionError(f"drone {d} exited with {p.returncode}:\n{rig.log(f'drone-{d}')}")
            r = self.cli("drones", "--json", check=False)
            return r.returncode == 0 and {d["name"] for d in json.loads(r.stdout) if d.get("connected")} == set(drones)
        wait_until(connected, 20, interval=0.1, what=what)

    # ------------------------------------------------------------ helpers

    def cli(self, *args, timeout=30, check=True, env=None):
        return self.rig.exec("client", [binary("skyport"), *args], timeout=timeout, check=check,
                             **({"env": env} if env else {}))

    def cli_json(self, *args, **kw):
        return json.loads(self.cli(*args, **kw).stdout)

    def client(self, *args, machine="client", timeout=60):
        r = self.rig.exec(machine, [sys.executable, CLIENT, *args], timeout=timeout)
        return json.loads(r.stdout)

    def router_get(self):
        return self.client("get", f"http://{self.rig.ip['router']}:8080/", "--header", f"Host: {self.HOST}")

    def answered_by(self, commit):
        """The router's answer when it came from `commit`, else False."""
        r = self.router_get()
        return r.get("status") == 200 and r["headers"].get("x-skyport-commit") == commit and r

    def burst(self, n, conns=4):
        return self.client("burst", f"{self.rig.ip['router']}:8080", "--host", self.HOST, "--count", str(n),
                           "--conns", str(conns))

    def route_weights(self):
        """{commit: weight} of every arm in the router's table (its admin /routes), or None."""
        rig = self.rig
        r = self.client("get", "http://127.0.0.1:6003/routes", "--header", f"Authorization: Bearer {rig.token}",
                        machine="router")
        if r.get("status") != 200:
            return None
        weights = {}

        def walk(v):  # every {"commit": C, "weight": W} object anywhere in the document
            if isinstance(v, dict):
                if "commit" in v and "weight" in v:
                    weights[v["commit"]] = v["weight"]
                for x in v.values():
                    walk(x)
            elif isinstance(v, list):
                for x in v:
                    walk(x)
        walk(json.loads(r["body"]))
        return weights

    def routes_weigh(self, want):
        """True when the router's table gives each commit of `want` ({commit: weight}) its weight."""
        weights = self.route_weights() or {}
        return all(weights.get(c) == w for c, w in want.items())

    def entries(self):
        """{commit: {role: [(host, port, drone)]}} of webapp, from `skyport registry show --wide`."""
        r = self.cli("registry", "show", "webapp", "--wide", check=False)
        if r.returncode != 0:
            return {}
        return {commit: {role: sorted((e["host"], e["port"], e.get("drone", "")) for e in es)
                         for role, es in roles.items()}
                for commit, roles in json.loads(r.stdout or "{}").items()}

    def web_entries(self):
        """{commit: [(host, port, drone)]} of webapp's web role (the one the router carries)."""
        return {commit: roles.get("web", []) for commit, roles in self.entries().items()}

    def drone_hosts(self, commit):
        return {e[0] for e in self.web_entries().get(commit, [])}

    def git(self, *args, machine=None, env=None):
        env = {**self.rig.env(), **(env or {})}
        env.update(GIT_AUTHOR_NAME="rig", GIT_AUTHOR_EMAIL="rig@example.com",
                   GIT_COMMITTER_NAME="rig", GIT_COMMITTER_EMAIL="rig@example.com")
        cmd = ["git", "-C", self.work, *args]
        if machine:
            return self.rig.exec(machine, cmd, env=env, timeout=60)
        return run(cmd, env=env, timeout=60)

    def init_webapp(self):
        """examples/webapp as a git repository in the rig's temp dir, committed (commit A); returns A."""
        self.work = os.path.join(self.rig.tmp, "webapp")
        shutil.copytree(os.path.join(REPO, "examples", "webapp"), self.work,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        self.git("init", "-q", "-b", "master")
        self.git("add", "-A")
        self.git("commit", "-qm", "webapp: beep boop")
        return self.git("rev-parse", "HEAD").stdout.strip()

    def commit_change(self, old, new, message):
        """Commits web.py with `old` replaced by `new` (as scripts/demo.sh does it), or, when
        the example moved on under us and has no `old`, with a comment line appended: any
        change makes a new commit, and the X-Skyport-Commit header tells them apart.
        Returns (commit, whether the text changed)."""
        web_py = os.path.join(self.work, "web.py")
        with open(web_py) as f:
            src = f.read()
        changed = old in src
        src = src.replace(old, new) if changed else src + f"\n# cluster rig: {message}\n"
        with open(web_py, "w") as f:
            f.write(src)
        self.git("commit", "-qam", message)
        return self.git("rev-parse", "HEAD").stdout.strip(), changed

    def deploy(self, commit, env=None, extra=()):
        """Deploys `commit` on every drone (the CLI's `extra` flags added) and waits until each
        registered it; returns the CLI's result."""
        r = self.cli("deploy", "webapp", commit[:12], "--drones", ",".join(self.DRONES), *extra, timeout=90,
                     check=False, env=env)
        self.assertEqual(r.returncode, 0, f"deploy {commit[:12]}:\n{r.stdout}\n{r.stderr}")
        want = {self.rig.ip[d] for d in self.DRONES}
        wait_until(lambda: self.drone_hosts(commit) == want, 20, interval=0.1,
                   what=f"{commit[:12]} registered on {sorted(want)}")
        return r


def main():
    """unittest.main, exiting 77 (ctest: skipped, SKIP_RETURN_CODE) when everything skipped."""
    prog = unittest.main(exit=False, verbosity=2)
    res = prog.result
    if res.wasSuccessful() and res.skipped and len(res.skipped) >= res.testsRun:  # a class skip runs none
        print(f"SKIPPED: {res.skipped[0][1]}", file=sys.stderr)
        sys.exit(SKIP_CODE)
    sys.exit(0 if res.wasSuccessful() else 1)
