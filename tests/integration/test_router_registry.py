"""skyport-router watching a real skyport-registry on 127.0.0.1: the latest
commit takes the traffic, weighted sticky splits written with `skyport split`,
instances leaving under load, a registry restart, presence and `skyport stats`.

Endpoints are registered by hand (static entries for backends the test
starts), so the test controls when each one comes and goes. Shares use the
same 2.5-point tolerance as test_router.py (binomial sd for n=2000 at p=0.1
is 0.67 point).
"""
import http.client
import json
import os
import re
import signal
import threading
import time
import unittest

from harness import Backend, ClusterTest, Registry, Router, wait_until
from test_router import COOKIE_RE, cookie_pair, share_tolerance, get, run_requests, strings_in

# C2 sorts before C1, so "most recently deployed" cannot pass by the tie-break on
# the commit string, and fresh layouts (commit order) put C2's slices first.
C1 = "bbbb" + "1" * 36
C2 = "aaaa" + "2" * 36
C3 = "cccc" + "3" * 36
N = 2000
HOST = "webapp.localhost"


class Load:
    """Requests to the router until stopped: one thread on a keep-alive connection,
    one opening a new connection per request. Records every outcome."""

    def __init__(self, port, host=HOST):
        self.port = port
        self.host = host
        self.lock = threading.Lock()
        self.ok = []        # (monotonic time, thread index, instance, commit)
        self.failures = []  # (monotonic time, what)
        self.stop_flag = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(k,), daemon=True) for k in range(2)]

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        self.stop_flag.set()
        for t in self.threads:
            t.join(timeout=30)

    def _run(self, k):
        conn = None
        while not self.stop_flag.is_set():
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                conn.request("GET", "/load", headers={"Host": self.host})
                r = conn.getresponse()
                body = r.read()
                if r.status != 200:
                    raise AssertionError(f"HTTP {r.status}: {body[:200]!r}")
                with self.lock:
                    self.ok.append((time.monotonic(), k, r.getheader("X-Skyport-Instance"),
                                    r.getheader("X-Skyport-Commit")))
            except Exception as e:  # noqa: BLE001 - every failure counts
                with self.lock:
                    self.failures.append((time.monotonic(), repr(e)))
                if conn:
                    conn.close()
                conn = None
            if k == 1 and conn is not None:
                conn.close()
                conn = None
        if conn:
            conn.close()

    def count(self):
        with self.lock:
            return len(self.ok)

    def since(self, t):
        with self.lock:
            return [x for x in self.ok if x[0] > t]


class RouterRegistryTest(ClusterTest):
    def setUp(self):
        super().setUp()
        self._has_split = None

    def backend(self, name):
        b = Backend(self.tmp, name).start()
        self.addCleanup(b.kill)
        return b

    def router(self, extra=()):
        r = Router(self.tmp, self.token_file, registry=self.registry, extra=extra, name="r1").start()
        self.addCleanup(r.kill)
        return r

    def register(self, commit, backend, instance=0, app="webapp"):
        self.cli("registry", "register", f"{app}@{commit}", "web", "--host", "127.0.0.1", "--port",
                 str(backend.port), "--instance", str(instance))

    def entry_id(self, port):
        table = self.cli_json("registry", "show", "--wide", "webapp")
        [e] = [e for roles in table.values() for lst in roles.values() for e in lst if e["port"] == port]
        return e["id"]

    def routed_ports(self, r):
        """Ports of the instances in the router's /routes (as "host:port" strings or "port" fields)."""
        ports = set()

        def walk(x):
            if isinstance(x, dict):
                if isinstance(x.get("port"), int):
                    ports.add(x["port"])
                for v in x.values():
                    walk(v)
            elif isinstance(x, list):
                for v in x:
                    walk(v)
            elif isinstance(x, str):
                m = re.fullmatch(r"127\.0\.0\.1:(\d+)", x)
                if m:
                    ports.add(int(m.group(1)))
        walk(r.admin_json("/routes"))
        return ports

    def table_revision(self, r):
        _, metrics = r.admin_get("/metrics", token=False)
        m = re.search(r"^skyport_router_table_revision (\d+)$", metrics, re.M)
        return int(m.group(1)) if m else -1

    def has_split(self):
        if self._has_split is None:
            self._has_split = self.cli("split", "--help", check=False).returncode == 0
        return self._has_split

    def split(self, r, weights, fallback_slices, split_id="t1"):
        """`skyport split webapp C=W ...`; without that command (not built yet), the same
        RouteConfig through `skyport registry route set` with the slices given. Waits
        until the router's table includes the change."""
        if self.has_split():
            self.cli("split", "webapp", *[f"{c}={w}" for c, w in weights.items()])
        else:
            path = os.path.join(self.tmp, "route.json")
            with open(path, "w") as f:
                json.dump({"app": "webapp", "weights": weights, "split_id": split_id,
                           "slices": [{"commit": c, "ge": ge, "lt": lt} for c, ge, lt in fallback_slices]}, f)
            self.cli("registry", "route", "set", "webapp", path)
        rev = int(self.cli_json("registry", "route", "get", "webapp")["revision"])
        wait_until(lambda: self.table_revision(r) >= rev, 10, what=f"router table at route revision {rev}")
        return rev

    def arm_of(self, result, backends):
        """The commit of a 200 response, checked against the backend that answered."""
        status, headers, body = result
        self.assertEqual(status, 200, body)
        doc = json.loads(body)
        commit, backend = backends[doc["name"]]
        self.assertEqual(headers.get("x-skyport-commit"), commit)
        self.assertEqual(headers.get("x-skyport-instance"), backend.address())
        return commit

    # ------------------------------------------------------------ tests

    def test_latest_commit_then_sticky_split_and_rebalance(self):
        b1, b2 = self.backend("one"), self.backend("two")
        backends = {"one": (C1, b1), "two": (C2, b2)}
        r = self.router()
        wait_until(lambda: r.admin_get("/healthz", token=False)[0] == 200, 10, what="router has a table")
        self.assertEqual(get(r.port, host=HOST)[0], 404, "no endpoints yet: no app")

        self.register(C1, b1)
        wait_until(lambda: get(r.port, host=HOST)[1].get("x-skyport-commit") == C1, 10, what="C1 routed")
        self.register(C2, b2)
        wait_until(lambda: get(r.port, host=HOST)[1].get("x-skyport-commit") == C2, 10, what="C2 routed")
        # No split: the most recently registered commit takes everything.
        res = run_requests(r.port, [{}] * 200, host=HOST)
        self.assertEqual({self.arm_of(x, backends) for x in res}, {C2})

        # 90/10. Fresh layout in commit order: C2 [0, .1), C1 [.1, 1).
        rev = self.split(r, {C1: 90, C2: 10}, [(C2, 0, 100_000), (C1, 100_000, 1_000_000)])
        res = run_requests(r.port, [{}] * N, host=HOST)
        arms = [self.arm_of(x, backends) for x in res]
        pairs = []
        for _, headers, _ in res:
            m = COOKIE_RE.match(cookie_pair(headers.get("set-cookie", "")))
            self.assertIsNotNone(m, headers)
            pairs.append(m.group(0))
        share = arms.count(C2) / N
        self.assertAlmostEqual(share, 0.10, delta=share_tolerance(0.10, N), msg=f"C2 share {share:.3f} for 90/10")

        # A cookie keeps its arm over 100 requests on new connections.
        for arm in (C1, C2):
            pair = pairs[arms.index(arm)]
            for _ in range(100):
                x = get(r.port, host=HOST, headers={"Cookie": pair})
                self.assertEqual(self.arm_of(x, backends), arm)
                self.assertNotIn("set-cookie", x[1])

        # Any router of the cluster (here a second one, which knows nothing but
        # the registry) sends each cookie to the same commit.
        r2 = Router(self.tmp, self.token_file, registry=self.registry, name="r2").start()
        self.addCleanup(r2.kill)
        wait_until(lambda: self.table_revision(r2) >= rev, 10, what="second router has the split")
        res_r2 = run_requests(r2.port, [{"Cookie": p} for p in pairs[:400]], host=HOST)
        self.assertEqual([self.arm_of(x, backends) for x in res_r2], arms[:400])

        # 90/10 -> 80/20: only C1 users whose slice changed hands move (to C2); ~10% of all.
        self.split(r, {C1: 80, C2: 20},
                   [(C2, 0, 100_000), (C1, 100_000, 900_000), (C2, 900_000, 1_000_000)])
        res2 = run_requests(r.port, [{"Cookie": p} for p in pairs], host=HOST)
        arms2 = []
        for x, before in zip(res2, arms):
            after = self.arm_of(x, backends)
            arms2.append(after)
            self.assertNotIn("set-cookie", x[1], "same split: cookies stay valid")
            if before == C2:
                self.assertEqual(after, C2, "a C2 user moved although C2 only grew")
        moved = sum(1 for a, b in zip(arms, arms2) if a != b)
        self.assertAlmostEqual(moved / N, 0.10, delta=share_tolerance(0.10, N), msg=f"{moved} of {N} moved")
        self.assertAlmostEqual(arms2.count(C2) / N, 0.20, delta=share_tolerance(0.20, N))

    def test_instance_removed_under_load_fails_no_request(self):
        x1, x2 = self.backend("x1"), self.backend("x2")
        r = self.router()
        self.register(C1, x1, instance=0)
        self.register(C1, x2, instance=1)
        wait_until(lambda: {x1.port, x2.port} <= self.routed_ports(r), 10, what="both instances routed")
        with Load(r.port) as load:
            wait_until(lambda: {i for _, _, i, _ in load.since(0)} >= {x1.address(), x2.address()}, 10,
                       what="load reaches both instances")
            self.cli("registry", "free", str(self.entry_id(x1.port)))
            wait_until(lambda: x1.port not in self.routed_ports(r), 10, what="x1 gone from /routes")
            # Requests that started on the old table are done once each load thread has
            # finished a few more (they are sequential); then x1 may go.
            t = time.monotonic()
            wait_until(lambda: all(sum(1 for x in load.since(t) if x[1] == k) >= 2 for k in (0, 1)), 10,
                       what="both load threads past the change")
            x1.kill()
            t_kill = time.monotonic()
            wait_until(lambda: len(load.since(t_kill)) >= 200, 20, what="200 requests after x1 stopped")
        self.assertEqual(load.failures, [], f"{len(load.failures)} failed of {load.count()}")
        self.assertEqual({i for _, _, i, _ in load.since(t_kill)}, {x2.address()})
        self.assertGreater(load.count(), 300)

    def test_registry_restart_does_not_stop_traffic_and_watch_resumes(self):
        y1, y3 = self.backend("y1"), self.backend("y3")
        r = self.router()
        self.register(C1, y1)
        wait_until(lambda: get(r.port, host=HOST)[1].get("x-skyport-commit") == C1, 10, what="C1 routed")
        with Load(r.port) as load:
            wait_until(lambda: load.count() >= 50, 10, what="load running")
            self.registry.kill(signal.SIGKILL)
            t_down = time.monotonic()
            wait_until(lambda: len(load.since(t_down)) >= 300, 20, what="300 requests while the registry is down")
            wait_until(lambda: "skyport_router_registry_connected 0" in r.admin_get("/metrics", token=False)[1], 10,
                       what="router notices the registry is gone")
            self.assertGreaterEqual(len(load.since(t_down)), 300)
            self.registry.start()  # same port, same data
            self.register(C3, y3)  # newest commit: takes all traffic once the router sees it
            wait_until(lambda: get(r.port, host=HOST)[1].get("x-skyport-commit") == C3, 20,
                       what="a registration after the restart is routed")
            t_new = time.monotonic()
            wait_until(lambda: len(load.since(t_new)) >= 50, 10, what="load after resume")
        self.assertEqual(load.failures, [], f"{len(load.failures)} failed of {load.count()}")
        self.assertEqual({c for _, _, _, c in load.since(t_new)[10:]}, {C3})
        _, metrics = r.admin_get("/metrics", token=False)
        self.assertIn("skyport_router_registry_connected 1", metrics)
        self.assertRegex(metrics, r"skyport_router_registry_reconnects_total [1-9]")

    def test_a_new_store_behind_the_same_address_is_not_resumed(self):
        # The registry comes back on its address with another data directory whose revision is past the
        # router's: the router's revision means nothing there, so it must get a snapshot, not the new
        # store's events after that number (which would keep y1 routed for ever).
        y1, y3 = self.backend("y1"), self.backend("y3")
        r = self.router()
        self.register(C1, y1)
        wait_until(lambda: y1.port in self.routed_ports(r), 10, what="y1 routed")
        other = Registry(self.tmp, self.token_file, name="registry-new").start()
        self.addCleanup(other.kill)
        env = self.env()
        env["SKYPORT_REGISTRY"] = other.address()
        for i in range(3 * self.table_revision(r) + 10):
            self.cli("registry", "register", f"other@{C1}", "web", "--host", "127.0.0.1", "--port",
                     str(20000 + i), env=env)
        other.kill(signal.SIGTERM)
        self.registry.kill(signal.SIGKILL)
        self.registry.data = other.data
        self.registry.start()  # same port, the other store
        self.register(C3, y3)
        wait_until(lambda: y3.port in self.routed_ports(r), 20, what="y3 routed")
        wait_until(lambda: y1.port not in self.routed_ports(r), 10, what="y1 (only in the old store) unrouted")
        with open(r.log_path) as f:
            # It asked from its revision (naming the old store), and got no resume.
            self.assertRegex(f.read(), r"registry watch registry=\S+ from_revision=[1-9]\d* resumed=false")

    def test_presence_and_stats_command(self):
        b1, b2 = self.backend("one"), self.backend("two")
        backends = {"one": (C1, b1), "two": (C2, b2)}
        r = self.router()
        # The router registers its admin listener as app skyport-router, role admin.
        table = wait_until(lambda: self.show("skyport-router"), 10, what="router in the registry")
        [(commit, roles)] = table.items()
        self.assertEqual(roles, {"admin": [{"host": "127.0.0.1", "port": r.admin_port}]})

        self.register(C1, b1)
        self.register(C2, b2)
        wait_until(lambda: {b1.port, b2.port} <= self.routed_ports(r), 10, what="both commits routed")
        routes = strings_in(r.admin_json("/routes"))
        self.assertIn("webapp", routes)
        self.split(r, {C1: 50, C2: 50}, [(C2, 0, 500_000), (C1, 500_000, 1_000_000)])
        res = run_requests(r.port, [{}] * 400, host=HOST)
        sent = {C1: 0, C2: 0}
        for x in res:
            sent[self.arm_of(x, backends)] += 1
        self.assertGreater(min(sent.values()), 100)

        def merged():
            doc = self.cli_json("stats", "webapp", "--json")
            got = {c: a["requests"] for c, a in doc["apps"]["webapp"]["arms"].items()}
            return doc if got == sent else None
        doc = wait_until(merged, 10, interval=0.3, what=f"skyport stats --json requests == {sent}")
        self.assertEqual(doc["routers"], 1)
        text = self.cli("stats", "webapp").stdout
        for c, n in sent.items():
            [row] = [line for line in text.splitlines() if c[:12] in line]
            self.assertIn(str(n), row.split())

        # Stopping the router (SIGTERM) takes it out of the registry.
        r.kill(signal.SIGTERM)
        self.assertEqual(r.proc.returncode, 0)
        wait_until(lambda: self.show("skyport-router") == {}, 5, what="router deregistered on stop")


if __name__ == "__main__":
    unittest.main()
