"""Address lists: `--registry A,B` and `--hub A,B` on the CLI, drones, routers and hubs.

On 127.0.0.1: registries and hubs on their own SQLite stores (independent: not
one cluster, so only what is meaningful between independent servers is
tested here; several registries or hubs of one cluster are the etcd tests'),
plus a port where nothing listens (DEAD) at the head of every list.
- The CLI, a drone and a router given DEAD,LIVE work, and the CLI's --json
  says which address answered.
- A drone and a router given R1,R2: kill -9 of R1 moves both to R2; the
  drone registers its instance there again and the router's table follows.
- A router shipping experiment data to two hubs: one is killed with -9,
  events are posted, it comes back; both end with every event exactly once.
"""
import json
import os
import signal
import unittest

from harness import (Backend, ClusterTest, DeployTest, Drone, Hub, Registry, Router, dead_port,
                     wait_until)
from test_deploy import APP
from test_events import HOST, doc_arms, post
from test_router import cookie_pair, get

C1 = "aaaa" + "1" * 36


class Listed:
    """Stands for a registry or hub in the harness: its address() is a list."""

    def __init__(self, *parts):
        self.parts = parts

    def address(self):
        return ",".join(p if isinstance(p, str) else p.address() for p in self.parts)


def sub(tmp, name):
    """A directory of its own for a second registry or hub (the harness names files after the role)."""
    path = os.path.join(tmp, name)
    os.makedirs(path, exist_ok=True)
    return path


class ListedClientsTest(DeployTest):
    DRONES = ("d1",)

    def setUp(self):
        ClusterTest.setUp(self)
        with open(self.token_file) as f:
            self.token = f.read().strip()
        sock, port = dead_port()
        self.addCleanup(sock.close)
        self.dead = f"127.0.0.1:{port}"
        self.registry2 = Registry(sub(self.tmp, "r2"), self.token_file).start()
        self.addCleanup(self.registry2.kill)
        self.hub = Hub(self.tmp, self.token_file, Listed(self.dead, self.registry)).start()
        self.drones = {"d1": Drone(self.tmp, self.token_file, "d1", Listed(self.dead, self.hub),
                                   Listed(self.dead, self.registry, self.registry2)).start()}
        self.addCleanup(self._stop_cluster)
        self.work = os.path.join(self.tmp, "work")
        os.makedirs(self.work)
        self.git("init", "-q", "-b", "master")
        wait_until(lambda: self.connected_drones() == {"d1"}, 15, what="drone attached through its hub list")

    def env(self, token_file=None):
        env = super().env(token_file)
        env["SKYPORT_REGISTRY"] = f"{self.dead},{self.registry.address()}"
        env["SKYPORT_HUB"] = f"{self.dead},{self.hub.address()}"
        return env

    def deploy(self):
        self.commit({"app.py": APP, "greeting.txt": "beep boop\n", "Procfile": "web: python3 app.py\n"})
        self.push()
        lines = [json.loads(x) for x in self.cli("deploy", "webapp", "master", "--json").stdout.splitlines()]
        self.assertTrue(lines)
        self.assertEqual({x["answered_by"] for x in lines}, {self.hub.address()})

    def ports_in(self, registry):
        env = {**self.env(), "SKYPORT_REGISTRY": registry.address()}
        table = json.loads(self.cli("registry", "show", env=env).stdout)
        return {e["port"] for c, roles in table.items() for e in roles.get("web", [])}

    def test_cli_drone_and_router_skip_a_dead_address_and_say_who_answered(self):
        self.deploy()
        shown = self.cli_json("registry", "show", "--json")
        self.assertEqual(shown.pop("answered_by"), self.registry.address())
        [(commit, roles)] = shown.items()
        [entry] = roles["web"]  # the drone registered through DEAD,LIVE
        ps = self.cli("ps", "--json")
        self.assertEqual([p["drone"] for p in json.loads(ps.stdout)], ["d1"])  # an array keeps its shape
        self.assertIn(f"answered by {self.hub.address()}", ps.stderr)
        drone_log = self.drones["d1"].log()
        self.assertIn(f"connected to registry address={self.registry.address()}", drone_log)
        self.assertIn(f"attached to the hub hub={self.hub.address()}", drone_log)

        router = Router(self.tmp, self.token_file, registry=Listed(self.dead, self.registry)).start()
        self.addCleanup(router.kill)
        wait_until(lambda: get(router.port, host="webapp.localhost")[0] == 200, 15, what="routed through DEAD,LIVE")
        status, headers, body = get(router.port, host="webapp.localhost")
        self.assertTrue(body.decode().startswith("beep boop d1"), body)
        self.assertEqual(headers.get("x-skyport-instance"), f"127.0.0.1:{entry['port']}")

        stop = self.cli_json("stop", "webapp", commit[:8], "--json")
        self.assertEqual(stop["answered_by"], self.hub.address())
        self.assertEqual(stop["stopped"], 1)

    def test_drone_and_router_move_to_the_next_registry(self):
        self.deploy()
        wait_until(lambda: len(self.ports_in(self.registry)) == 1, 10, what="the instance in R1")
        self.assertEqual(self.ports_in(self.registry2), set())
        router = Router(self.tmp, self.token_file, registry=Listed(self.registry, self.registry2)).start()
        self.addCleanup(router.kill)
        wait_until(lambda: get(router.port, host="webapp.localhost")[0] == 200, 15, what="routed from R1")

        self.registry.kill(signal.SIGKILL)
        # R2 never heard of the drone's lease: the drone takes a new one there
        # and registers its instance again; the router's watch moves to R2 and
        # takes R2's table (a fresh snapshot, not R1's revision).
        wait_until(lambda: len(self.ports_in(self.registry2)) == 1, 20, what="the instance registered again in R2")
        wait_until(lambda: "registry watch moved to another registry" in router.log(), 15, what="router watch on R2")
        [port] = self.ports_in(self.registry2)
        wait_until(lambda: get(router.port, host="webapp.localhost")[1].get("x-skyport-instance") == f"127.0.0.1:{port}",
                   15, what="router routing R2's entry")
        self.assertIn(f"connected to registry address={self.registry2.address()}", self.drones["d1"].log())

    def test_bad_lists_are_usage_errors(self):
        for bad, says in [("a:1,,b:2", "address 2 of the list is empty"), ("a:1,", "is empty"),
                          ("127.0.0.1:0", "bad port"), ("::1:6000", "IPv6 goes in brackets"),
                          (",".join(f"h:{i}" for i in range(1, 18)), "more than 16"), ("a:1,a:1", "listed twice")]:
            r = self.cli("--registry", bad, "registry", "show", check=False)
            self.assertEqual(r.returncode, 2, (bad, r.stderr))
            self.assertIn(says, r.stderr)
            r = self.cli("--hub", bad, "ps", check=False)
            self.assertEqual(r.returncode, 2, (bad, r.stderr))
        # Every address dead: a clear error naming what was tried, exit 1.
        r = self.cli("--registry", f"{self.dead},{self.dead.replace('127.0.0.1', 'localhost')}", "registry", "show",
                     check=False)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("registry tried:", r.stderr)


class TwoHubsShippingTest(ClusterTest):
    """A router with --data ships every batch to both hubs of its --hub list."""

    def setUp(self):
        super().setUp()
        self.hubs = [Hub(sub(self.tmp, name), self.token_file, self.registry).start() for name in ("h1", "h2")]
        for h in self.hubs:
            self.addCleanup(h.kill)
        self.backend = Backend(self.tmp, "one").start()
        self.addCleanup(self.backend.kill)
        routes = os.path.join(self.tmp, "routes.json")
        with open(routes, "w") as f:
            json.dump({"apps": [{"name": "webapp", "split_id": "s1",
                                 "arms": [{"commit": C1, "weight": 100, "upstreams": [self.backend.address()]}]}]}, f)
        self.data = os.path.join(self.tmp, "router-data")
        self.router = Router(self.tmp, self.token_file, routes=routes,
                             extra=["--hub", Listed(*self.hubs).address(), "--data", self.data]).start()
        self.addCleanup(self.router.kill)
        status, headers, _ = get(self.router.port, host=HOST)
        self.assertEqual(status, 200)
        self.cookie = cookie_pair(headers["set-cookie"])

    def count(self, hub, event="purchase"):
        r = self.cli("stats", "webapp", "--event", event, "--json",
                     env={**self.env(), "SKYPORT_HUB": hub.address()})
        doc = json.loads(r.stdout)
        return sum(a["events"] for a in doc_arms(doc)), doc

    def post_purchases(self, posts):
        for _ in range(posts):
            got, text = post(self.router.port, [{"event": "purchase", "value": 1}] * 2, {"Cookie": self.cookie})
            self.assertEqual(got, 202, text)

    def lane(self, metric, hub):
        return self.router.metric(metric, labels=f'hub="{hub.address()}"', default=-1)

    def test_a_hub_killed_and_back_gets_every_event_once(self):
        h1, h2 = self.hubs
        self.post_purchases(20)
        for h in self.hubs:
            wait_until(lambda: self.count(h)[0] >= 40, 30, what=f"40 purchases at {h.address()}")
        h2.kill(signal.SIGKILL)
        self.post_purchases(30)
        wait_until(lambda: self.count(h1)[0] >= 100, 30, what="100 purchases at the live hub")
        # The batches h2 has not taken stay in the journal; h1's lane is not held up.
        wait_until(lambda: self.lane("skyport_router_stats_hub_pending_rows", h2) > 0, 10, what="rows held for h2")
        self.assertEqual(self.lane("skyport_router_stats_hub_pending_rows", h1), 0)
        self.assertEqual(self.lane("skyport_router_stats_hub_lane_up", h2), 0)
        self.assertGreater(self.router.metric("skyport_router_journal_bytes", default=-1), 0)
        h2.start()
        wait_until(lambda: self.count(h2)[0] >= 100, 30, what="100 purchases at the hub back")
        wait_until(lambda: self.router.metric("skyport_router_stats_pending_rows", default=-1) == 0, 30,
                   what="nothing left to ship")
        wait_until(lambda: self.router.metric("skyport_router_journal_bytes", default=-1) == 0, 10,
                   what="batches every hub has, removed")
        # A marker after everything: batches go out in order, so once it is at
        # both hubs the counts are final.
        got, _ = post(self.router.port, {"event": "marker"}, {"Cookie": self.cookie})
        self.assertEqual(got, 202)
        for h in self.hubs:
            wait_until(lambda: self.count(h, "marker")[0] == 1, 30, what=f"the marker at {h.address()}")
            n, doc = self.count(h)
            self.assertEqual(n, 100, f"each event exactly once at {h.address()}")
            self.assertEqual(doc["answered_by"], h.address())
        self.assertEqual(self.router.metric("skyport_router_stats_dropped_rows_total", default=-1), 0)
        self.assertIn(f"hub={h2.address()}", self.router.log())


if __name__ == "__main__":
    unittest.main()
