"""skyport-registry --store etcd on real etcd clusters (etcd_cluster.py), on 127.0.0.1.

The behaviour tests of test_registry.py run again with the state in etcd; then
two registries share a three-member cluster: what one writes the other's
watchers see, their port allocations never collide, a lease outlives the
registry it was granted through, an etcd leader killed under load loses no
acknowledged write, a watcher resuming from a compacted revision gets a
snapshot. Skipped, saying why, when etcd is not installed.
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import uuid

import test_registry
from etcd_cluster import EtcdCluster
from harness import BIN, ClusterTest, DeployTest, Registry, Router, binary, wait_until

A = test_registry.A
B = test_registry.B
ECHO = test_registry.ECHO
entries = test_registry.entries


def etcd_json(cluster, call, body):
    """One call to etcd's JSON gateway (keys and values base64): for values etcdctl cannot pass."""
    import urllib.request
    req = urllib.request.Request(cluster.endpoints().split(",")[0] + "/v3/" + call, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    return json.loads(urllib.request.urlopen(req, timeout=5).read())


def etcd_store(cluster, prefix):
    # A sweep every second: every test here also checks that it never touches a live lease.
    return ["--store", "etcd", "--etcd-endpoints", cluster.endpoints(), "--etcd-prefix", prefix,
            "--lease-sweep", "1"]


def start_allocate_check(test, *args):
    """tests/registry/allocate_check against test.registry, talking through pipes (it pauses)."""
    tool = os.path.join(BIN, "tests", "allocate_check")
    if not os.access(tool, os.X_OK):
        test.skipTest(f"{tool} not built (cmake --build build --target allocate_check)")
    p = subprocess.Popen([tool, "--registry", test.registry.address(), "--token-file", test.token_file, *args],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    test.addCleanup(lambda: p.poll() is None and p.kill())
    return p


def until_paused(test, p, lines):
    """allocate_check's JSON lines (appended to `lines`, all checks ok) up to its pause; the pause's line."""
    pause = []

    def paused():
        line = json.loads(p.stdout.readline())
        (pause if line.get("paused") else lines).append(line)
        return pause
    wait_until(paused, 30, what="allocate_check paused")
    test.assertEqual([c for c in lines if not c["ok"]], [])
    return pause[0]


class EtcdStoreMixin:
    """One etcd cluster per class; every test its own key prefix (nothing leaks between tests)."""
    MEMBERS = 1

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.etcd = EtcdCluster(members=cls.MEMBERS)

    @classmethod
    def tearDownClass(cls):
        cls.etcd.stop()
        super().tearDownClass()

    def registry_store(self):
        self.prefix = f"/t-{uuid.uuid4().hex[:12]}/"
        return etcd_store(self.etcd, self.prefix)

    def etcd_keys(self, sub=""):
        out = self.etcd.etcdctl("get", "--prefix", "--keys-only", self.prefix + "registry/" + sub).stdout
        return [k for k in out.splitlines() if k]


class RegistryOnEtcdTest(EtcdStoreMixin, test_registry.RegistryTest):
    """Every case of test_registry.RegistryTest, with --store etcd (a kill -9 restarts onto the same etcd)."""

    def test_allocations_an_older_registry_made_without_an_identity_index(self):
        # allocate_check --without-index allocates, then waits while the index keys go (as an older
        # registry writes none), then registers on, releases, re-allocates and revokes them.
        p = start_allocate_check(self, "--without-index")
        lines = []  # the grants' checks, then the pause
        paused = until_paused(self, p, lines)
        index = f"{self.prefix}registry/unreg/{paused['lease']:016x}/"
        self.assertEqual(len(self.etcd_keys(f"unreg/{paused['lease']:016x}/")), 3)
        self.etcd.etcdctl("del", "--prefix", index)
        self.assertEqual(self.etcd_keys("unreg/"), [])
        out, err = p.communicate("\n", timeout=60)
        checks = [json.loads(line) for line in out.splitlines() if line.strip()]
        self.assertEqual([c for c in checks if not c["ok"]], [], err)
        self.assertEqual(p.returncode, 0, err)
        self.assertEqual(len(lines) + len(checks), 10)

    def test_register_cmd_registers_again_after_the_registry_lost_its_lease(self):
        # etcd forgets the lease (revoked behind the registry's back): KeepAlive gets NOT_FOUND.
        p = self.spawn("registry", "register", f"webapp@{A}", "http", "--host", "127.0.0.1", "--ttl", "2",
                       "--", sys.executable, ECHO)
        [(_, _, e)] = wait_until(lambda: self.wide(), 15, what="entry registered")
        [lease_key] = self.etcd_keys("lease/")
        self.etcd.etcdctl("lease", "revoke", lease_key.rsplit("/", 1)[1])
        [(_, _, again)] = wait_until(lambda: [x for x in self.wide() if x[2]["id"] != e["id"]] or None, 15,
                                     what="entry registered under a new lease")
        self.assertEqual((again["port"], again["pid"]), (e["port"], e["pid"]))
        os.kill(e["pid"], signal.SIGTERM)
        p.wait(timeout=15)
        self.assertIn("granting a new one and registering again", p.stderr.read())
        wait_until(lambda: self.show() == {}, 2, what="entry freed after CMD exit")

    def etcd_json(self, call, body):
        return etcd_json(self.etcd, call, body)

    def test_register_cmd_audits_what_etcd_holds_under_its_lease(self):
        # What a restore from a backup does to a live lease, done by hand: the entry is lost (it was
        # registered after the backup), then an entry the holder no longer has comes back beside it.
        import base64
        p = self.spawn("registry", "register", f"webapp@{A}", "http", "--host", "127.0.0.1", "--ttl", "1",
                       "--", sys.executable, ECHO)
        [(_, _, e)] = wait_until(lambda: self.wide(), 15, what="entry registered")
        key = f"{self.prefix}registry/ep/{e['id']:016x}"
        [kv] = self.etcd_json("kv/range", {"key": base64.b64encode(key.encode()).decode()})["kvs"]
        self.etcd.etcdctl("del", key)
        [(_, _, again)] = wait_until(lambda: [x for x in self.wide() if x[2]["id"] != e["id"]] or None, 10,
                                     what="the lost entry registered again by the audit")
        self.assertEqual((again["port"], again["pid"]), (e["port"], e["pid"]))
        lease = int(kv["lease"])
        [kv2] = self.etcd_json("kv/range", {"key": base64.b64encode(
            f"{self.prefix}registry/ep/{again['id']:016x}".encode()).decode()})["kvs"]
        self.assertEqual(int(kv2["lease"]), lease, "registered again under the same lease")
        # The old entry back under the same lease (as a restore brings it): the holder removes it, and
        # its removal leaves the port that the new entry now carries.
        self.etcd_json("kv/put", {"key": kv["key"], "value": kv["value"], "lease": kv["lease"]})
        wait_until(lambda: [x[2]["id"] for x in self.wide()] == [again["id"]] or None, 10,
                   what="the stray entry deregistered")
        self.assertEqual(self.etcd_keys("port/"), [f"{self.prefix}registry/port/127.0.0.1/{e['port']:05d}"])
        # Still routed to the live one, and the port is not free for anyone else.
        r = self.cli("registry", "register", f"webapp@{B}", "http", "--host", "127.0.0.1", "--port", str(e["port"]),
                     check=False)
        self.assertNotEqual(r.returncode, 0, "the port was handed out twice")
        self.assertIn("ALREADY_EXISTS", r.stderr)
        os.kill(e["pid"], signal.SIGTERM)
        p.wait(timeout=15)
        err = p.stderr.read()
        self.assertIn(f"no longer holds entry {e['id']}", err)
        self.assertIn(f"holds entry {e['id']} under lease {lease} that is not ours; deregistering it", err)

    def test_metrics(self):
        self.register(f"webapp@{A}", "http", "--port", "15194")
        import urllib.request
        with urllib.request.urlopen(f"http://127.0.0.1:{self.registry.metrics_port()}/metrics") as resp:
            body = resp.read().decode()
        self.assertIn("# TYPE skyport_registry_calls_total counter", body)
        self.assertIn("skyport_registry_etcd_conflicts_total 0", body)
        self.assertIn("skyport_etcd_requests_total", body)

    def test_keys_in_etcd_and_static_lease_ends_with_its_last_entry(self):
        self.register(f"webapp@{A}", "http", "--port", "15194")
        [(_, _, e)] = self.wide()
        keys = self.etcd_keys()
        self.assertIn(f"{self.prefix}registry/ep/{e['id']:016x}", keys)
        self.assertIn(f"{self.prefix}registry/port/127.0.0.1/15194", keys)
        [lease_key] = [k for k in keys if "/lease/" in k]
        lease = lease_key.rsplit("/", 1)[1]
        self.assertIn(lease, self.etcd.etcdctl("lease", "list").stdout)
        self.cli("registry", "free", str(e["id"]))
        wait_until(lambda: self.etcd_keys() == [], 5, what="entry, port and static lease gone")
        self.assertNotIn(lease, self.etcd.etcdctl("lease", "list").stdout)

    def etcd_leases(self):
        return {int(x, 16) for x in self.etcd.etcdctl("lease", "list").stdout.split() if x != "found"
                and all(c in "0123456789abcdef" for c in x)}

    def test_a_static_lease_a_killed_registry_left_without_record_is_revoked(self):
        # What a registry killed between LeaseGrant(TTL 0) and its record Txn leaves: a lease of
        # the registry's id range that never expires, holding nothing.
        import urllib.request
        orphan = 4242
        url = self.etcd.endpoints().split(",")[0] + "/v3/lease/grant"
        req = urllib.request.Request(url, data=json.dumps({"TTL": 9000000000, "ID": orphan}).encode(),
                                     headers={"Content-Type": "application/json"})
        urllib.request.urlopen(req, timeout=5).read()
        self.register(f"webapp@{A}", "http", "--port", "15194")  # a live static lease beside it
        self.assertIn(orphan, self.etcd_leases())
        wait_until(lambda: orphan not in self.etcd_leases() or None, 10, what="orphaned static lease revoked")
        self.assertEqual(len(self.wide()), 1)  # the live one untouched
        self.assertEqual(len([k for k in self.etcd_keys() if "/lease/" in k]), 1)
        body = urllib.request.urlopen(f"http://127.0.0.1:{self.registry.metrics_port()}/metrics", timeout=5).read().decode()
        self.assertIn("skyport_registry_etcd_orphan_leases_total 1", body)

    def test_etcd_down_is_unavailable_not_a_crash(self):
        self.etcd.kill(0)
        try:
            r = self.cli("registry", "show", check=False, timeout=30)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("UNAVAILABLE", r.stderr)
            self.assertIn("etcd", r.stderr)
            self.assertIsNone(self.registry.proc.poll(), "the registry must keep running")
        finally:
            self.etcd.restart(0)
        wait_until(lambda: self.cli("registry", "show", check=False).returncode == 0, 30, what="etcd back")


class AllocateWholeRangeOnEtcdTest(EtcdStoreMixin, test_registry.AllocateWholeRangeTest):
    """test_registry.AllocateWholeRangeTest with --store etcd."""


class OwnEtcdMixin:
    """A one-member etcd of the test's own (a restore replaces it), the registry on it."""

    def setUp(self):
        self.etcd = EtcdCluster(members=1)
        self.addCleanup(self.etcd.stop)
        self.prefix = f"/t-{uuid.uuid4().hex[:12]}/"
        super().setUp()

    def registry_store(self):
        return etcd_store(self.etcd, self.prefix)


class RestoreTest(OwnEtcdMixin, ClusterTest):
    """etcd restored from a snapshot: its revisions go back (same cluster id)."""

    def routed(self, r):
        return json.dumps(r.admin_json("/routes"))

    def test_a_router_drops_what_the_restore_removed(self):
        r = Router(self.tmp, self.token_file, registry=self.registry).start()
        self.addCleanup(r.kill)
        self.cli("registry", "register", f"webapp@{A}", "web", "--host", "127.0.0.1", "--port", "15501")
        wait_until(lambda: "15501" in self.routed(r), 15, what="first entry routed")
        snap = os.path.join(self.tmp, "etcd.snapshot")
        self.etcd.snapshot_save(snap)
        for port in range(15502, 15510):  # after the snapshot: the restore takes them away
            self.cli("registry", "register", f"webapp@{A}", "web", "--host", "127.0.0.1", "--port", str(port))
        wait_until(lambda: "15509" in self.routed(r), 15, what="later entries routed")
        self.etcd.restore(snap)
        # The registry's etcd watch and the router's resume both meet an etcd behind them: the
        # router must get a snapshot of what etcd holds now, not wait for revisions to come back.
        wait_until(lambda: "15505" not in self.routed(r), 30, what="entries the restore removed unrouted")
        self.assertIn("15501", self.routed(r))
        self.cli("registry", "register", f"webapp@{A}", "web", "--host", "127.0.0.1", "--port", "15520")
        wait_until(lambda: "15520" in self.routed(r), 15, what="a registration after the restore routed")


APP = """import http.server, os
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
"""


class RestoredEtcdDeployTest(OwnEtcdMixin, DeployTest):
    """One drone on a registry on its own etcd (restored from a snapshot by the tests)."""
    DRONES = ("d1",)

    def web(self):
        """{commit: port} of the webapp's web entries, from `registry show`."""
        return {c: e["port"] for c, r, e in entries(self.show("webapp")) if r == "web"}

    def etcd_json(self, call, body):
        return etcd_json(self.etcd, call, body)


class DroneOnRestoredEtcdTest(RestoredEtcdDeployTest):
    """A drone whose lease survives an etcd restore from a backup: what it registered after the
    backup is gone from etcd and what it removed since is back, until its audit puts it right."""

    def test_the_drone_registers_what_the_restore_lost_and_removes_what_it_brought_back(self):
        a = self.commit({"app.py": APP, "Procfile": "web: python3 app.py\n"})
        self.push()
        self.cli("deploy", "webapp", a)
        snap = os.path.join(self.tmp, "etcd.snapshot")
        self.etcd.snapshot_save(snap)  # the backup: the drone's lease and a's entry
        b = self.commit({"app.py": APP + "# b\n"}, "b")
        self.push()
        self.cli("deploy", "webapp", b)
        self.cli("stop", "webapp", a)
        before = self.web()
        self.assertEqual(set(before), {b})
        self.etcd.restore(snap)
        # Right after the restore etcd holds a (stopped) and not b (running).
        wait_until(lambda: self.web() == before or None, 30, what="b registered again and a removed")
        self.assertRegex(self.drones["d1"].log(), r"differ from its instances.*missing=1.*not_ours=1")
        self.assertNotIn("registry lease lost", self.drones["d1"].log())  # the lease survived: no new one


    def test_the_drone_registers_again_an_entry_the_restore_brought_back_with_older_content(self):
        # A restore brings an entry back with its id, lease and port but as it was at the backup: a
        # serving instance marked critical (it was restarting then) takes no traffic. Done by hand as
        # test_register_cmd_audits_what_etcd_holds_under_its_lease does: the same key, value and lease
        # but the health the backup had.
        import base64
        a = self.commit({"app.py": APP, "Procfile": "web: python3 app.py\n"})
        self.push()
        self.cli("deploy", "webapp", a)
        [(_, _, e)] = wait_until(lambda: [x for x in entries(self.cli_json("registry", "show", "--wide", "webapp"))
                                          if x[2].get("health") == "passing"] or None, 30, what="a passing entry")
        key = base64.b64encode(f"{self.prefix}registry/ep/{e['id']:016x}".encode()).decode()
        [kv] = self.etcd_json("kv/range", {"key": key})["kvs"]
        critical = with_varint_field(base64.b64decode(kv["value"]), 11, 3)  # health = HEALTH_CRITICAL
        self.etcd_json("kv/put", {"key": kv["key"], "value": base64.b64encode(critical).decode(), "lease": kv["lease"]})
        def health():
            return {x[2]["id"]: x[2]["health"] for x in entries(self.cli_json("registry", "show", "--wide", "webapp"))}
        wait_until(lambda: health() == {e["id"]: "passing"} or None, 15, what="the entry's content registered again")
        # Not passing by chance: the audit saw the old content (which the registry may show only for a moment).
        self.assertRegex(self.drones["d1"].log(), r"differ from its instances.*outdated=1")
        self.assertNotIn("registry lease lost", self.drones["d1"].log())

    def test_an_audit_that_fails_says_so(self):
        # An entry under the drone's lease that the registry cannot decode fails every Query of the
        # lease (DATA_LOSS): the drone cannot repair anything then, and must say so, not stay silent.
        import base64
        a = self.commit({"app.py": APP, "Procfile": "web: python3 app.py\n"})
        self.push()
        self.cli("deploy", "webapp", a)
        [(_, _, e)] = wait_until(lambda: entries(self.cli_json("registry", "show", "--wide", "webapp")) or None, 30,
                                 what="the entry")
        [kv] = self.etcd_json("kv/range", {"key": base64.b64encode(f"{self.prefix}registry/ep/{e['id']:016x}".encode())
                                           .decode()})["kvs"]
        bad = base64.b64encode(f"{self.prefix}registry/ep/{e['id'] ^ 1:016x}".encode()).decode()
        self.etcd_json("kv/put", {"key": bad, "value": base64.b64encode(b"\xff\xff").decode(), "lease": kv["lease"]})
        wait_until(lambda: "registry audit failed" in self.drones["d1"].log() or None, 15, what="the failed audit logged")
        self.assertRegex(self.drones["d1"].log(), r"registry audit failed.*is not an endpoint")
        self.assertNotIn("registry lease lost", self.drones["d1"].log())  # a failed audit does not drop the lease


class DroneOnRestoredEtcdOnePortTest(RestoredEtcdDeployTest):
    """The registry hands out one port: a restore gives it back to the lease that had it then."""
    REGISTRY_EXTRA = ("--port-range", "15850-15850")

    def test_a_port_the_restore_gives_back_to_a_gone_holder_is_registered_again_once_its_lease_ends(self):
        # At the backup, `register -- CMD` (gone since) held the port; then the drone got it. After
        # the restore the drone's audit finds its entry lost, and registering it again is refused
        # until that lease expires: retried every few hundred ms, logged once per interval.
        other = self.spawn("registry", "register", f"other@{A}", "web", "--host", "127.0.0.1", "--ttl", "4",
                           "--ready-timeout", "120", "--", sys.executable, "-c", "import time; time.sleep(600)")
        port_key = f"{self.prefix}registry/port/127.0.0.1/15850"
        wait_until(lambda: self.etcd.etcdctl("get", "--keys-only", port_key).stdout.strip() or None, 15,
                   what="the other holder's port")
        snap = os.path.join(self.tmp, "etcd.snapshot")
        self.etcd.snapshot_save(snap)
        other.send_signal(signal.SIGTERM)
        other.wait(timeout=20)
        a = self.commit({"app.py": APP, "Procfile": "web: python3 app.py\n"})
        self.push()
        self.cli("deploy", "webapp", a)
        before = wait_until(lambda: self.web() or None, 30, what="the drone's entry")
        self.assertEqual(before, {a: 15850})
        self.etcd.restore(snap)
        wait_until(lambda: "is live for another holder" in self.drones["d1"].log() or None, 15,
                   what="the drone's registration refused")
        wait_until(lambda: self.web() == before or None, 30, what="registered again once the other lease ended")
        refused = [line for line in self.drones["d1"].log().splitlines() if "register failed" in line]
        self.assertLessEqual(len(refused), 2, "\n".join(refused))


def with_varint_field(msg, field, value):
    """A serialized protobuf message with varint field `field` set to `value` (any earlier value dropped)."""
    def varint(n):
        out = bytearray()
        while True:
            out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
            n >>= 7
            if not n:
                return bytes(out)

    def read(i):
        n = shift = 0
        while True:
            b = msg[i]
            n |= (b & 0x7F) << shift
            i, shift = i + 1, shift + 7
            if not b & 0x80:
                return n, i

    out, i = bytearray(), 0
    while i < len(msg):
        start = i
        tag, i = read(i)
        kind = tag & 7
        if kind == 0:
            _, i = read(i)
        elif kind == 2:
            n, i = read(i)
            i += n
        else:
            i += 8 if kind == 1 else 4
        if tag >> 3 != field:
            out += msg[start:i]
    return bytes(out + varint(field << 3) + varint(value))


def run_allocations(registry, token_file, host, count, concurrency=4):
    bench = os.path.join(BIN, "bench", "registry_bench")
    if not os.path.exists(bench):
        raise unittest.SkipTest(f"{bench} is not built")
    return subprocess.Popen([bench, "--registry", registry.address(), "--token-file", token_file, "allocate",
                             "--host", host, "--count", str(count), "--concurrency", str(concurrency)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


class TwoRegistriesTest(EtcdStoreMixin, ClusterTest):
    """Two registries on one three-member etcd cluster."""
    MEMBERS = 3
    REGISTRY_EXTRA = ("--port-range", "10000-12999")

    def setUp(self):
        super().setUp()
        self.other = Registry(self.tmp, self.token_file, extra=self.REGISTRY_EXTRA,
                              store=etcd_store(self.etcd, self.prefix), name="registry-b").start()
        self.addCleanup(self.other.kill)

    def env_for(self, registry):
        env = self.env()
        env["SKYPORT_REGISTRY"] = registry.address()
        return env

    def test_racing_allocates_of_one_identity_leave_it_one_allocation(self):
        # allocate_check --race: the same identities allocated at once through both registries,
        # then their ports avoided at once; etcd then holds one port and one index per identity.
        tool = os.path.join(BIN, "tests", "allocate_check")
        if not os.access(tool, os.X_OK):
            self.skipTest(f"{tool} not built (cmake --build build --target allocate_check)")
        r = subprocess.run([tool, "--registry", self.registry.address(), "--token-file", self.token_file,
                            "--host", "race.host", "--race", self.other.address()],
                           capture_output=True, text=True, timeout=120)
        lines = [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
        self.assertEqual([c for c in lines if "check" in c and not c["ok"]], [], r.stderr)
        self.assertEqual(r.returncode, 0, r.stderr)
        [lease] = [x["race_lease"] for x in lines if "race_lease" in x]
        self.assertEqual(len(self.etcd_keys("port/race.host/")), 8)
        self.assertEqual(len(self.etcd_keys(f"unreg/{lease:016x}/race.host/")), 8)

    def test_registrations_through_one_are_seen_by_watchers_of_the_other(self):
        w = self.spawn("registry", "watch", env=self.env_for(self.other))
        self.cli("registry", "register", f"webapp@{A}", "http", "--host", "127.0.0.1", "--port", "15194")
        line = json.loads(wait_until(w.stdout.readline, 15, what="watch line on B"))
        self.assertEqual((line["type"], line["port"]), ("put", 15194))
        r = self.cli("registry", "register", f"webapp@{B}", "http", "--host", "127.0.0.1", "--port", "15194",
                     check=False, env=self.env_for(self.other))
        self.assertIn("ALREADY_EXISTS", r.stderr)
        self.assertEqual(self.cli_json("registry", "show", env=self.env_for(self.other)), self.show())

    def test_a_router_moving_to_the_other_registry_resumes_without_a_snapshot(self):
        class Both:  # the router's --registry list
            def address(_):
                return f"{self.registry.address()},{self.other.address()}"
        r = Router(self.tmp, self.token_file, registry=Both()).start()
        self.addCleanup(r.kill)
        self.cli("registry", "register", f"webapp@{A}", "web", "--host", "127.0.0.1", "--port", "15401")
        wait_until(lambda: "15401" in json.dumps(r.admin_json("/routes")), 15, what="routed through registry A")
        snapshots = self.other.metric("skyport_registry_watch_snapshots_total")
        resumes = self.other.metric("skyport_registry_watch_resumes_total")
        self.registry.kill(signal.SIGKILL)
        self.cli("registry", "register", f"webapp@{B}", "web", "--host", "127.0.0.1", "--port", "15402",
                 env=self.env_for(self.other))
        wait_until(lambda: "15402" in json.dumps(r.admin_json("/routes")), 20, what="routed through registry B")
        # Same etcd cluster and prefix, same store: B resumed the router's watch from its revision.
        self.assertEqual(self.other.metric("skyport_registry_watch_resumes_total"), resumes + 1)
        self.assertEqual(self.other.metric("skyport_registry_watch_snapshots_total"), snapshots)
        with open(r.log_path) as f:
            self.assertRegex(f.read(), r"registry watch moved to another registry.*same_store=true.*resumed=true")

    def test_concurrent_allocations_through_both_never_collide(self):
        n = 1200  # each: 2400 of the host's 3000 ports, so random picks collide and scans run
        pa = run_allocations(self.registry, self.token_file, "10.1.1.1", n)
        pb = run_allocations(self.other, self.token_file, "10.1.1.1", n)
        ra, rb = (json.loads(p.communicate(timeout=240)[0]) for p in (pa, pb))
        self.assertEqual((ra["allocated"], ra["errors"]["total"]), (n, 0), ra["errors"])
        self.assertEqual((rb["allocated"], rb["errors"]["total"]), (n, 0), rb["errors"])
        ports = ra["ports"] + rb["ports"]
        self.assertEqual(len(set(ports)), 2 * n, "a port was handed out twice")
        self.assertTrue(all(10000 <= p <= 12999 for p in ports))
        self.assertEqual(len(self.etcd_keys("port/10.1.1.1/")), 2 * n)

    def test_group_committed_registrations_keep_their_own_compares(self):
        # 2,000 Allocate+Register by 32 clients through A, which sends them to etcd in batches (one
        # Txn nesting many, registry/etcd_batch.h), while 16 CLIs race through A and B for one port.
        bench = os.path.join(BIN, "bench", "registry_bench")
        if not os.path.exists(bench):
            self.skipTest(f"{bench} is not built")
        batches = self.registry.metric("skyport_registry_etcd_txn_batches_total")
        fill = subprocess.Popen([bench, "--registry", self.registry.address(), "--token-file", self.token_file,
                                 "fill", "--count", "2000", "--concurrency", "32"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(lambda: fill.poll() is None and fill.kill())
        wait_until(lambda: len(self.etcd_keys("ep/")) >= 50, 60, what="the fill under way")
        racers = [self.spawn("registry", "register", f"webapp@{A}", "http", "--host", "10.4.4.4", "--port", "16001",
                             env=self.env_for(self.other if i % 2 else self.registry)) for i in range(16)]
        outcomes = [(p.wait(timeout=60), p.stderr.read()) for p in racers]
        self.assertEqual(sum(1 for rc, _ in outcomes if rc == 0), 1, outcomes)
        for rc, err in outcomes:
            self.assertTrue(rc == 0 or "ALREADY_EXISTS" in err, err)
        out, err = fill.communicate(timeout=240)
        r = json.loads(out)
        self.assertEqual((r["registered"], r["errors"]["total"]), (2000, 0), (r["errors"], err))
        self.assertGreater(self.registry.metric("skyport_registry_etcd_txn_batches_total"), batches)
        eps = self.etcd_keys("ep/")
        self.assertEqual(len(eps), 2001, (len(eps), outcomes, r))
        self.assertEqual(len(self.etcd_keys("port/10.4.4.4/")), 1, self.etcd_keys("port/10.4.4.4/"))
        self.assertEqual(self.etcd_keys("unreg/"), [])  # every allocation registered took its index along

    def test_lease_survives_the_kill9_of_the_registry_it_was_granted_through(self):
        p = self.spawn("registry", "register", f"webapp@{A}", "http", "--host", "127.0.0.1", "--ttl", "3",
                       "--", sys.executable, ECHO)
        [(_, _, e)] = wait_until(lambda: entries(self.cli_json("registry", "show", "--wide")), 15, what="entry")
        self.registry.kill(signal.SIGKILL)
        # The holder's keep-alives now reach another registry process on that address (same etcd, no state
        # of its own); the lease and entry are etcd's and outlive registry A.
        self.registry.store = etcd_store(self.etcd, self.prefix)
        self.registry.start()
        deadline = time.monotonic() + 3 * 3
        while time.monotonic() < deadline:  # three TTLs: the lease must stay, with the same entry
            [(_, _, now)] = entries(self.cli_json("registry", "show", "--wide", env=self.env_for(self.other)))
            self.assertEqual((now["id"], now["port"]), (e["id"], e["port"]))
            time.sleep(0.2)
        os.kill(e["pid"], signal.SIGTERM)
        p.wait(timeout=15)
        self.assertNotIn("granting a new one", p.stderr.read())

    def test_etcd_leader_kill9_under_load_loses_no_acknowledged_write(self):
        pa = run_allocations(self.registry, self.token_file, "10.2.2.2", 600, concurrency=2)
        pb = run_allocations(self.other, self.token_file, "10.2.2.2", 600, concurrency=2)
        wait_until(lambda: len(self.etcd_keys("port/10.2.2.2/")) >= 100, 60, what="load under way")
        leader = self.etcd.leader()
        self.etcd.kill(leader)
        self.addCleanup(self.etcd.restart, leader)
        ra, rb = (json.loads(p.communicate(timeout=240)[0]) for p in (pa, pb))
        acked = ra["ports"] + rb["ports"]
        self.assertEqual(len(set(acked)), len(acked), "a port was handed out twice")
        stored = {int(k.rsplit("/", 1)[1]) for k in self.etcd_keys("port/10.2.2.2/")}
        self.assertEqual(set(acked) - stored, set(), "acknowledged allocations lost")
        self.assertGreater(len(acked), 600, (ra["errors"], rb["errors"]))
        # Both registries keep serving on the two members left.
        for reg, port in ((self.registry, "15301"), (self.other, "15302")):
            self.cli("registry", "register", f"webapp@{A}", "http", "--host", "127.0.0.1", "--port", port,
                     env=self.env_for(reg), timeout=30)

    def test_watcher_resuming_from_a_compacted_revision_gets_a_snapshot(self):
        self.cli("registry", "register", f"webapp@{A}", "http", "--host", "127.0.0.1", "--port", "15194")
        w = self.spawn("registry", "watch")
        first = json.loads(w.stdout.readline())
        old = first["revision"]
        for port in (15195, 15196):
            self.cli("registry", "register", f"webapp@{A}", "http", "--host", "127.0.0.1", "--port", str(port),
                     env=self.env_for(self.other))
        self.etcd.etcdctl("compact", str(self.etcd.revision()))
        r = self.spawn("registry", "watch", "--from", str(old), env=self.env_for(self.other))
        lines = [json.loads(r.stdout.readline()) for _ in range(4)]
        self.assertEqual(lines[0]["type"], "reset")
        self.assertEqual(sorted(l["port"] for l in lines[1:]), [15194, 15195, 15196])
        # A resume from a revision still in etcd's history gets just what came after it.
        rev = max(l["revision"] for l in lines[1:])
        self.cli("registry", "register", f"webapp@{B}", "http", "--host", "127.0.0.1", "--port", "15197")
        q = self.spawn("registry", "watch", "--from", str(rev))
        line = json.loads(q.stdout.readline())
        self.assertEqual((line["type"], line["port"]), ("put", 15197))


class LeaseEndTest(EtcdStoreMixin, ClusterTest):
    """A lease's end on etcd: thousands of entries leave in one revision."""

    def test_a_lease_of_thousands_of_entries_ends_at_a_watcher_in_one_revision_with_every_entry(self):
        # etcd's watch with prev_kv costs O(K^2) for K deletes in one revision (10,000 endpoints: 27-49 s);
        # the registry watches without it and reads the deleted entries at the revision before: ONE read
        # of their span for a lease's end (registry/etcd_prev.h).
        n = 2000
        bench = os.path.join(BIN, "bench", "registry_bench")
        if not os.path.exists(bench):
            raise unittest.SkipTest(f"{bench} is not built")
        w = self.spawn("registry", "watch")
        lines = []
        threading.Thread(target=lambda: [lines.append(json.loads(l)) for l in w.stdout], daemon=True).start()
        fill = subprocess.run([bench, "--registry", self.registry.address(), "--token-file", self.token_file, "fill",
                               "--count", str(n), "--concurrency", "1", "--explicit-port"],
                              capture_output=True, text=True, timeout=300)
        self.assertEqual(fill.returncode, 0, fill.stderr)
        puts = lambda: [l for l in list(lines) if l["type"] == "put"]
        wait_until(lambda: len(puts()) == n, 60, what=f"{n} puts at the watcher")
        [lease_key] = self.etcd_keys("lease/")
        reads = self.registry.metric("skyport_registry_watch_prev_reads_total")
        # The Skyport lease is the etcd lease of the same id (etcdctl takes it in hex, as the key has it).
        self.etcd.etcdctl("lease", "revoke", lease_key.rsplit("/", 1)[1])
        deletes = lambda: [l for l in list(lines) if l["type"] == "delete"]
        wait_until(lambda: len(deletes()) == n, 60, what=f"{n} deletes at the watcher")
        gone = deletes()
        self.assertEqual(len({l["revision"] for l in gone}), 1, "one revision for the lease's end")
        self.assertEqual(sorted((l["app"], l["host"], l["port"]) for l in gone),
                         sorted((l["app"], l["host"], l["port"]) for l in puts()))
        self.assertEqual(self.registry.metric("skyport_registry_watch_prev_reads_total"), reads + 1)
        self.assertEqual(self.registry.metric("skyport_registry_etcd_undecodable_total"), 0)
        self.assertEqual(self.etcd_keys("ep/"), [])


class MigrateBase(EtcdStoreMixin, ClusterTest):
    """skyport-registry migrate: sqlite -> etcd -> sqlite, each copy read back and equal. Every
    class its own etcd: lease ids are the cluster's, whatever the prefix."""

    def registry_store(self):
        super().registry_store()  # picks self.prefix
        return None  # this test's registry runs on SQLite first

    def migrate(self, *args, check=True):
        r = subprocess.run([binary("skyport-registry"), "migrate", *args, "--etcd-prefix", self.prefix],
                           capture_output=True, text=True, timeout=60, env=self.env())
        if check and r.returncode != 0:
            raise AssertionError(f"migrate {args} exited {r.returncode}: {r.stderr}")
        return r



class MigrateTest(MigrateBase):
    """Entries, leases and a route, both ways."""

    def test_round_trip_sqlite_etcd_sqlite(self):
        for i in range(5):
            self.cli("registry", "register", f"webapp@{A}", "http", "--host", "127.0.0.1", "--instance", str(i))
        self.cli("registry", "register", f"webapp@{B}", "say", "--host", "10.0.0.1", "--port", "80", "--ttl", "60")
        route = os.path.join(self.tmp, "route.json")
        with open(route, "w") as f:
            json.dump({"app": "webapp", "weights": {A: 90, B: 10}, "splitId": "t1"}, f)
        self.cli("registry", "route", "set", "webapp", route)
        before = sorted((e["id"], e["host"], e["port"]) for _, _, e in entries(self.show("--wide")))

        # A running registry holds its data dir: migrate refuses rather than copy a moving target.
        r = self.migrate("--from", f"sqlite:{self.registry.data}", "--to", f"etcd:{self.etcd.endpoints()}",
                         check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("in use", r.stderr)
        self.registry.kill(signal.SIGTERM)

        out = self.migrate("--from", f"sqlite:{self.registry.data}", "--to", f"etcd:{self.etcd.endpoints()}")
        self.assertIn("6 leases, 6 allocations, 6 endpoints, 1 routes", out.stdout)
        self.assertIn("read back: equal", out.stdout)
        # Not into a destination that holds data, unless told.
        r = self.migrate("--from", f"sqlite:{self.registry.data}", "--to", f"etcd:{self.etcd.endpoints()}",
                         check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("already holds registry data", r.stderr)

        # The copy serves: a registry on etcd shows the same entries and ids, and the route.
        on_etcd = Registry(self.tmp, self.token_file, store=etcd_store(self.etcd, self.prefix), name="on-etcd")
        on_etcd.start()
        self.addCleanup(on_etcd.kill)
        env = self.env()
        env["SKYPORT_REGISTRY"] = on_etcd.address()
        got = sorted((e["id"], e["host"], e["port"])
                     for _, _, e in entries(self.cli_json("registry", "show", "--wide", env=env)))
        self.assertEqual(got, before)
        self.assertEqual(self.cli_json("registry", "route", "get", "webapp", env=env)["weights"], {A: 90, B: 10})
        on_etcd.kill(signal.SIGTERM)

        back = os.path.join(self.tmp, "back")
        out = self.migrate("--from", f"etcd:{self.etcd.endpoints()}", "--to", f"sqlite:{back}")
        self.assertIn("6 leases, 6 allocations, 6 endpoints, 1 routes", out.stdout)
        self.registry.store = ["--data", back]
        self.registry.start()
        self.assertEqual(sorted((e["id"], e["host"], e["port"]) for _, _, e in entries(self.show("--wide"))),
                         before)


class MigrateAllocationsTest(MigrateBase):
    """Allocations without an entry, both ways: a retried Allocate answers the same port."""

    def test_unregistered_allocations_sqlite_etcd_sqlite(self):
        # allocate_check --migrated allocates on SQLite, then checks retried Allocates on etcd after
        # a migrate, then on SQLite after migrating back (it pauses for each).
        p = start_allocate_check(self, "--migrated")
        lines = []
        until_paused(self, p, lines)
        self.registry.kill(signal.SIGTERM)
        out = self.migrate("--from", f"sqlite:{self.registry.data}", "--to", f"etcd:{self.etcd.endpoints()}")
        self.assertIn("1 leases, 5 allocations, 0 endpoints", out.stdout)
        self.assertIn("read back: equal", out.stdout)
        self.assertEqual(len(self.etcd_keys("unreg/")), 4)
        on_etcd = Registry(self.tmp, self.token_file, store=etcd_store(self.etcd, self.prefix), name="on-etcd")
        on_etcd.start()
        self.addCleanup(on_etcd.kill)
        p.stdin.write(on_etcd.address() + "\n")
        p.stdin.flush()
        until_paused(self, p, lines)
        on_etcd.kill(signal.SIGTERM)
        back = os.path.join(self.tmp, "back")
        out = self.migrate("--from", f"etcd:{self.etcd.endpoints()}", "--to", f"sqlite:{back}")
        self.assertIn("1 leases, 6 allocations, 1 endpoints", out.stdout)
        self.assertIn("read back: equal", out.stdout)
        self.registry.store = ["--data", back]
        self.registry.start()
        out, err = p.communicate(self.registry.address() + "\n", timeout=60)
        checks = lines + [json.loads(line) for line in out.splitlines() if line.strip()]
        self.assertEqual([c for c in checks if not c["ok"]], [], err)
        self.assertEqual(p.returncode, 0, err)
        self.assertEqual(len(checks), 11)


if __name__ == "__main__":
    unittest.main()
