"""skyport-registry --store etcd: ONE etcd watch per registry, shared by its watchers (registry/etcd_shared_watch.cc).

Many watchers of one registry see identical streams (each app's watchers its part), the values of deleted
entries read once for all of them; a watcher resuming from inside the window is served from it, one resuming
from before it gets an etcd watch of its own, both with every change once; a watcher that stops reading is
ended (it resumes) while the others go on; kill -9 of the etcd member the shared watch is on loses and repeats
nothing; history compacted past the shared watch while its member was down ends its watchers, which resume
with a snapshot; with --watch-window 0 every watcher has its own etcd watch again. Skipped, saying why, when
etcd is not installed.
"""
import http.client
import json
import os
import signal
import subprocess
import threading
import unittest

import test_registry
from harness import BIN, ClusterTest, Registry, wait_until
from test_registry_etcd import EtcdStoreMixin, etcd_store

A = test_registry.A
B = test_registry.B


class Lines:
    """A long-running `skyport registry watch`: its JSON lines, read by a thread as they come."""

    def __init__(self, test, *args):
        self.proc = test.spawn("registry", "watch", *args)
        self.lines = []
        self._mu = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            with self._mu:
                self.lines.append(json.loads(line))

    def got(self):
        with self._mu:
            return list(self.lines)

    def changes(self):
        """Every change line (no reset marker)."""
        return [l for l in self.got() if l["type"] != "reset"]

    def wait_for(self, n, timeout=30, what="changes"):
        return wait_until(lambda: len(self.changes()) >= n and self.changes(), timeout, what=f"{n} {what}")


def ident(line):
    return (line["type"], line["revision"], line["app"], line.get("id"), line.get("port"))


def scrape(registry):
    conn = http.client.HTTPConnection("127.0.0.1", registry.metrics_port(), timeout=5)
    conn.request("GET", "/metrics")
    return conn.getresponse().read().decode()


class SharedWatchTest(EtcdStoreMixin, ClusterTest):
    """One registry on a one-member etcd; a window of 4 changes so that its bound bites."""
    REGISTRY_EXTRA = ("--watch-window", "4")

    def register(self, app, port, commit=A):
        self.cli("registry", "register", f"{app}@{commit}", "http", "--host", "127.0.0.1", "--port", str(port))

    def joined(self, n):
        return wait_until(lambda: self.registry.metric("skyport_registry_watch_shared_watchers") == n, 15,
                          what=f"{n} watchers on the shared watch")

    def test_many_watchers_see_identical_streams_and_deleted_values_are_read_once(self):
        every = [Lines(self) for _ in range(8)]
        webapp = [Lines(self, "webapp") for _ in range(3)]
        other = [Lines(self, "other") for _ in range(3)]
        self.joined(14)
        reads = self.registry.metric("skyport_registry_watch_prev_reads_total")
        for i in range(5):
            self.register("webapp", 15100 + i)
            self.register("other", 15200 + i)
        route = os.path.join(self.tmp, "route.json")
        with open(route, "w") as f:
            json.dump({"app": "webapp", "weights": {A: 90, B: 10}, "splitId": "t1"}, f)
        self.cli("registry", "route", "set", "webapp", route, "--expect-revision", "0")
        ids = {(e["app"], e["port"]): e["id"] for e in every[0].wait_for(11) if e["type"] == "put"}
        self.cli("registry", "free", str(ids[("webapp", 15101)]))
        self.cli("registry", "free", str(ids[("other", 15203)]))
        want = every[0].wait_for(13)
        self.assertEqual(len(want), 13)
        self.assertEqual([l["type"] for l in want].count("delete"), 2)
        self.assertEqual([l["type"] for l in want].count("route-put"), 1)
        revisions = [l["revision"] for l in want]
        self.assertEqual(revisions, sorted(revisions))
        for w in every:
            self.assertEqual([ident(l) for l in w.wait_for(13)], [ident(l) for l in want])
        for ws, app in ((webapp, "webapp"), (other, "other")):
            part = [ident(l) for l in want if l["app"] == app]
            for w in ws:
                self.assertEqual([ident(l) for l in w.wait_for(len(part))], part)
        # Two deletes: two reads of the values they deleted, for all 14 watchers together.
        self.assertEqual(self.registry.metric("skyport_registry_watch_prev_reads_total"), reads + 2)
        self.assertEqual(self.registry.metric("skyport_registry_watch_window_fallbacks_total"), 0)
        self.assertLessEqual(self.registry.metric("skyport_registry_watch_window_events"), 4)
        # Nothing more, nothing twice: the next change is the next line everywhere.
        self.register("webapp", 15199)
        for w in every + webapp:
            wait_until(lambda: w.changes()[-1].get("port") == 15199, 15, what="the next change")
            self.assertEqual(len(w.changes()), 14 if w in every else 8)
        for w in every + webapp + other:
            self.assertEqual(len(w.changes()), len({ident(l) for l in w.changes()}))

    def test_a_resume_inside_the_window_is_served_from_it_one_before_it_gets_its_own_etcd_watch(self):
        w0 = Lines(self)
        self.joined(1)
        for port in (15301, 15302, 15303):
            self.register("webapp", port)
        r1 = w0.wait_for(3)[0]["revision"]
        joins = self.registry.metric("skyport_registry_watch_window_joins_total")
        fallbacks = self.registry.metric("skyport_registry_watch_window_fallbacks_total")
        inside = Lines(self, "--from", str(r1))
        self.assertEqual([l["port"] for l in inside.wait_for(2)], [15302, 15303])
        self.joined(2)
        self.assertEqual(self.registry.metric("skyport_registry_watch_window_joins_total"), joins + 1)
        self.assertEqual(self.registry.metric("skyport_registry_watch_window_fallbacks_total"), fallbacks)
        for port in range(15304, 15310):  # six more changes: the window (4) no longer reaches back to r1
            self.register("webapp", port)
        w0.wait_for(9)
        wait_until(lambda: self.registry.metric("skyport_registry_watch_window_floor_revision") > r1, 15,
                   what="the window's floor past r1")
        self.assertLessEqual(self.registry.metric("skyport_registry_watch_window_events"), 4)
        before = Lines(self, "--from", str(r1))
        self.assertEqual([l["port"] for l in before.wait_for(8)], list(range(15302, 15310)))
        self.assertEqual(self.registry.metric("skyport_registry_watch_window_fallbacks_total"), fallbacks + 1)
        wait_until(lambda: "its revision is older than the watch window" in self.registry.log(), 5,
                   what="the window's bound in the log")
        # Both go on live, with nothing repeated.
        self.register("webapp", 15310)
        for w in (inside, before, w0):
            got = wait_until(lambda: w.changes() and w.changes()[-1]["port"] == 15310 and w.changes(), 15,
                             what="the next change")
            self.assertEqual(len(got), len({ident(l) for l in got}))
        self.assertEqual([l["port"] for l in before.changes()], list(range(15302, 15311)))
        self.assertEqual([l["port"] for l in inside.changes()], list(range(15302, 15311)))


class NoSharedWatchTest(EtcdStoreMixin, ClusterTest):
    """--watch-window 0: one etcd watch per watcher, as before the shared watch (each reads deleted values)."""
    REGISTRY_EXTRA = ("--watch-window", "0")

    def test_every_watcher_has_its_own_etcd_watch(self):
        watchers = [Lines(self) for _ in range(3)]
        wait_until(lambda: self.registry.metric("skyport_registry_watchers") == 3, 15, what="three watchers")
        reads = self.registry.metric("skyport_registry_watch_prev_reads_total")
        self.cli("registry", "register", f"webapp@{A}", "http", "--host", "127.0.0.1", "--port", "15601")
        [put] = watchers[0].wait_for(1)
        self.cli("registry", "free", str(put["id"]))
        for w in watchers:
            self.assertEqual([(l["type"], l["port"]) for l in w.wait_for(2)], [("put", 15601), ("delete", 15601)])
        self.assertEqual(self.registry.metric("skyport_registry_watch_prev_reads_total"), reads + 3)
        self.assertEqual(self.registry.metric("skyport_registry_watch_window_joins_total"), 0)
        self.assertNotIn("skyport_registry_watch_shared_watchers", scrape(self.registry))


class SlowWatcherTest(EtcdStoreMixin, ClusterTest):
    """A watcher that stops reading (alive: it answers keep-alive pings) is cut off at its queue's bound and
    told to resume; the others never notice."""

    def test_a_slow_watcher_is_ended_at_its_bound_without_affecting_the_others(self):
        bench = os.path.join(BIN, "bench", "registry_bench")
        tool = os.path.join(BIN, "tests", "stalled_watch")
        for path in (bench, tool):
            if not os.access(path, os.X_OK):
                self.skipTest(f"{path} not built")
        fast = [Lines(self) for _ in range(2)]
        slow = subprocess.Popen([tool, "--registry", self.registry.address(), "--token-file", self.token_file],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(lambda: slow.poll() is None and slow.kill())
        self.assertTrue(json.loads(slow.stdout.readline())["ready"])
        wait_until(lambda: self.registry.metric("skyport_registry_watch_shared_watchers") == 3, 15,
                   what="three watchers on the shared watch")
        ends = self.registry.metric("skyport_registry_watch_ends_total")
        # More changes than a watcher's queue holds (4,096 messages) plus the stalled reader's small window,
        # each in a revision (a message) of its own: two clients, so that the group commit never has more
        # than one Register waiting to join the next etcd Txn (etcd_batcher.h).
        n = 6000
        fill = subprocess.run([bench, "--registry", self.registry.address(), "--token-file", self.token_file, "fill",
                               "--count", str(n), "--concurrency", "2", "--explicit-port"],
                              capture_output=True, text=True, timeout=300)
        self.assertEqual(fill.returncode, 0, fill.stderr)
        wait_until(lambda: self.registry.metric("skyport_registry_watch_ends_total") == ends + 1, 30,
                   what="the stalled watcher ended")
        for w in fast:
            got = w.wait_for(n, timeout=60, what="puts at a fast watcher")
            self.assertEqual(len(got), n)
            self.assertEqual(len({l["id"] for l in got}), n)
            self.assertIsNone(w.proc.poll())
        self.assertEqual(self.registry.metric("skyport_registry_watch_shared_watchers"), 2)
        # Read now: what was sent before the cut, then the status that says where to resume from.
        end = json.loads(slow.communicate("go\n", timeout=30)[0].splitlines()[-1])
        self.assertEqual(end["code"], 8, end)  # RESOURCE_EXHAUSTED
        self.assertRegex(end["error"], r"watcher fell behind; resume from revision \d+")
        self.assertGreater(end["messages"], 0)
        self.assertLess(end["messages"], n)
        self.assertEqual(end["events"], end["messages"])  # one registration, one message
        resume_from = int(end["error"].rsplit(" ", 1)[1])
        self.assertLessEqual(resume_from, end["last_revision"])
        # Resuming from there is served from the window with exactly the rest.
        rest = Lines(self, "--from", str(resume_from))
        want = [ident(l) for l in fast[0].changes() if l["revision"] > resume_from]
        self.assertEqual([ident(l) for l in rest.wait_for(len(want), timeout=60)], want)
        self.assertEqual(self.registry.metric("skyport_registry_watch_ends_total"), ends + 1)
        self.assertEqual(self.registry.metric("skyport_registry_watch_window_fallbacks_total"), 0)


class MemberKillTest(EtcdStoreMixin, ClusterTest):
    """kill -9 of the etcd member the registry's shared watch reads from, under a stream of changes."""
    MEMBERS = 3

    def current_member(self):
        for line in scrape(self.registry).splitlines():
            if line.startswith("skyport_etcd_current_endpoint{") and line.endswith(" 1"):
                return self.etcd.client_url_index(line.split('endpoint="')[1].split('"')[0])
        raise AssertionError("no current etcd endpoint in the registry's metrics")

    def test_etcd_member_kill9_during_watch_streams_loses_and_repeats_nothing(self):
        bench = os.path.join(BIN, "bench", "registry_bench")
        if not os.path.exists(bench):
            raise unittest.SkipTest(f"{bench} is not built")
        watchers = [Lines(self) for _ in range(5)]
        wait_until(lambda: self.registry.metric("skyport_registry_watch_shared_watchers") == 5, 15,
                   what="five watchers on the shared watch")
        resumes = int(float([l for l in scrape(self.registry).splitlines()
                             if l.startswith("skyport_etcd_watch_resumes_total ")][0].split()[1]))
        member = self.current_member()
        fill = subprocess.Popen([bench, "--registry", self.registry.address(), "--token-file", self.token_file,
                                 "fill", "--count", "800", "--concurrency", "2", "--explicit-port"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(lambda: fill.poll() is None and fill.kill())
        watchers[0].wait_for(150, what="changes before the kill")
        self.etcd.kill(member)
        self.addCleanup(self.etcd.restart, member)
        out, err = fill.communicate(timeout=240)
        self.assertEqual(fill.returncode, 0, err)
        # Whatever etcd holds (acknowledged or not) every watcher sees once, in order.
        stored = {e["id"] for _, _, e in test_registry.entries(self.cli_json("registry", "query", "bench", "--wide",
                                                                              timeout=60))}
        self.assertGreaterEqual(len(stored), 800)
        for w in watchers:
            got = wait_until(lambda: len(w.changes()) >= len(stored) and w.changes(), 60, what="every put")
            self.assertEqual([l["type"] for l in got], ["put"] * len(got))
            self.assertEqual(len(got), len(stored), "a change was repeated")
            self.assertEqual({l["id"] for l in got}, stored)
            revisions = [l["revision"] for l in got]
            self.assertEqual(revisions, sorted(set(revisions)), "out of order or repeated")
            self.assertEqual([ident(l) for l in got], [ident(l) for l in watchers[0].changes()])
        metrics = scrape(self.registry)
        now = int(float([l for l in metrics.splitlines()
                         if l.startswith("skyport_etcd_watch_resumes_total ")][0].split()[1]))
        self.assertGreater(now, resumes, "the shared watch did not move to another member")
        # The shared watch carried its watchers across: none was ended, none fell back.
        self.assertEqual(self.registry.metric("skyport_registry_watch_ends_total"), 0)
        self.assertEqual(self.registry.metric("skyport_registry_watch_window_fallbacks_total"), 0)



def replay(lines):
    """The entries a watcher's lines leave it with: (app, port) -> id (a reset drops what came before)."""
    state = {}
    for l in lines:
        if l["type"] == "reset":
            state = {}
        elif l["type"] == "put":
            state[(l["app"], l["port"])] = l["id"]
        elif l["type"] == "delete":
            state.pop((l["app"], l["port"]), None)
    return state


class CompactedPastTheSharedWatchTest(EtcdStoreMixin, ClusterTest):
    """Registry A talks to member 0 only. While member 0 is down, registry B (members 1 and 2) changes
    things and etcd compacts past A's shared watch: when member 0 is back, A's shared watch is compacted
    away, every watcher on it is ended and resumes with a snapshot, and A starts its shared watch afresh."""
    MEMBERS = 3

    def registry_store(self):
        store = super().registry_store()
        store[store.index("--etcd-endpoints") + 1] = self.etcd.client_url(0)
        return store

    def test_compaction_past_the_shared_watch_gives_its_watchers_a_snapshot(self):
        other_store = etcd_store(self.etcd, self.prefix)
        other_store[other_store.index("--etcd-endpoints") + 1] = f"{self.etcd.client_url(1)},{self.etcd.client_url(2)}"
        other = Registry(self.tmp, self.token_file, store=other_store, name="registry-b").start()
        self.addCleanup(other.kill)
        env_b = self.env()
        env_b["SKYPORT_REGISTRY"] = other.address()
        every, webapp = Lines(self), Lines(self, "webapp")
        wait_until(lambda: self.registry.metric("skyport_registry_watch_shared_watchers") == 2, 15,
                   what="two watchers on the shared watch")
        for port in (15501, 15502):
            self.cli("registry", "register", f"webapp@{A}", "http", "--host", "127.0.0.1", "--port", str(port))
        first = {l["port"]: l["id"] for l in every.wait_for(2)}
        self.etcd.kill(0)
        self.addCleanup(lambda: self.etcd.procs[0].poll() is not None and self.etcd.restart(0))
        self.cli("registry", "free", str(first[15501]), env=env_b, timeout=30)
        for app, port in (("webapp", 15503), ("other", 15504)):
            self.cli("registry", "register", f"{app}@{A}", "http", "--host", "127.0.0.1", "--port", str(port),
                     env=env_b, timeout=30)
        status = json.loads(self.etcd.etcdctl("endpoint", "status", "-w", "json", members=[1, 2]).stdout)
        self.etcd.etcdctl("compact", str(max(st["Status"]["header"]["revision"] for st in status)), members=[1, 2])
        self.etcd.restart(0)
        wait_until(lambda: self.registry.metric("skyport_registry_watch_shared_resets_total") == 1, 30,
                   what="the shared watch compacted away and started afresh")
        want_all = {}
        for e in test_registry.entries(self.cli_json("registry", "show", "--wide")):
            want_all[(e[2]["app"], e[2]["port"])] = e[2]["id"]
        self.assertEqual(set(want_all), {("webapp", 15502), ("webapp", 15503), ("other", 15504)})
        self.assertEqual(want_all[("webapp", 15502)], first[15502])
        wait_until(lambda: replay(every.got()) == want_all, 30, what="every watcher's state after its snapshot")
        wait_until(lambda: replay(webapp.got()) == {k: v for k, v in want_all.items() if k[0] == "webapp"}, 30,
                   what="the webapp watcher's state after its snapshot")
        self.assertIn("reset", [l["type"] for l in every.got()])
        # They follow the new shared watch.
        wait_until(lambda: self.registry.metric("skyport_registry_watch_shared_watchers") == 2, 15,
                   what="both watchers back on the shared watch")
        self.cli("registry", "register", f"webapp@{A}", "http", "--host", "127.0.0.1", "--port", "15505")
        for w in (every, webapp):
            wait_until(lambda: w.changes()[-1].get("port") == 15505, 15, what="the next change")
        self.assertRegex(self.registry.log(), r"shared etcd watch ended; its watchers resume by revision.*compacted")


if __name__ == "__main__":
    unittest.main()
