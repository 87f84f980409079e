"""A hub whose stats store is at its budget keeps real users' data ahead of a
flood's (docs/security.md, "the store at its budget").

On 127.0.0.1: a hub with --stats-max-mb 1, one backend and a static-routes
router with --hub. Eight flooders, each on an address of its own
(127.0.1.1..8, each within the router's new-user budget per address: a
flood spread over many addresses), send GETs without a cookie: every one a
new user, an exposure row at the hub, none followed by an event. They stop
once the hub's live data passes its budget. Then 20 real users on 127.0.0.2
view a page and buy. Expected: every real user's exposure and purchase is at
the hub, the purchases are attributed to the arm (none unattributed), and
the store stays near its budget. Before the fix a full store took no new
key, so the real users' rows were dropped.
"""
import http.client
import json
import os
import sqlite3
import threading

from harness import Backend, ClusterTest, Hub, Router, wait_until
from test_events import HOST, doc_arms
from test_router import COOKIE_RE, cookie_pair

C1 = "aaaa" + "1" * 36
MB = 1 << 20


class StatsFullTest(ClusterTest):
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
        self.router = Router(self.tmp, self.token_file, routes=routes, extra=["--hub", self.hub.address()]).start()
        self.addCleanup(self.router.kill)

    def exposures(self):
        try:
            (n,), = self.hub.stats_sql("SELECT COUNT(*) FROM user_events WHERE event = '$exposure'")
        except (ValueError, sqlite3.Error):
            return 0
        return n

    def test_a_distributed_flood_of_new_users_does_not_crowd_out_real_users(self):
        stop = threading.Event()

        def flooder(address):
            conn = http.client.HTTPConnection("127.0.0.1", self.router.port, timeout=10,
                                              source_address=(address, 0))
            try:
                for _ in range(1900):  # under the router's default burst of new users per address
                    if stop.is_set():
                        return
                    conn.request("GET", "/", headers={"Host": HOST})
                    r = conn.getresponse()
                    r.read()
            finally:
                conn.close()

        threads = [threading.Thread(target=flooder, args=(f"127.0.1.{i}",)) for i in range(1, 9)]
        for t in threads:
            t.start()
        try:
            wait_until(lambda: self.hub.stats_live_bytes() > MB, 50, interval=0.5, what="the hub's store over its budget")
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=15)
        # What the flood left in flight settles: the count stops moving.
        last = [-1]

        def settled():
            n, last[0] = last[0], self.exposures()
            return n == last[0]
        wait_until(settled, 20, interval=1.5, what="the flood's rows at the hub")
        # (A batch that finds the store under its budget is taken whole: the flood's last ones overshoot.)
        full_bytes = self.hub.stats_live_bytes()

        users = []
        conn = http.client.HTTPConnection("127.0.0.1", self.router.port, timeout=10, source_address=("127.0.0.2", 0))
        try:
            for _ in range(20):
                conn.request("GET", "/", headers={"Host": HOST})
                r = conn.getresponse()
                r.read()
                self.assertEqual(r.status, 200)
                users.append(cookie_pair(r.getheader("Set-Cookie")))
            # Their exposures reach the hub first (as when people read a page before buying).
            shipped = self.router.metric("skyport_router_stats_shipped_rows_total")
            wait_until(lambda: self.router.metric("skyport_router_stats_shipped_rows_total") > shipped, 20,
                       what="the real users' exposures shipped")
            for cookie in users:
                conn.request("POST", "/_skyport/events", body=json.dumps({"event": "purchase", "value": 7}).encode(),
                             headers={"Host": HOST, "Content-Type": "application/json", "Cookie": cookie})
                r = conn.getresponse()
                self.assertEqual(r.status, 202, r.read())
                r.read()
        finally:
            conn.close()
        uids = [COOKIE_RE.match(c).group(1) for c in users]

        def counted(uid):
            rows = dict(self.hub.stats_sql("SELECT event, SUM(count) FROM user_events WHERE user = ? GROUP BY event", uid))
            return rows.get("$exposure", 0) == 1 and rows.get("purchase", 0) == 1
        wait_until(lambda: all(counted(u) for u in uids), 20, what="the real users' exposures and purchases at the hub")
        missing = [u for u in uids if not counted(u)]
        self.assertEqual(missing, [], "real users' exposure or purchase dropped at the full store")
        r = self.cli("stats", "webapp", "--event", "purchase", "--json",
                     env={**self.env(), "SKYPORT_HUB": self.hub.address()})
        doc = json.loads(r.stdout)
        self.assertEqual(doc["experiment"]["unattributed"], {"users": 0, "events": 0})
        self.assertEqual(sum(a["events"] for a in doc_arms(doc)), 20)
        self.assertLessEqual(self.hub.stats_live_bytes(), full_bytes + 64 * 1024, "the real users' rows took the flood's room")
