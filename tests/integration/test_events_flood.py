"""A flood of events with forged ids must not push real users' events out,
nor grow the router's journal or the hub's stats.db without bound.

On 127.0.0.1: a registry (for the ClusterTest base), a hub with a small
stats.db budget (--stats-max-mb 1) and event-name cap, one backend and a
static-routes router with --hub, a 1 MB data dir and small event rate limits.
Three real users, each from their own loopback address (127.0.0.2-4), post
purchases while two flooders post in parallel: one from 127.0.0.9 with a
forged cookie and random event names on every post, one server-side caller
(the cluster token) from 127.0.0.10 posting purchases of a new forged user
in every event (new keys at the hub).
Expected: the flooders get 429 with Retry-After; every purchase a real user
had answered 202 is counted at the hub; the journal stays near its budget
(1 MB; under 1.25 MB) and drops no acknowledged batch, the hub's live data
stays under its budget (plus one batch) and keeps at most the capped number
of event names.
"""
import http.client
import json
import os
import random
import threading
import time
import unittest

from harness import Backend, ClusterTest, Hub, Router, wait_until
from test_events import HOST
from test_router import COOKIE_RE, cookie_pair

C1 = "aaaa" + "1" * 36
MB = 1 << 20
REAL = ["127.0.0.2", "127.0.0.3", "127.0.0.4"]


def request(port, method, path, body=None, headers=None, source="127.0.0.1"):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=(source, 0))
    try:
        data = None if body is None else json.dumps(body).encode()
        conn.request(method, path, body=data, headers={"Host": HOST, "Content-Type": "application/json", **(headers or {})})
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read().decode()
    finally:
        conn.close()


class EventsFloodTest(ClusterTest):
    def setUp(self):
        super().setUp()
        self.hub = Hub(self.tmp, self.token_file, self.registry,
                       extra=["--stats-max-mb", "1", "--stats-max-event-names", "20"]).start()
        self.addCleanup(self.hub.kill)
        self.backend = Backend(self.tmp, "one").start()
        self.addCleanup(self.backend.kill)
        routes = os.path.join(self.tmp, "routes.json")
        with open(routes, "w") as f:
            json.dump({"apps": [{"name": "webapp", "split_id": "s1",
                                 "arms": [{"commit": C1, "weight": 100, "upstreams": [self.backend.address()]}]}]}, f)
        self.data = os.path.join(self.tmp, "router-data")
        self.router = Router(self.tmp, self.token_file, routes=routes, extra=[
            "--hub", self.hub.address(), "--data", self.data, "--data-max-mb", "1",
            "--events-user-rate", "50", "--events-user-burst", "100",
            "--events-address-rate", "200", "--events-address-burst", "400",
            "--events-trusted-rate", "20000", "--events-trusted-burst", "20000"]).start()
        self.addCleanup(self.router.kill)
        with open(self.token_file) as f:
            self.token = f.read().strip()

    def purchases(self, users):
        marks = ",".join("?" * len(users))
        rows = self.hub.stats_sql(f"SELECT user, SUM(count) FROM user_events WHERE event = 'purchase' AND user IN ({marks}) "
                            "GROUP BY user", *users)
        return dict(rows)

    def test_flood_from_one_address_leaves_real_users_counted_and_disks_bounded(self):
        hour = int(time.time()) // 3600 * 3600  # real users' events in one hour: keys that exist stay countable
        users = {}
        for addr in REAL:
            status, headers, _ = request(self.router.port, "GET", "/", source=addr)
            self.assertEqual(status, 200)
            cookie = cookie_pair(headers["set-cookie"])
            users[addr] = (cookie, COOKIE_RE.match(cookie).group(1))  # v1.<user id>.<mac>.<split>
        accepted = {uid: 0 for _, uid in users.values()}

        def real_post(addr):
            cookie, uid = users[addr]
            deadline = time.time() + 20
            while time.time() < deadline:
                status, headers, text = request(self.router.port, "POST", "/_skyport/events",
                                                {"event": "purchase", "value": 1, "time": hour},
                                                {"Cookie": cookie}, source=addr)
                if status == 202:
                    accepted[uid] += json.loads(text)["accepted"]
                    return
                # A polite client: 503 (journal full) or 429 come with Retry-After.
                self.assertIn(status, (429, 503), text)
                self.assertIn("retry-after", headers)
                time.sleep(0.05)
            self.fail(f"real user {addr} could not post for 20 s")

        # Every real user's purchase key exists at the hub before the flood.
        for addr in REAL:
            real_post(addr)
        wait_until(lambda: len(self.purchases(list(accepted))) == len(REAL), 15, what="first purchases at the hub")

        stop = threading.Event()
        seen = {"forged": {}, "trusted": {}, "retry_after": 0, "no_retry_after": 0, "journal_max": 0}
        lock = threading.Lock()

        def note(kind, status, headers):
            with lock:
                seen[kind][status] = seen[kind].get(status, 0) + 1
                if status in (429, 503):
                    seen["retry_after" if headers.get("retry-after", "").isdigit() else "no_retry_after"] += 1

        def forged_flooder():
            rng = random.Random(1)
            while not stop.is_set():
                cookie = f"skyport={rng.getrandbits(128):032x}.s1"
                body = [{"event": f"ev{rng.getrandbits(32):x}", "value": 1} for _ in range(50)]
                status, headers, _ = request(self.router.port, "POST", "/_skyport/events", body,
                                             {"Cookie": cookie}, source="127.0.0.9")
                note("forged", status, headers)

        def trusted_flooder():
            rng = random.Random(2)
            auth = {"Authorization": f"Bearer {self.token}"}
            while not stop.is_set():
                # Forged purchases: the real users' event, a new user each (new keys at the hub).
                body = [{"event": "purchase", "user": f"forged-{rng.getrandbits(64):x}", "value": 1}
                        for _ in range(500)]
                status, headers, _ = request(self.router.port, "POST", "/_skyport/events", body, auth,
                                             source="127.0.0.10")
                note("trusted", status, headers)

        def journal_watch():
            while not stop.is_set():
                seen["journal_max"] = max(seen["journal_max"], self.router.metric("skyport_router_journal_bytes", default=-1))
                time.sleep(0.05)

        threads = [threading.Thread(target=f) for f in (forged_flooder, forged_flooder, trusted_flooder, journal_watch)]
        for t in threads:
            t.start()
        try:
            wait_until(lambda: seen["forged"].get(429, 0) >= 20, 15, what="the forged flood limited")
            # Real users post during the flood; each from its own address.
            for _ in range(30):
                for addr in REAL:
                    real_post(addr)
            wait_until(lambda: self.router.metric("skyport_router_events_accepted_total", default=-1) > 40_000, 40,
                       what="a flood far over the hub's budget")
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=15)
        wait_until(lambda: self.router.metric("skyport_router_stats_pending_rows", default=-1) == 0, 30, what="nothing left to ship")

        # The flooders: refused with 429 and Retry-After; the forged one mostly.
        self.assertGreater(seen["forged"].get(429, 0), 0, seen)
        self.assertGreater(seen["retry_after"], 0, seen)
        self.assertEqual(seen["no_retry_after"], 0, seen)
        forged_ok = seen["forged"].get(202, 0) + seen["forged"].get(400, 0)
        self.assertLess(forged_ok, seen["forged"].get(429, 0), seen)
        self.assertGreater(self.router.metric('skyport_router_events_limited_total{by="address"}', default=-1), 0)
        # Real users: every accepted purchase counted, none lost to the flood.
        wait_until(lambda: self.purchases(list(accepted)) == accepted, 15,
                   what=f"real users' purchases at the hub: {accepted}")
        self.assertEqual(sum(accepted.values()), len(REAL) * 31)
        # Bounded disks: the journal under its hard bound; the hub's live data under its budget plus
        # one batch (<= 5000 rows), the event names capped, the flood mostly not stored.
        self.assertLessEqual(seen["journal_max"], 1.25 * MB, seen)
        self.assertEqual(self.router.metric("skyport_router_journal_dropped_batches_total", default=-1), 0)
        self.assertEqual(self.router.metric("skyport_router_stats_dropped_rows_total", default=-1), 0)
        journal_dir = os.path.join(self.data, "journal")
        self.assertLessEqual(sum(os.path.getsize(os.path.join(journal_dir, f)) for f in os.listdir(journal_dir)),
                             1.25 * MB)
        self.assertLessEqual(self.hub.stats_live_bytes(), 2 * MB)
        (names,), = self.hub.stats_sql("SELECT COUNT(DISTINCT event) FROM user_events WHERE event NOT LIKE '$%'")
        self.assertLessEqual(names, 20)
        (stored,), = self.hub.stats_sql("SELECT COUNT(*) FROM user_events WHERE event = 'purchase'")
        accepted_total = self.router.metric("skyport_router_events_accepted_total", default=-1)
        self.assertLess(stored, accepted_total / 2, f"{stored} purchase rows of {accepted_total} events")
        with open(self.hub.log_path) as f:
            self.assertIn("stats rows dropped", f.read())


if __name__ == "__main__":
    unittest.main()
