"""Cookie-less page views from one address must not fill the hub's stats
store with exposures of new users (docs/security.md).

On 127.0.0.1: a hub with --stats-max-mb 1, one backend and a static-routes
router with --hub and a small new-user budget per address
(--new-users-address-rate 5, burst 20). A flooder on 127.0.0.9 sends GETs
without a cookie (each one a new user before the fix: an exposure row at the
hub) until the router reports 20000 of them limited, or the hub's live data
passes its budget. Then a real user on 127.0.0.2 views a page and buys.
Expected: the flooder's pages are still served (200); the real user's
exposure and purchase are counted at the hub; the hub's live data stays far
under its budget. Before the fix the hub filled and dropped both rows.
"""
import http.client
import json
import os
import threading
import time

from harness import Backend, ClusterTest, Hub, Router, wait_until
from test_events import HOST
from test_router import COOKIE_RE, cookie_pair

C1 = "aaaa" + "1" * 36
MB = 1 << 20


class ExposureFloodTest(ClusterTest):
    def setUp(self):
        super().setUp()
        self.hub = Hub(self.tmp, self.token_file, self.registry, extra=["--stats-max-mb", "1"]).start()
        self.addCleanup(self.hub.kill)
        self.backend = Backend(self.tmp, "one").start()
        self.addCleanup(self.backend.kill)
        routes = os.path.join(self.tmp, "routes.json")
        with open(routes, "w") as f:
            json.dump({"apps": [{"name": "webapp", "split_id": "s1",
                                 "arms": [{"commit": C1, "weight": 100, "upstreams": [self.backend.address()]}]}]}, f)
        self.router = Router(self.tmp, self.token_file, routes=routes, extra=[
            "--hub", self.hub.address(), "--new-users-address-rate", "5", "--new-users-address-burst", "20"]).start()
        self.addCleanup(self.router.kill)

    def test_get_flood_leaves_a_real_users_exposure_and_purchase_counted(self):
        stop = threading.Event()
        seen = {"sent": 0, "statuses": {}, "cookies": 0}
        lock = threading.Lock()

        def flooder():
            conn = http.client.HTTPConnection("127.0.0.1", self.router.port, timeout=10,
                                              source_address=("127.0.0.9", 0))
            try:
                while not stop.is_set():
                    conn.request("GET", "/", headers={"Host": HOST})
                    r = conn.getresponse()
                    r.read()
                    with lock:
                        seen["sent"] += 1
                        seen["statuses"][r.status] = seen["statuses"].get(r.status, 0) + 1
                        seen["cookies"] += r.getheader("Set-Cookie") is not None
            finally:
                conn.close()

        threads = [threading.Thread(target=flooder) for _ in range(3)]
        for t in threads:
            t.start()
        try:
            # Fixed: the router limits (the flood is long enough to show it); before: the hub fills.
            wait_until(lambda: self.router.metric("skyport_router_exposures_limited_total", default=-1) >= 20000
                       or self.hub.stats_live_bytes() > MB, 50, interval=0.5, what="a GET flood far over the new-user budget")
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=15)
        self.assertEqual(set(seen["statuses"]), {200}, seen)  # every page still served
        self.assertLess(seen["cookies"], 20 + 5 * 60, seen)  # ids minted: burst + rate x duration at most

        # A real user on another address: a page (their exposure), then a purchase.
        conn = http.client.HTTPConnection("127.0.0.1", self.router.port, timeout=10, source_address=("127.0.0.2", 0))
        try:
            conn.request("GET", "/", headers={"Host": HOST})
            r = conn.getresponse()
            r.read()
            self.assertEqual(r.status, 200)
            cookie = cookie_pair(r.getheader("Set-Cookie"))
            uid = COOKIE_RE.match(cookie).group(1)
            conn.request("POST", "/_skyport/events", body=json.dumps({"event": "purchase", "value": 7}).encode(),
                         headers={"Host": HOST, "Content-Type": "application/json", "Cookie": cookie})
            r = conn.getresponse()
            self.assertEqual(r.status, 202, r.read())
            r.read()
        finally:
            conn.close()

        def counted():
            rows = dict(self.hub.stats_sql("SELECT event, SUM(count) FROM user_events WHERE user = ? GROUP BY event", uid))
            return rows.get("$exposure", 0) >= 1 and rows.get("purchase", 0) == 1
        wait_until(counted, 20, what="the real user's exposure and purchase at the hub")
        self.assertLess(self.hub.stats_live_bytes(), MB // 2)
