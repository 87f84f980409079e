"""`skyport status` against real daemons: a registry, a hub, two drones and a router on
127.0.0.1 — all up, then a drone killed (exit 1, named), a router killed, no token; and two
hubs on etcd (leader, standby found through the election, the leader killed)."""
import json
import signal

from harness import ClusterTest, DeployTest, Hub, Router, wait_until


class StatusTest(DeployTest):
    def setUp(self):
        super().setUp()
        self.router = Router(self.tmp, self.token_file, registry=self.registry).start()
        self.addCleanup(self.router.kill)
        # The router's presence entry is in the registry once it has registered.
        wait_until(lambda: any(e["app"] == "skyport-router" for e in self.registry_entries()), 15,
                   what="router registered")

    def registry_entries(self):
        r = self.cli("registry", "query", "skyport-router", "--json", check=False)
        return json.loads(r.stdout) if r.returncode == 0 else []

    def status(self, *extra):
        r = self.cli("status", "--json", *extra, check=False)
        return r.returncode, json.loads(r.stdout) if r.stdout.strip() else None, r

    def test_all_up_then_a_drone_killed_then_a_router_killed(self):
        code, doc, r = self.status()
        self.assertEqual(code, 0, r.stdout + r.stderr)
        self.assertTrue(doc["ok"])
        kinds = {}
        for c in doc["components"]:
            kinds.setdefault(c["kind"], []).append(c)
        self.assertEqual([h["state"] for h in kinds["hub"]], ["up"])
        self.assertEqual([g["state"] for g in kinds["registry"]], ["up"])
        self.assertEqual(sorted(d["name"] for d in kinds["drone"]), ["d1", "d2"])
        self.assertEqual([x["name"] for x in kinds["router"]], ["r1"])
        for c in doc["components"]:
            self.assertTrue(c["ok"], c)
            self.assertRegex(c["version"], r"^skyport-(hub|registry|drone|router) \d+\.\d+\.\d+ \(commit ", c)
            self.assertGreaterEqual(c["last_seen_s"], 0)
        self.assertIn("store sqlite", kinds["registry"][0]["note"])
        table = self.cli("status").stdout
        self.assertIn("all up", table)
        for header in ("KIND", "STATE", "VERSION", "LAST-SEEN"):
            self.assertIn(header, table)

        # A drone dies: the hub sees its stream end; status names it and exits 1.
        self.drones["d2"].kill(signal.SIGKILL)
        self.drones["d2"].kill_orphaned_apps()
        wait_until(lambda: self.status()[0] == 1, 15, what="status notices the dead drone")
        code, doc, _ = self.status()
        self.assertEqual(code, 1)
        self.assertFalse(doc["ok"])
        [d2] = [c for c in doc["components"] if c["name"] == "d2"]
        self.assertEqual(d2["state"], "down")
        self.assertTrue(any(p.startswith("drone d2 is down") for p in doc["problems"]), doc["problems"])
        r = self.cli("status", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("DOWN: drone d2 is down (not attached, last seen", r.stdout)

        # A router killed with SIGKILL cannot deregister: until its lease ends it is listed and down.
        self.router.kill(signal.SIGKILL)
        code, doc, _ = self.status()
        self.assertEqual(code, 1)
        routers = [c for c in doc["components"] if c["kind"] == "router"]
        if routers:  # still within the lease TTL
            self.assertEqual(routers[0]["state"], "down")
            self.assertTrue(any(p.startswith("router r1 ") for p in doc["problems"]), doc["problems"])

    def test_a_registry_or_hub_that_is_down_is_named(self):
        env = self.env()
        env["SKYPORT_REGISTRY"] = f"{self.registry.address()},127.0.0.1:1"
        r = self.cli("status", env=env, check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("DOWN: registry 127.0.0.1:1 is down: UNAVAILABLE", r.stdout)
        env = self.env()
        env["SKYPORT_HUB"] = "127.0.0.1:1"
        r = self.cli("status", "--json", env=env, check=False)
        self.assertEqual(r.returncode, 1)
        doc = json.loads(r.stdout)
        self.assertIn("hub 127.0.0.1:1 is down: UNAVAILABLE", " ".join(doc["problems"]))
        self.assertTrue(any(p.startswith("drones: unknown") for p in doc["problems"]), doc["problems"])

    def test_a_wrong_token_is_refused_not_shown_as_healthy(self):
        bad = f"{self.tmp}/bad-token"
        with open(bad, "w") as f:
            f.write("0" * 32 + "\n")
        r = self.cli("status", token_file=bad, check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("UNAUTHENTICATED", r.stdout)
        self.assertNotIn("all up", r.stdout)
        r = self.cli("status", "--help")
        self.assertIn("exit", r.stdout.lower())


class StatusSeveralHubsTest(ClusterTest):
    """Two hubs on etcd: `status` given one of them finds the other through the election and says
    which leads; the leader killed, the standby takes over and the dead one is named."""

    def setUp(self):
        super().setUp()
        from etcd_cluster import EtcdCluster  # skips the test, saying why, without etcd
        self.etcd = EtcdCluster(1)
        self.addCleanup(self.etcd.stop)
        self.hubs = [Hub(self.tmp, self.token_file, self.registry, name=f"hub{i}", store="etcd",
                         etcd=self.etcd.endpoints()).start() for i in range(2)]
        for h in self.hubs:
            self.addCleanup(h.kill)

    def hub_rows(self, listed):
        env = {**self.env(), "SKYPORT_HUB": listed}
        r = self.cli("status", "--json", env=env, check=False)
        doc = json.loads(r.stdout)
        return r.returncode, {c["name"]: c for c in doc["components"] if c["kind"] == "hub"}, doc

    def test_leader_and_standby_then_the_leader_dies(self):
        first = self.hubs[0].address()
        wait_until(lambda: sorted(c["state"] for c in self.hub_rows(first)[1].values()) == ["leader", "standby"],
                   20, what="one leader and one standby listed")
        _, rows, _ = self.hub_rows(first)
        self.assertEqual(set(rows), {h.address() for h in self.hubs}, "the other hub comes from the election")
        [leader] = [h for h in self.hubs if rows[h.address()]["state"] == "leader"]
        [standby] = [h for h in self.hubs if h is not leader]
        self.assertEqual(rows[standby.address()]["note"], "leader: " + leader.address())
        leader.kill(signal.SIGKILL)
        both = f"{leader.address()},{standby.address()}"
        wait_until(lambda: self.hub_rows(both)[1][standby.address()]["state"] == "leader", 20,
                   what="the standby took over")
        code, rows, doc = self.hub_rows(both)
        self.assertEqual(code, 1)
        self.assertEqual(rows[leader.address()]["state"], "down")
        self.assertIn(f"hub {leader.address()} is down: UNAVAILABLE", " ".join(doc["problems"]))
