"""Multi-host rig with the control plane on etcd (issue 15): seed 003's scenario on
eight "machines", one network namespace each, and one control-plane machine killed.

    cp1 cp2 cp3  10.213.X.1-3    each: an etcd member (:2379 clients, :2380 peers),
                                 skyport-registry --store etcd (:6000),
                                 skyport-hub --store etcd (:6001 gRPC, :6002 git)
    router       10.213.X.20     skyport-router (:8080), given the registry and hub lists
    d1 d2 d3     10.213.X.11-13  skyport-drone --advertise <own address>, given both lists
    client       10.213.X.100    the developer and the users: git push, the CLI, HTTP clients

Every daemon gets every control-plane machine in its lists; the router's and each
drone's lists start at different machines, and the router's and d1's start at the
machine that will die (started once the hubs elected their leader: the victim is the
machine of the hub leader), so that the router's registry watch, a drone's lease and a
drone's hub stream are each on the dead machine when it dies. The plumbing
(namespaces, links, cleanup, the watchdog, exit 77 without root) is netns_rig.py.

The scenario: push examples/webapp (commit A) to the leader; deploy A on d1-d3;
`skyport registry show` through the registry list lists it with each drone's own
address; a request through the router; push B and deploy it beside A; split 50/50
(400 cookie-less requests: each arm 50% +- 10 points). Then, under a load loop through
the router, the leader's machine dies: kill -9 of every process in its namespace (its
etcd member, registry and hub), then its link is deleted. What the test holds the
cluster to:
  - the router keeps routing: no failed request in the load loop, from before the kill
    to after the new split below (the router serves from its table; the drones' leases
    are etcd leases, kept alive through the surviving registries, and etcd renews every
    lease's full TTL when its own leader changes, so no entry expires);
  - a standby hub leads within 3 s of the kill, and exactly one does (the time of its
    `hub leading: took over` log line; skyport_hub_is_leader on the two survivors). The
    worst case is forced: etcd's leader is moved to the victim (`etcdctl move-leader`)
    before the kill, so etcd elects a new leader too, which extends every lease by an
    election timeout. The members run with --heartbeat-interval 30 --election-timeout 300
    and the hubs with --leader-ttl 1s, as docs/operations.md recommends for a 3 s fail-over;
  - etcd keeps quorum: both survivors healthy, agreeing on a leader among them, the
    dead member still listed (3 members, 2 up), a write through the survivors works;
  - registrations work through the remaining registries: `skyport registry register`
    (an allocated port, a 3 s TTL) with the dead registry first in the list is listed,
    then expires (etcd's expiry, through the survivors);
  - the CLI, with the dead hub first in its list, deploys again and changes the split.
What it deploys after the fail-over: the new leader already holds B (a push is
acknowledged only once a standby holds it too: B is deployed again through the hub
list and the new leader answers); commit C is pushed to the surviving standby's git
URL, which redirects (307) to the new leader. C is deployed on
d1-d3 through the hub list and the split set to B=50 C=50 through the registry list:
400 requests, each arm 50% +- 10 points, none failed.

Needs root and etcd (`etcd`, `etcdctl`; scripts/setup.sh installs them): otherwise it
says why and exits 77 (skipped).
"""
import datetime
import json
import os
import shutil
import time
import unittest

from rig_case import LoadLoop, RigTestCase, main
from netns_rig import run
from harness import binary, wait_until  # (netns_rig put tests/integration on the path)

CPS = ("cp1", "cp2", "cp3")
DRONES = ("d1", "d2", "d3")
MACHINES = {"cp1": 1, "cp2": 2, "cp3": 3, "router": 20, "d1": 11, "d2": 12, "d3": 13, "client": 100}
HOST = "webapp.localhost"
LEASE_TTL = 5           # the drones' (skyport-drone's default)
FAILOVER_BUDGET_S = 3.0  # issue 15: a standby takes over within 3 s of the leader's death
# The settings docs/operations.md ("Three control-plane machines") gives for a 3 s fail-over
# even when the dead machine also led etcd: etcd elects a leader 1-2 election timeouts after
# the death (0.3-0.6 s), which extends every lease by one more (0.3 s) on top of its TTL (the
# hub's 1 s), and revokes expired leases every 0.5 s: the key goes 1.6-2.4 s after the death.
# (etcd's defaults, 100/1000 ms, with --leader-ttl 2s: 5.0 and 5.8 s measured in this rig.)
ETCD_HEARTBEAT_MS = 30
ETCD_ELECTION_MS = 300
LEADER_TTL = "1s"
ETCD = shutil.which("etcd")
ETCDCTL = shutil.which("etcdctl")


def rotate(seq, first):
    """`seq` starting at `first` (the rest in order)."""
    i = seq.index(first)
    return seq[i:] + seq[:i]


class NetnsRigEtcdTest(RigTestCase):
    DRONES = DRONES
    HOST = HOST

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if not ETCD or not ETCDCTL:
            raise unittest.SkipTest("etcd is not installed (scripts/setup.sh installs etcd-server and etcd-client)")

    def test_seed003_control_plane_on_etcd_one_machine_killed(self):
        self.run_rig(MACHINES, self.scenario)

    # ----------------------------------------------------------- addresses

    def registry_list(self, cps):
        return ",".join(f"{self.rig.ip[c]}:6000" for c in cps)

    def hub_list(self, cps):
        return ",".join(f"{self.rig.ip[c]}:6001" for c in cps)

    def etcd_url(self, cp, port=2379):
        return f"http://{self.rig.ip[cp]}:{port}"

    def etcd_endpoints(self, first):
        """Every member's client URL, the machine's own first."""
        return ",".join(self.etcd_url(c) for c in rotate(CPS, first))

    def env_lists(self, first):
        """The client's environment with both lists starting at machine `first`."""
        return {**self.rig.env(), "SKYPORT_HUB": self.hub_list(rotate(CPS, first)),
                "SKYPORT_REGISTRY": self.registry_list(rotate(CPS, first))}

    # ------------------------------------------------------------- probes

    def etcdctl(self, on, members, *args, check=True):
        return self.rig.exec(on, [ETCDCTL, "--endpoints", ",".join(self.etcd_url(m) for m in members),
                                  "--dial-timeout", "2s", "--command-timeout", "5s", *args],
                             check=check, timeout=20, env={**self.rig.env(), "ETCDCTL_API": "3"})

    def etcd_status(self, on, members):
        """{member machine: (its id, the leader's id)} from `etcdctl endpoint status`, or None."""
        r = self.etcdctl(on, members, "endpoint", "status", "-w", "json", check=False)
        if r.returncode != 0:
            return None
        urls = {self.etcd_url(m): m for m in members}
        return {urls[st["Endpoint"]]: (st["Status"]["header"]["member_id"], st["Status"]["leader"])
                for st in json.loads(r.stdout)}

    def etcd_leader(self, on, members):
        """The machine whose member leads etcd, once every member in `members` agrees."""
        def agreed():
            st = self.etcd_status(on, members)
            if not st or len({lead for _, lead in st.values()}) != 1:
                return None
            lead = next(iter(st.values()))[1]
            return next((m for m, (mid, _) in st.items() if mid == lead), None)
        return wait_until(agreed, 20, interval=0.1, what=f"etcd members {members} agreeing on a leader")

    def move_etcd_leader(self, to):
        """Makes `to`'s member lead etcd (`etcdctl move-leader`, sent to the current leader)."""
        lead = self.etcd_leader("client", CPS)
        if lead == to:
            return
        target = self.etcd_status("client", CPS)[to][0]
        self.etcdctl("client", [lead], "move-leader", f"{target:x}")
        wait_until(lambda: self.etcd_leader("client", CPS) == to, 10, interval=0.1,
                   what=f"etcd's leader moved to {to}")

    def is_leader(self, cp):
        """skyport_hub_is_leader of cp's hub (its metrics listener, on cp's own loopback); None if unreachable."""
        r = self.client("get", "http://127.0.0.1:6011/metrics", "--timeout", "1", machine=cp, timeout=10)
        for line in r.get("body", "").splitlines():
            if line.startswith("skyport_hub_is_leader "):
                return float(line.split()[1]) == 1
        return None

    def took_over_at(self, cp):
        """The wall-clock time (s) of the last `hub leading: took over` line in cp's hub log (UTC, ms)."""
        for line in reversed(self.rig.log(f"hub-{cp}").splitlines()):
            if "hub leading: took over" in line:
                ts = datetime.datetime.strptime(line.split()[0], "%Y-%m-%dT%H:%M:%S.%fZ")
                return ts.replace(tzinfo=datetime.timezone.utc).timestamp()
        raise AssertionError(f"no 'hub leading: took over' in {cp}'s hub log:\n{self.rig.log(f'hub-{cp}')}")

    def hub_leaders(self, cps):
        return [c for c in cps if self.is_leader(c)]

    def one_hub_leader(self, cps, interval=0.1):
        """The machine of the one hub leading among `cps` (polls until exactly one does)."""
        return wait_until(lambda: (lambda ls: len(ls) == 1 and ls[0])(self.hub_leaders(cps)), 15,
                          interval=interval, what=f"exactly one hub leading among {list(cps)}")

    # ------------------------------------------------------------- the test

    def scenario(self, t0):
        rig = self.rig
        self.step(f"network {rig.subnet}.0/24 on a bridge in {rig.switch}")
        self.assertNotIn(rig.subnet + ".", run(["ip", "-o", "addr"]).stdout + run(["ip", "route"]).stdout,
                         "the host's own namespace gets no address or route")
        victim = self.start_control_plane()
        self.start_fleet(victim)
        a, b = self.seed003(victim)
        load = self.kill_machine_under_load(victim)
        lead = self.one_hub_leader([c for c in CPS if c != victim])
        self.check_etcd_quorum(victim)
        self.check_registrations(victim)
        c = self.deploy_and_split_after(victim, lead, b)
        oks, fails = load.stop()
        self.assertEqual(fails[:5], [], f"failed requests in the load loop ({len(fails)} failed, {len(oks)} ok)")
        served = {x[3] for x in oks if self.t_kill < float(x[1]) <= self.t_split}
        self.assertEqual(served, {a, b}, "both arms keep serving between the kill and the new split")
        self.assertIn(c, {x[3] for x in oks if float(x[1]) > self.t_split}, "the load loop reaches C after the split")
        self.step(f"load loop: {len(oks)} ok, 0 failed ({len([x for x in oks if float(x[1]) > self.t_kill])} "
                  "after the kill)")
        self.step("teardown")

    def start_control_plane(self):
        """etcd, a registry and a hub on each control-plane machine; returns the hub leader's machine."""
        rig, ip = self.rig, self.rig.ip
        self.step("etcd: one member per control-plane machine")
        cluster = ",".join(f"{c}={self.etcd_url(c, 2380)}" for c in CPS)
        for c in CPS:
            rig.spawn(c, f"etcd-{c}", [
                ETCD, "--name", c, "--data-dir", os.path.join(rig.tmp, f"etcd-{c}"),
                "--listen-client-urls", self.etcd_url(c), "--advertise-client-urls", self.etcd_url(c),
                "--listen-peer-urls", self.etcd_url(c, 2380), "--initial-advertise-peer-urls", self.etcd_url(c, 2380),
                "--initial-cluster", cluster, "--initial-cluster-state", "new",
                "--initial-cluster-token", f"skyrig{rig.pid}",
                "--heartbeat-interval", str(ETCD_HEARTBEAT_MS), "--election-timeout", str(ETCD_ELECTION_MS),
                "--logger", "zap", "--log-outputs", "stderr", "--log-level", "warn"])
        wait_until(lambda: self.etcdctl("client", CPS, "endpoint", "health", check=False).returncode == 0, 30,
                   interval=0.2, what="three healthy etcd members")
        self.etcd_leader("client", CPS)

        self.step("registry and hub on each control-plane machine (--store etcd)")
        procs = {}
        for c in CPS:
            procs[f"registry-{c}"] = rig.spawn(c, f"registry-{c}", [
                binary("skyport-registry"), "--store", "etcd", "--etcd-endpoints", self.etcd_endpoints(c),
                "--listen", f"{ip[c]}:6000", "--token-file", rig.token_file,
                "--port-file", os.path.join(rig.tmp, f"registry-{c}.port"), "--metrics-listen", "127.0.0.1:6010"])
            procs[f"hub-{c}"] = rig.spawn(c, f"hub-{c}", [
                binary("skyport-hub"), "--store", "etcd", "--etcd-endpoints", self.etcd_endpoints(c),
                "--listen", f"{ip[c]}:6001", "--advertise", f"{ip[c]}:6001",
                "--git-listen", f"{ip[c]}:6002", "--advertise-git", f"http://{ip[c]}:6002",
                "--data", os.path.join(rig.tmp, f"hub-{c}"), "--token-file", rig.token_file,
                "--port-file", os.path.join(rig.tmp, f"hub-{c}.port"), "--metrics-listen", "127.0.0.1:6011",
                "--deploy-timeout", "60", "--registry", self.registry_list(rotate(CPS, c)),
                "--leader-ttl", LEADER_TTL])
        for name, p in procs.items():
            rig.wait_port_file(os.path.join(rig.tmp, f"{name}.port"), p, name)
        victim = self.one_hub_leader(CPS)
        # The client: both lists in machine order (dead_first() puts the dead machine first).
        rig.cluster_env.update(SKYPORT_HUB=self.hub_list(CPS), SKYPORT_REGISTRY=self.registry_list(CPS))
        self.step(f"hub leader: {victim} (the machine that will die)")
        return victim

    def start_fleet(self, victim):
        """Three drones and the router; the router's lists and d1's start at the victim, d2's and d3's
        at the next machines."""
        self.step("drones and the router, their lists starting at different machines")
        drones = {}
        for k, d in enumerate(DRONES):
            first = rotate(CPS, victim)[k]
            drones[d] = self.start_drone(d, self.hub_list(rotate(CPS, first)), self.registry_list(rotate(CPS, first)),
                                         LEASE_TTL)
        self.start_router(self.registry_list(rotate(CPS, victim)), hub=self.hub_list(rotate(CPS, victim)))
        self.wait_drones_attached(drones, "three drones attached to the hub leader")

    def seed003(self, leader):
        """Seed 003 up to the split, pushing to the leader's git URL; returns commits A and B."""
        rig, ip = self.rig, self.rig.ip
        push_url = f"http://skyport:{rig.token}@{ip[leader]}:6002/webapp.git"
        self.step("push commit A from the client machine to the leader")
        a = self.init_webapp()
        self.git("push", "-q", push_url, "master", machine="client")

        self.step(f"deploy A {a[:12]} on d1, d2, d3 through the hub list")
        self.deploy(a)
        show = self.cli_json("registry", "show", "webapp", "--json")
        self.assertIn(show.pop("answered_by"), self.registry_list(CPS).split(","))
        self.assertEqual(sorted(e["host"] for e in show[a]["web"]), sorted(ip[d] for d in DRONES),
                         f"registry show must list A once per drone, with each drone's own address: {show}")

        self.step("through the router: A")
        r = wait_until(lambda: self.answered_by(a), 15, interval=0.1, what="the router serving A")
        self.assertIn("beep boop", r["body"])

        self.step("push commit B and deploy it beside A; split 50/50")
        b, _ = self.commit_change('"beep boop"', '"beepity boop!"', "beepity")
        self.git("push", "-q", push_url, "master", machine="client")
        self.deploy(b)
        self.assertEqual(self.drone_hosts(a), {ip[d] for d in DRONES}, "A keeps running beside B")
        self.cli("split", "webapp", f"{a[:12]}=50", f"{b[:12]}=50")
        wait_until(lambda: self.routes_weigh({a: 50, b: 50}), 15, interval=0.1,
                   what="the router's table with the 50/50 split")
        self.assert_split(400, {a: 0.5, b: 0.5})
        return a, b

    def kill_machine_under_load(self, victim):
        """Moves etcd's leader to the victim, starts the load loop, kills the victim machine (kill -9
        of everything in it, then its link) and checks that a standby hub took over within 3 s.
        Returns the running load loop."""
        rig = self.rig
        self.step(f"etcd's leader to {victim} too: the worst case for the hub's fail-over")
        self.move_etcd_leader(victim)

        self.step(f"load loop; kill the {victim} machine (etcd leader, registry, hub leader)")
        load = LoadLoop(rig, f"{rig.ip['router']}:8080", HOST)
        wait_until(lambda: len(load.ok_since(0)) >= 50, 20, what="the load loop under way")
        self.assertEqual(self.hub_leaders(CPS), [victim], "the hub leader did not change before the kill")
        self.assertEqual(self.etcd_leader("client", CPS), victim, "etcd's leader did not change before the kill")
        self.t_kill, wall_kill = time.monotonic(), time.time()
        rig.kill_machine(victim)
        rig.unplug(victim)
        t_dead = time.monotonic()
        lead = self.one_hub_leader([c for c in CPS if c != victim], interval=0.02)
        seen = time.monotonic() - self.t_kill
        took = self.took_over_at(lead) - wall_kill  # the hub's own log line: no polling delay
        self.step(f"{victim} dead (kill -9 and unplug: {t_dead - self.t_kill:.2f}s); {lead}'s hub took over "
                  f"{took:.2f}s after the kill (seen leading by the test after {seen:.2f}s)")
        self.assertLess(took, FAILOVER_BUDGET_S, "a standby hub must lead within 3 s of the leader machine's death")
        return load

    def check_etcd_quorum(self, victim):
        survivors = [c for c in CPS if c != victim]
        self.step("etcd keeps quorum with 2 of 3 members")
        self.assertIn(self.etcd_leader(survivors[0], survivors), survivors)
        self.etcdctl(survivors[0], survivors, "endpoint", "health")
        members = self.etcdctl(survivors[0], survivors, "member", "list", "-w", "json").stdout
        self.assertEqual(len(json.loads(members)["members"]), 3, "the dead member stays a member until removed")
        self.etcdctl(survivors[0], survivors, "put", "/rig-probe/quorum", "written with 2 of 3")
        got = self.etcdctl(survivors[1], survivors, "get", "--print-value-only", "/rig-probe/quorum").stdout
        self.assertEqual(got.strip(), "written with 2 of 3")

    def check_registrations(self, victim):
        """`skyport registry register` (an allocated port, a 3 s TTL) through the list with the dead
        registry first: answered by a survivor, listed, then expired by etcd."""
        ip = self.rig.ip
        self.step("registrations through the remaining registries (the dead one first in the list)")
        dead_first = self.env_lists(victim)
        r = self.cli("registry", "register", "rigprobe@beef", "probe", "--host", ip["client"], "--ttl", "3", "--json",
                     env=dead_first, timeout=30)
        self.assertIn(json.loads(r.stdout)["answered_by"],
                      self.registry_list(c for c in CPS if c != victim).split(","), r.stdout)

        def probe_hosts():
            r = self.cli("registry", "show", "rigprobe", env=dead_first, check=False, timeout=30)
            return {e["host"] for e in json.loads(r.stdout or "{}").get("beef", {}).get("probe", [])} \
                if r.returncode == 0 else None
        self.assertEqual(probe_hosts(), {ip["client"]}, "a registration through the survivors is listed")
        wait_until(lambda: probe_hosts() == set(), 10, interval=0.2, what="the 3 s probe lease expiring in etcd")

    def deploy_and_split_after(self, victim, lead, b):
        """Pushes C to the surviving standby (redirected to the new leader), deploys it through the
        hub list with the dead hub first, and splits B=50 C=50 through the registry list; returns C."""
        rig, ip = self.rig, self.rig.ip
        standby = next(c for c in CPS if c not in (victim, lead))
        self.step(f"push commit C to the surviving standby's git URL ({standby}: redirected to {lead})")
        askpass = os.path.join(rig.tmp, "askpass.sh")
        with open(askpass, "w") as f:
            f.write(f"#!/bin/sh\necho {rig.token}\n")
        os.chmod(askpass, 0o700)
        # Replication: B was acknowledged by the dead leader only once a standby held it, so the new
        # leader resolves and deploys it (B runs already: the deploy changes nothing on the drones).
        self.step(f"deploy B {b[:12]} again through the hub list: the new leader {lead} has it (replicated)")
        r = self.deploy(b, env=self.env_lists(victim))
        answered = {json.loads(x)["answered_by"] for x in r.stdout.splitlines() if x.startswith("{")}
        self.assertEqual(answered, {f"{ip[lead]}:6001"}, r.stdout)
        c, _ = self.commit_change('"beepity boop!"', '"beepity boop, again"', "again")
        r = self.git("push", f"http://skyport@{ip[standby]}:6002/webapp.git", "master", machine="client",
                     env={"GIT_ASKPASS": askpass})
        self.assertIn(f"redirecting to http://{ip[lead]}:6002/webapp.git", r.stderr)

        self.step(f"deploy C {c[:12]} through the hub list (the dead hub first); split B=50 C=50")
        dead_first = self.env_lists(victim)
        r = self.deploy(c, env=dead_first)
        answered = {json.loads(x)["answered_by"] for x in r.stdout.splitlines() if x.startswith("{")}
        self.assertEqual(answered, {f"{ip[lead]}:6001"}, r.stdout)
        self.t_split = time.monotonic()  # before: the router may apply it before the CLI returns
        self.cli("split", "webapp", f"{b[:12]}=50", f"{c[:12]}=50", env=dead_first, timeout=30)
        wait_until(lambda: self.routes_weigh({b: 50, c: 50}), 15, interval=0.1,
                   what="the router's table with the new split")
        self.assert_split(400, {b: 0.5, c: 0.5})
        return c

    def deploy(self, commit, env=None):
        return super().deploy(commit, env=env, extra=("--json",))

    def assert_split(self, n, shares):
        burst = self.burst(n)
        self.assertEqual(burst["failures"], [], "cookie-less requests through the router")
        self.assertEqual(burst["ok"], n)
        self.assertEqual(set(burst["commits"]), set(shares), burst["commits"])
        for c, want in shares.items():
            got = burst["commits"][c] / n
            self.assertTrue(abs(got - want) <= 0.10, f"{c[:12]} got {got:.1%} of {n} (want {want:.0%} +- 10 points)")
        self.step(f"{n} cookie-less requests: " + ", ".join(f"{c[:12]} {burst['commits'][c]}" for c in shares))


if __name__ == "__main__":
    main()
