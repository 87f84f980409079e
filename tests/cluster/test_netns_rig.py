"""Multi-host rig: seed 003's scenario on five "machines", one network namespace each.

    hub       10.213.X.1    skyport-registry (:6000) + skyport-hub (:6001 gRPC, :6002 git)
    router    10.213.X.2    skyport-router (:8080; admin on its own 127.0.0.1:6003)
    d1 d2 d3  10.213.X.11-13  skyport-drone --advertise <own address> --lease-ttl 2
    client    10.213.X.100  the developer and the users: git push, the skyport CLI, HTTP clients

Every machine has loopback up and one veth into a sixth, "switch" namespace holding
the bridge (netns_rig.py: the namespaces, links, cleanup and watchdog, shared with
test_netns_rig_etcd.py).

The scenario: push examples/webapp (commit A); deploy A on all three drones;
`skyport registry show` lists it with each drone's own address; a request through
the router; push B (the text changed with the same substitution as scripts/demo.sh)
and deploy it beside A; `skyport split webapp A=50 B=50`; 400 cookie-less requests
see each arm 50% +- 10 points (binomial sd at n=400 is 2.5 points: 4 sd), and a cookie
keeps its arm over 20 requests; under a load loop, d3 dies (kill -9 of every process
in its namespace, then its link is deleted): its entries leave the registry within
the lease TTL and the load loop sees no failed request. Last, a flight started from
the CLI on the hub machine sends every user to B through the router machine, and
`skyport flight kill` puts them all back on A at once.

Cleanup, leftovers of killed runs and the skip without root (exit 77): netns_rig.py.
"""
import json
import os
import time

from rig_case import LoadLoop, RigTestCase, main
from netns_rig import run
from harness import binary, wait_until  # (netns_rig put tests/integration on the path)

MACHINES = {"hub": 1, "router": 2, "d1": 11, "d2": 12, "d3": 13, "client": 100}
DRONES = ("d1", "d2", "d3")
LEASE_TTL = 2
HOST = "webapp.localhost"


class NetnsRigTest(RigTestCase):
    DRONES = DRONES
    HOST = HOST

    def test_seed003_across_machines(self):
        self.run_rig(MACHINES, self.scenario)

    def scenario(self, t0):
        rig = self.rig
        hub_ip, router_ip = rig.ip["hub"], rig.ip["router"]
        rig.cluster_env.update(SKYPORT_HUB=f"{hub_ip}:6001", SKYPORT_REGISTRY=f"{hub_ip}:6000")
        step = self.step

        step(f"network {rig.subnet}.0/24 on a bridge in {rig.switch}")
        self.assertNotIn(rig.subnet + ".", run(["ip", "-o", "addr"]).stdout + run(["ip", "route"]).stdout,
                         "the host's own namespace gets no address or route")

        step("daemons")
        reg = rig.spawn("hub", "registry", [
            binary("skyport-registry"), "--listen", f"{hub_ip}:6000", "--data", os.path.join(rig.tmp, "registry"),
            "--token-file", rig.token_file, "--port-file", os.path.join(rig.tmp, "registry.port"),
            "--metrics-listen", "127.0.0.1:0"])
        hub = rig.spawn("hub", "hub", [
            binary("skyport-hub"), "--listen", f"{hub_ip}:6001", "--git-listen", f"{hub_ip}:6002",
            "--data", os.path.join(rig.tmp, "hub"), "--token-file", rig.token_file,
            "--port-file", os.path.join(rig.tmp, "hub.port"), "--metrics-listen", "", "--deploy-timeout", "60",
            "--registry", f"{hub_ip}:6000"])
        rig.wait_port_file(os.path.join(rig.tmp, "registry.port"), reg, "registry")
        rig.wait_port_file(os.path.join(rig.tmp, "hub.port"), hub, "hub")
        drones = {d: self.start_drone(d, f"{hub_ip}:6001", f"{hub_ip}:6000", LEASE_TTL) for d in DRONES}
        self.start_router(f"{hub_ip}:6000")
        self.wait_drones_attached(drones, "three drones attached to the hub across the bridge")

        step("push commit A from the client machine")
        a = self.init_webapp()
        push_url = f"http://skyport:{rig.token}@{hub_ip}:6002/webapp.git"
        self.git("push", "-q", push_url, "master", machine="client")

        step(f"deploy A {a[:12]} on d1, d2, d3")
        self.deploy(a)
        show = self.cli_json("registry", "show", "webapp")
        self.assertIn(a, show)
        a_hosts = [e["host"] for e in show[a]["web"]]
        self.assertEqual(sorted(a_hosts), sorted(rig.ip[d] for d in DRONES),
                         f"registry show must list A once per drone, with each drone's own address: {show}")
        by_drone = {e[2]: e[0] for e in self.web_entries()[a]}
        self.assertEqual(by_drone, {d: rig.ip[d] for d in DRONES})

        step("through the router: A")
        r = wait_until(lambda: self.answered_by(a), 15, interval=0.1, what="the router serving A")
        a_text = r["body"]
        self.assertIn("beep boop", a_text)

        step("push commit B and deploy it beside A")
        b, changed = self.commit_change('"beep boop"', '"beepity boop!"', "beepity")
        self.assertNotEqual(a, b)
        self.git("push", "-q", push_url, "master", machine="client")
        self.deploy(b)
        entries = self.web_entries()
        self.assertEqual(self.drone_hosts(a), {rig.ip[d] for d in DRONES}, "A keeps running beside B")
        self.assertEqual(len(entries[a]) + len(entries[b]), 6)
        # No split yet: the newest commit takes all traffic.
        wait_until(lambda: self.answered_by(b), 15, interval=0.1, what="the router serving B (newest) before the split")

        step("split 50/50")
        self.cli("split", "webapp", f"{a[:12]}=50", f"{b[:12]}=50")
        wait_until(lambda: self.routes_weigh({a: 50, b: 50}), 15, interval=0.1,
                   what="the router's table with the 50/50 split")

        n = 400
        burst = self.burst(n)
        self.assertEqual(burst["failures"], [], "cookie-less requests through the router")
        self.assertEqual(burst["ok"], n)
        self.assertEqual(set(burst["commits"]), {a, b}, burst["commits"])
        for c in (a, b):
            share = burst["commits"][c] / n
            self.assertTrue(0.40 <= share <= 0.60, f"{c[:12]} got {share:.1%} of {n} (want 50% +- 10 points)")
        self.assertEqual(burst["bodies"][a], a_text)
        if changed:
            self.assertIn("beepity boop!", burst["bodies"][b])
        else:
            self.assertNotEqual(burst["bodies"].get(b), None)
        hosts = {i.rsplit(":", 1)[0] for i in burst["instances"]}
        self.assertEqual(hosts, {rig.ip[d] for d in DRONES}, f"traffic reaches every drone machine: {burst['instances']}")
        step(f"{n} cookie-less requests: A {burst['commits'][a]}, B {burst['commits'][b]}")

        sticky = self.client("sticky", f"{router_ip}:8080", "--host", HOST, "--users", "6", "--count", "20")
        self.assertEqual(sticky["failures"], [])
        for u in sticky["users"]:
            self.assertEqual(len(u["commits"]), 21)
            self.assertEqual(set(u["commits"]), {u["commits"][0]}, f"cookie {u['cookie']} changed arms: {u['commits']}")
            self.assertIn(u["commits"][0], (a, b))
        step("sticky: 6 users x 20 requests kept their arm")

        step("load loop; kill the d3 machine")
        victim = "d3"
        victim_ip = rig.ip[victim]
        load = LoadLoop(rig, f"{router_ip}:8080", HOST)
        wait_until(lambda: len(load.ok_since(0, victim_ip)) >= 20, 20,
                   what="the load loop reaching the victim's instances")
        t_kill = time.monotonic()
        rig.kill_machine(victim)
        t_killed = time.monotonic()
        wait_until(lambda: victim_ip not in {h for roles in self.entries().values() for es in roles.values()
                                             for h, _, _ in es}
                   and self.drone_hosts(a) and self.drone_hosts(b),
                   LEASE_TTL + 5, interval=0.05, what=f"{victim}'s entries leaving the registry")
        t_gone = time.monotonic()
        step(f"{victim} killed in {t_killed - t_kill:.2f}s; its entries left the registry "
             f"{t_gone - t_kill:.2f}s after the kill (lease TTL {LEASE_TTL}s)")
        self.assertLessEqual(t_gone - t_kill, LEASE_TTL + 1.0, "entries must leave within the lease TTL (+1 s of polling)")
        left = {c: {h for h, _, _ in es} for c, es in self.web_entries().items()}
        for c in (a, b):
            self.assertEqual(left.get(c), {rig.ip["d1"], rig.ip["d2"]}, f"{c[:12]} on the surviving drones")
        wait_until(lambda: len(load.ok_since(t_gone)) >= 100, 20, what="traffic continuing after the kill")
        rig.unplug(victim)  # the dead machine also leaves the network
        t_unplug = time.monotonic()
        wait_until(lambda: len(load.ok_since(t_unplug)) >= 50, 20, what="traffic continuing after the unplug")
        oks, fails = load.stop()
        self.assertEqual(fails, [], f"failed requests in the load loop ({len(oks)} ok)")
        after = [x for x in oks if float(x[1]) > t_gone]
        self.assertEqual([x for x in after if x[2].rsplit(":", 1)[0] == victim_ip], [],
                         "answers from the dead machine after its entries left")
        self.assertEqual({x[3] for x in after}, {a, b}, "both arms keep serving after the kill")
        during = [x for x in oks if t_kill < float(x[1]) <= t_gone]
        step(f"load loop: {len(oks)} ok, 0 failed ({len(during)} between the kill and the entries leaving)")

        step("a flight from the hub machine: every user to B through the router machine, then kill")
        spec = {"name": "rig-flight", "app": "webapp", "arms": {"control": a[:12], "treatment": b[:12]},
                "control": "control", "flightplan": [{"action": "weight", "arms": {"treatment": 100}},
                                                     {"action": "wait", "for": "1h"}]}
        spec_path = os.path.join(rig.tmp, "flight.json")
        with open(spec_path, "w") as f:
            json.dump(spec, f)
        self.cli("flight", "start", spec_path)

        def burst_commits(n=100):
            r = self.burst(n)
            self.assertEqual(r["failures"], [])
            return r["commits"]
        wait_until(lambda: burst_commits(40) == {b: 40}, 15, interval=0.1, what="the flight's users all on B")
        killed = self.cli_json("flight", "kill", "rig-flight", "--json")
        self.assertIn(killed["state"], ("cleanup", "killed"))
        wait_until(lambda: burst_commits(20) == {a: 20}, 1.0, interval=0.01,
                   what="every user back on control within a second of the kill")
        self.assertEqual(burst_commits(), {a: 100}, "kill: every user back on control")
        wait_until(lambda: self.cli_json("flight", "status", "rig-flight", "--json")["state"] == "killed", 15,
                   what="the flight marked killed")
        step("flight: 40/40 on B while it ran; kill put 100/100 back on A")
        step("teardown")


if __name__ == "__main__":
    main()
