"""A router with a data dir (--data) keeps what it answered 202 across kill -9.

On 127.0.0.1: a registry (for the CLI), a hub, one backend and a static-routes
router with --hub and --data. Users post purchases; the router is killed with
SIGKILL at awkward moments and started again on the same data dir; the hub
must end up with every accepted event exactly once (`skyport stats --event
purchase --json` reads them back).
"""
import json
import os
import signal
import threading
import unittest

from harness import Backend, ClusterTest, Hub, Router, wait_until
from test_events import HOST, doc_arms, post
from test_router import cookie_pair, get

C1 = "aaaa" + "1" * 36
C2 = "bbbb" + "2" * 36


class DurableEventsTest(ClusterTest):
    def setUp(self):
        super().setUp()
        self.hub = Hub(self.tmp, self.token_file, self.registry).start()
        self.addCleanup(self.hub.kill)
        self.backend = Backend(self.tmp, "one").start()
        self.addCleanup(self.backend.kill)
        routes = os.path.join(self.tmp, "routes.json")
        with open(routes, "w") as f:
            json.dump({"apps": [{"name": "webapp", "split_id": "s1",
                                 "arms": [{"commit": C1, "weight": 100, "upstreams": [self.backend.address()]}]}]}, f)
        self.data = os.path.join(self.tmp, "router-data")
        self.router = Router(self.tmp, self.token_file, routes=routes,
                             extra=["--hub", self.hub.address(), "--data", self.data]).start()
        self.addCleanup(self.router.kill)
        status, headers, _ = get(self.router.port, host=HOST)
        self.assertEqual(status, 200)
        self.cookie = cookie_pair(headers["set-cookie"])
        # Posted events count for the arm of their user's exposure at the hub.
        # The exposure is journaled too (DurableExposuresTest), but these tests
        # count purchases only: start from a user whose visit is at the hub.
        wait_until(lambda: self.exposed_users() >= 1, 15, what="the user's exposure at the hub")

    def exposed_users(self):
        r = self.cli("stats", "webapp", "--json", env={**self.env(), "SKYPORT_HUB": self.hub.address()})
        return sum(a["users"] for a in doc_arms(json.loads(r.stdout)))

    def purchases(self, event="purchase"):
        """(events, sum of values) of `event` at the hub."""
        r = self.cli("stats", "webapp", "--event", event, "--json", "--router", self.router.admin_address(),
                     env={**self.env(), "SKYPORT_HUB": self.hub.address()})
        arms = list(doc_arms(json.loads(r.stdout)))
        return sum(a["events"] for a in arms), sum(a["sum"] or 0 for a in arms)

    def post_purchases(self, posts, per_post, value=1):
        body = [{"event": "purchase", "value": value}] * per_post
        for _ in range(posts):
            got, text = post(self.router.port, body, {"Cookie": self.cookie})
            self.assertEqual(got, 202, text)
            self.assertEqual(json.loads(text)["accepted"], per_post)

    def settled(self, expected):
        """Waits until the hub has `expected` purchases and the router nothing pending, then checks twice."""
        wait_until(lambda: self.purchases()[0] >= expected, 30, what=f"{expected} purchases at the hub")
        wait_until(lambda: self.router.metric("skyport_router_stats_pending_rows", default=-1) == 0, 30, what="nothing left to ship")
        self.assertEqual(self.purchases()[0], expected, "each accepted event exactly once")

    def test_kill_right_after_the_202s_loses_nothing(self):
        self.post_purchases(posts=150, per_post=4, value=2)
        self.router.kill(signal.SIGKILL)  # at once: most of it never left the router
        self.router.start()
        self.settled(600)
        self.assertAlmostEqual(self.purchases()[1], 1200.0, places=6)
        self.assertEqual(self.router.metric("skyport_router_stats_dropped_rows_total", default=-1), 0)

    def test_kill_after_the_hub_acknowledged_counts_nothing_twice(self):
        self.post_purchases(posts=50, per_post=2)
        self.settled(100)
        self.router.kill(signal.SIGKILL)
        self.router.start()
        # A marker posted after the restart arrives after anything the restart
        # sent again (batches go out in order): then the count is final.
        got, _ = post(self.router.port, {"event": "marker"}, {"Cookie": self.cookie})
        self.assertEqual(got, 202)
        wait_until(lambda: self.purchases("marker")[0] == 1, 30, what="the marker at the hub")
        wait_until(lambda: self.router.metric("skyport_router_stats_pending_rows", default=-1) == 0, 30, what="nothing left to ship")
        self.assertEqual(self.purchases()[0], 100)

    def test_hub_away_and_router_killed_loses_nothing(self):
        self.hub.kill(signal.SIGKILL)
        self.post_purchases(posts=40, per_post=5)
        # Sealed batches wait on disk for the hub.
        wait_until(lambda: self.router.metric("skyport_router_stats_pending_rows", default=-1) > 0, 10, what="batches held")
        wait_until(lambda: self.router.metric("skyport_router_journal_bytes", default=-1) > 0, 10, what="batches on disk")
        self.router.kill(signal.SIGKILL)
        self.router.start()
        self.post_purchases(posts=10, per_post=1)
        self.router.kill(signal.SIGKILL)
        self.router.start()
        self.hub.start()
        self.settled(210)
        wait_until(lambda: self.router.metric("skyport_router_journal_bytes", default=-1) == 0, 10, what="shipped batches removed")
        self.assertEqual(os.listdir(os.path.join(self.data, "journal")), [])

    def test_kill_in_the_middle_of_a_stream_of_posts(self):
        # Posts race the kill: every one answered 202 counts once; one cut off
        # without an answer may count or not (the client cannot know).
        answered, sent = [0], [0]
        stop = threading.Event()

        def poster():
            while not stop.is_set():
                sent[0] += 1
                try:
                    got, _ = post(self.router.port, {"event": "purchase", "value": 1}, {"Cookie": self.cookie})
                except OSError:
                    return
                if got != 202:
                    return
                answered[0] += 1

        t = threading.Thread(target=poster)
        t.start()
        wait_until(lambda: answered[0] >= 300, 30, what="300 answered posts")
        self.router.kill(signal.SIGKILL)
        stop.set()
        t.join(timeout=15)
        self.router.start()
        wait_until(lambda: self.purchases()[0] >= answered[0], 30, what="every answered post at the hub")
        wait_until(lambda: self.router.metric("skyport_router_stats_pending_rows", default=-1) == 0, 30, what="nothing left to ship")
        n = self.purchases()[0]
        self.assertGreaterEqual(n, answered[0])
        self.assertLessEqual(n, sent[0])

    def test_a_second_router_on_the_same_data_dir_is_refused(self):
        other = Router(self.tmp, self.token_file, routes=self.router.routes, name="r2",
                       extra=["--hub", self.hub.address(), "--data", self.data])
        with self.assertRaises(AssertionError) as e:
            other.start()
        self.assertIn(f"data dir {self.data} is in use by pid {self.router.proc.pid} (another skyport-router?)",
                      str(e.exception))


class DurableExposuresTest(ClusterTest):
    """Exposures are journaled too: a user served just before a kill -9 keeps
    their arm at the hub, so their later events are attributed to it."""

    def setUp(self):
        super().setUp()
        self.hub = Hub(self.tmp, self.token_file, self.registry).start()
        self.addCleanup(self.hub.kill)
        self.b1 = Backend(self.tmp, "one").start()
        self.addCleanup(self.b1.kill)
        self.b2 = Backend(self.tmp, "two").start()
        self.addCleanup(self.b2.kill)
        routes = os.path.join(self.tmp, "routes.json")
        with open(routes, "w") as f:
            json.dump({"apps": [{"name": "webapp", "split_id": "s1", "arms": [
                {"commit": C1, "weight": 50, "upstreams": [self.b1.address()]},
                {"commit": C2, "weight": 50, "upstreams": [self.b2.address()]}]}]}, f)
        self.data = os.path.join(self.tmp, "router-data")
        self.router = Router(self.tmp, self.token_file, routes=routes,
                             extra=["--hub", self.hub.address(), "--data", self.data]).start()
        self.addCleanup(self.router.kill)

    def stats(self):
        r = self.cli("stats", "webapp", "--event", "purchase", "--json",
                     env={**self.env(), "SKYPORT_HUB": self.hub.address()})
        return json.loads(r.stdout)

    def test_users_served_right_before_a_kill_keep_their_arm(self):
        users = []  # (cookie, commit)
        for _ in range(40):
            status, headers, _ = get(self.router.port, host=HOST)
            self.assertEqual(status, 200)
            users.append((cookie_pair(headers["set-cookie"]), headers["x-skyport-commit"]))
        self.router.kill(signal.SIGKILL)  # at once: the exposures of this second were never sealed
        self.router.start()
        for cookie, _ in users:
            got, text = post(self.router.port, {"event": "purchase", "value": 1}, {"Cookie": cookie})
            self.assertEqual(got, 202, text)

        def purchases():
            doc = self.stats()
            return sum(a["events"] for a in doc_arms(doc)) + doc["experiment"]["unattributed"]["events"]

        wait_until(lambda: purchases() >= 40, 30, what="40 purchases at the hub")
        doc = self.stats()
        self.assertEqual(doc["experiment"]["unattributed"], {"users": 0, "events": 0},
                         "events of users exposed before the kill were left unattributed")
        want = {C1: 0, C2: 0}
        for _, commit in users:
            want[commit] += 1
        arms = {a["arm"]: a for a in doc_arms(doc)}
        for commit, n in want.items():
            if n == 0:
                continue
            self.assertEqual(arms[commit]["events"], n, f"purchases of {commit[:8]}")
            self.assertEqual(arms[commit]["converted"], n)
            self.assertEqual(arms[commit]["users"], n, "each exposure counted once")
            self.assertEqual(arms[commit]["exposures"], n, "each exposure counted once")


if __name__ == "__main__":
    unittest.main()
