"""Git pushes on several hubs (issue 15, docs/operations.md "Repositories on several hubs").

Three hubs with --store etcd on a 3-member etcd cluster (etcd_cluster.py; the
test skips, saying why, when etcd is not installed). A push is acknowledged
only once its objects and refs are on the leader and at least one standby
(--git-min-copies 2, the default with etcd):
- after `git push` returns, every live standby's bare repository has the
  commit at the pushed ref;
- kill -9 of the leader right after an acknowledged push: a standby leads
  within 3 s and serves that commit;
- kill -9 of the leader while a large push streams: the push either failed
  for the client or its commit is on the new leader, never acknowledged and
  lost;
- with both standbys killed, a push is refused with "not replicated" and
  nothing moves;
- a standby that hangs (SIGSTOP) costs at most --git-replication-timeout:
  the push is acknowledged through the other one; resumed, it catches up;
- a hub that was down while pushes landed catches up once restarted.
Figures (printed, not asserted): push latency with and without replication.
"""
import os
import signal
import subprocess
import time
import unittest
import urllib.request
import base64

from etcd_cluster import EtcdCluster
from harness import ClusterTest, Hub, wait_until

FAILOVER_BUDGET_S = 3.0
REPLICATION_TIMEOUT_S = 3


class HubHaGitTest(ClusterTest):
    def setUp(self):
        ClusterTest.setUp(self)
        with open(self.token_file) as f:
            self.token = f.read().strip()
        self.etcd = EtcdCluster(3)
        self.addCleanup(self.etcd.stop)
        self.hubs = [self.make_hub(f"hub{i}").start() for i in range(3)]
        self.addCleanup(self._stop_hubs)
        self.work = os.path.join(self.tmp, "work")
        os.makedirs(self.work)
        self.git("init", "-q", "-b", "master")

    def make_hub(self, name, extra=()):
        return Hub(self.tmp, self.token_file, self.registry, name=name, store="etcd", etcd=self.etcd.endpoints(),
                   extra=["--metrics-listen", "127.0.0.1:0", "--git-replication-timeout", str(REPLICATION_TIMEOUT_S),
                          "--git-catch-up-interval", "1", *extra])

    def _stop_hubs(self):
        for h in self.hubs:
            if h.proc and h.proc.poll() is None:
                try:
                    os.kill(h.proc.pid, signal.SIGCONT)
                except ProcessLookupError:
                    pass
            h.kill()

    # ------------------------------------------------------------------ helpers

    def git(self, *args, check=True, timeout=120):
        env = {"HOME": self.tmp, "GIT_TERMINAL_PROMPT": "0", "PATH": os.environ["PATH"],
               "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
               "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
        r = subprocess.run(["git", *args], cwd=self.work, capture_output=True, text=True, env=env, timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError(f"git {' '.join(args)}: {r.stderr}")
        return r

    def commit(self, files, message="change"):
        for name, data in files.items():
            with open(os.path.join(self.work, name), "wb" if isinstance(data, bytes) else "w") as f:
                f.write(data)
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)
        return self.git("rev-parse", "HEAD").stdout.strip()

    def push(self, hub, ref="master", check=False):
        return self.git("push", hub.git_url("webapp", self.token), ref, check=check)

    def leaders(self, hubs=None):
        return [h for h in hubs or self.hubs if h.proc.poll() is None and h.metric("skyport_hub_is_leader") == 1]

    def one_leader(self, hubs=None, timeout=15):
        found = {}

        def exactly_one():
            found["l"] = self.leaders(hubs)
            return len(found["l"]) == 1
        wait_until(exactly_one, timeout, what="exactly one hub leading")
        return found["l"][0]

    def standbys_known(self, leader, n):
        """The leader's view of live standbys (member keys in etcd) reached n."""
        wait_until(lambda: (leader.metric("skyport_hub_git_peers") or 0) >= n, 15, what=f"{n} standbys known")

    @staticmethod
    def repo(hub):
        return os.path.join(hub.data, "repos", "webapp.git")

    def ref_on(self, hub, ref="refs/heads/master"):
        """The ref's id in the hub's bare repository (None when absent)."""
        if not os.path.isdir(self.repo(hub)):
            return None
        r = subprocess.run(["git", "--git-dir", self.repo(hub), "rev-parse", "--verify", "-q", ref],
                           capture_output=True, text=True, timeout=20)
        return r.stdout.strip() if r.returncode == 0 else None

    def has_object(self, hub, oid):
        if not os.path.isdir(self.repo(hub)):
            return False
        return subprocess.run(["git", "--git-dir", self.repo(hub), "cat-file", "-e", oid],
                              capture_output=True, timeout=20).returncode == 0

    def served_refs(self, hub):
        """The refs a hub's git listener advertises when it leads; None when it answers otherwise."""
        req = urllib.request.Request(f"http://{hub.git_address()}/webapp.git/info/refs?service=git-receive-pack")
        req.add_header("Authorization", "Basic " + base64.b64encode(f"x:{self.token}".encode()).decode())

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *a, **k):
                return None
        try:
            with urllib.request.build_opener(NoRedirect).open(req, timeout=2) as r:
                if r.status != 200:
                    return None
                body = r.read().decode(errors="replace")
        except Exception:  # noqa: BLE001 - a standby's 307/503 or a dead hub
            return None
        refs, pos = {}, 0
        while pos + 4 <= len(body):
            n = int(body[pos:pos + 4], 16)
            line, pos = (body[pos + 4:pos + n], pos + n) if n >= 4 else ("", pos + 4)
            parts = line.split("\0")[0].rstrip("\n").split(" ")
            if len(parts) == 2 and len(parts[0]) == 40 and parts[1].startswith("refs/"):
                refs[parts[1]] = parts[0]
        refs["served"] = True  # a leader with no refs yet still serves
        return refs

    # ------------------------------------------------------------------ tests

    def test_push_is_on_every_standby_and_survives_the_leader(self):
        leader = self.one_leader()
        standbys = [h for h in self.hubs if h is not leader]
        self.standbys_known(leader, 2)
        text = "".join(f"line {i} of a file large enough for git to send a delta\n" for i in range(3000))
        c1 = self.commit({"a.txt": text})
        t0 = time.monotonic()
        r = self.push(leader)
        replicated_s = time.monotonic() - t0
        self.assertEqual(r.returncode, 0, r.stderr)
        for h in standbys:  # no waiting: acknowledged means there
            self.assertTrue(self.has_object(h, c1), f"{h.name} lacks {c1}")
            self.assertEqual(self.ref_on(h), c1, h.name)
        self.assertEqual(self.ref_on(leader), c1)
        self.assertGreaterEqual(leader.metric("skyport_hub_git_replication_acked_total"), 1)
        # One line changed: git sends a thin pack (a delta against the blob the hub has); the leader
        # completes it and the standbys check and take the completed pack.
        c2 = self.commit({"a.txt": text.replace("line 1500 ", "line 1500 changed ")})
        t0 = time.monotonic()
        self.assertEqual(self.push(leader).returncode, 0)
        replicated2_s = time.monotonic() - t0
        for h in standbys:
            self.assertEqual(self.ref_on(h), c2, h.name)
        with open(leader.log_path) as f:
            self.assertRegex(f.read(), r"push app=webapp accepted=1 refused=0 objects=\d+ thin_bases=[1-9]")
        # A ref created and deleted (a push without objects) is created and deleted on every standby.
        self.git("branch", "-f", "tmp", c1)
        self.assertEqual(self.push(leader, "tmp").returncode, 0)
        self.assertEqual([self.ref_on(h, "refs/heads/tmp") for h in standbys], [c1, c1])
        self.assertEqual(self.push(leader, ":tmp").returncode, 0)
        self.assertEqual([self.ref_on(h, "refs/heads/tmp") for h in standbys], [None, None])
        print(f"\npush latency with replication to 2 standbys: first {replicated_s * 1000:.0f} ms, "
              f"second {replicated2_s * 1000:.0f} ms")

        # kill -9 right after the acknowledgement: the new leader serves the commit within 3 s.
        leader.kill(signal.SIGKILL)
        t0 = time.monotonic()
        got = {}

        def served():
            for h in standbys:
                refs = self.served_refs(h)
                if refs is not None:
                    got["hub"], got["refs"] = h, refs
                    return True
            return False
        wait_until(served, 15, interval=0.05, what="a standby serving pushes")
        took = time.monotonic() - t0
        print(f"git fail-over: the new leader served the refs {took:.2f} s after kill -9")
        self.assertLess(took, FAILOVER_BUDGET_S)
        self.assertEqual(got["refs"].get("refs/heads/master"), c2)
        new_leader = got["hub"]
        other = [h for h in standbys if h is not new_leader][0]

        # A push through the new leader lands on the remaining standby; the old leader, restarted,
        # joins as a standby and catches up with what it missed.
        c3 = self.commit({"a.txt": "three\n"})
        self.assertEqual(self.push(new_leader).returncode, 0)
        self.assertEqual(self.ref_on(other), c3)
        c4 = self.commit({"b.txt": "four\n"})
        self.git("branch", "-f", "feature", c4)
        self.assertEqual(self.push(new_leader, "feature").returncode, 0)
        self.git("tag", "-a", "v1", "-m", "release", c3)  # an annotated tag: the tag object travels too
        tag = self.git("rev-parse", "v1").stdout.strip()
        self.assertEqual(self.push(new_leader, "v1").returncode, 0)
        leader.start()
        t0 = time.monotonic()
        try:
            wait_until(lambda: self.ref_on(leader) == c3 and self.ref_on(leader, "refs/heads/feature") == c4 and
                       self.ref_on(leader, "refs/tags/v1") == tag, 20, what="the restarted old leader catching up")
        except AssertionError:
            with open(leader.log_path) as f:
                print("DEBUG", f.read()[-6000:])
            raise
        print(f"catch-up: the restarted hub had the three missed pushes {time.monotonic() - t0:.2f} s after its start")
        self.assertEqual(self.leaders(), [new_leader])
        # Counted once the sync ends, which may be a moment after git sees its refs.
        wait_until(lambda: (leader.metric("skyport_hub_git_catch_up_refs_total") or 0) >= 3, 10,
                   what="the catch-up's refs counted")
        subprocess.run(["git", "--git-dir", self.repo(leader), "fsck", "--strict"], check=True, capture_output=True,
                       timeout=60)

    def test_no_standby_left_refuses_and_a_hung_one_is_timed_out(self):
        leader = self.one_leader()
        s1, s2 = [h for h in self.hubs if h is not leader]
        self.standbys_known(leader, 2)
        base = self.commit({"a.txt": "base\n"})
        self.assertEqual(self.push(leader).returncode, 0)

        # A standby that hangs: the push is acknowledged through the other within the timeout.
        os.kill(s1.proc.pid, signal.SIGSTOP)
        c1 = self.commit({"a.txt": "while one hangs\n"})
        t0 = time.monotonic()
        r = self.push(leader)
        took = time.monotonic() - t0
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertLess(took, REPLICATION_TIMEOUT_S + 5)
        print(f"\npush with one standby hung: {took * 1000:.0f} ms (--git-replication-timeout "
              f"{REPLICATION_TIMEOUT_S}s)")
        self.assertEqual(self.ref_on(s2), c1)
        os.kill(s1.proc.pid, signal.SIGCONT)
        wait_until(lambda: self.ref_on(s1) == c1, 20, what="the resumed standby catching up")
        self.assertEqual(self.leaders(), [leader])

        # Both standbys gone: nothing can be replicated, the push is refused and nothing moves.
        s1.kill(signal.SIGKILL)
        s2.kill(signal.SIGKILL)
        c2 = self.commit({"a.txt": "alone\n"})
        t0 = time.monotonic()
        r = self.push(leader)
        alone_s = time.monotonic() - t0
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("not replicated", r.stderr)
        self.assertEqual(self.ref_on(leader), c1)
        self.assertGreaterEqual(leader.metric("skyport_hub_git_replication_refused_total"), 1)
        with open(leader.log_path) as f:
            self.assertIn("push not replicated", f.read())
        print(f"push refused with no standby: answered in {alone_s * 1000:.0f} ms")
        self.assertNotEqual(base, c2)

    def test_a_push_one_standby_missed_survives_the_leader_whoever_leads_next(self):
        leader = self.one_leader()
        s1, s2 = [h for h in self.hubs if h is not leader]
        self.standbys_known(leader, 2)
        self.commit({"a.txt": "base\n"})
        self.assertEqual(self.push(leader).returncode, 0)
        os.kill(s1.proc.pid, signal.SIGSTOP)  # s1 misses the next push; s2 acknowledges it
        c = self.commit({"a.txt": "only on the leader and s2\n"})
        self.assertEqual(self.push(leader).returncode, 0)
        self.assertEqual(self.ref_on(s2), c)
        self.assertNotEqual(self.ref_on(s1), c)
        leader.kill(signal.SIGKILL)
        os.kill(s1.proc.pid, signal.SIGCONT)
        new_leader = self.one_leader([s1, s2])
        refs = wait_until(lambda: self.served_refs(new_leader), 10, what="the new leader serving")
        self.assertEqual(refs.get("refs/heads/master"), c, f"{new_leader.name} leads without the acknowledged push")
        if new_leader is s1:  # it took the push from s2 in its takeover, before serving
            with open(s1.log_path) as f:
                self.assertRegex(f.read(), r"git catch-up from=\S+ mode=union refs=1")
        print(f"\nthe standby that {'missed' if new_leader is s1 else 'took'} the push leads next; it serves it")

    def test_leader_killed_during_a_large_push_loses_no_acknowledged_push(self):
        leader = self.one_leader()
        standbys = [h for h in self.hubs if h is not leader]
        self.standbys_known(leader, 2)
        self.commit({"a.txt": "base\n"})
        self.assertEqual(self.push(leader).returncode, 0)
        big = self.commit({"big.bin": os.urandom(48 << 20)}, message="big")
        env = {"HOME": self.tmp, "GIT_TERMINAL_PROMPT": "0", "PATH": os.environ["PATH"]}
        p = subprocess.Popen(["git", "push", leader.git_url("webapp", self.token), "master"], cwd=self.work,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
        # Killed while the POST streams: the leader has a push in flight.
        wait_until(lambda: (leader.metric("skyport_hub_git_pushes_in_flight") or 0) >= 1 or p.poll() is not None,
                   60, interval=0.01, what="the large push streaming")
        leader.kill(signal.SIGKILL)
        _, err = p.communicate(timeout=120)
        new_leader = self.one_leader(standbys)
        refs = wait_until(lambda: self.served_refs(new_leader), 10, what="the new leader serving")
        if p.returncode == 0:
            self.assertEqual(refs.get("refs/heads/master"), big, "acknowledged but lost")
            print("\nlarge push: acknowledged before the kill, and on the new leader")
        else:
            print(f"\nlarge push: failed for the client: {err.strip()[-600:]}")
        # Either way the standbys agree with the new leader once caught up.
        other = [h for h in standbys if h is not new_leader][0]
        wait_until(lambda: self.ref_on(other) == refs.get("refs/heads/master"), 20, what="standby agreeing")

    def median_push_ms(self, hub, label, n=7):
        """Median latency of n one-line pushes to hub (each checked to succeed)."""
        times = []
        for i in range(n):
            self.commit({"a.txt": f"{label} {i}\n"})
            t0 = time.monotonic()
            self.assertEqual(self.push(hub).returncode, 0)
            times.append(time.monotonic() - t0)
        return sorted(times)[n // 2] * 1000

    def test_push_latency_with_and_without_replication(self):
        """The same small pushes to one hub on sqlite (no replication) and to a leader with two standbys."""
        solo = Hub(self.tmp, self.token_file, self.registry, name="solo", extra=["--metrics-listen", ""]).start()
        self.addCleanup(solo.kill)
        alone = self.median_push_ms(solo, "solo")
        leader = self.one_leader()
        self.standbys_known(leader, 2)
        replicated = self.median_push_ms(leader, "ha")
        print(f"\nsmall push latency, median of 7: one sqlite hub {alone:.0f} ms, "
              f"leader + 2 standbys (--git-min-copies 2) {replicated:.0f} ms")

if __name__ == "__main__":
    unittest.main()
