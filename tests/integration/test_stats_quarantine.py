"""A stats batch the hub refuses as invalid is quarantined, not lost.

On 127.0.0.1: a hub that takes rows of at most a day ago (--stats-max-age 1)
and two static-routes routers, one with --data and one without. A user
posts a purchase dated two days ago: the router accepts it (it takes a
month), the hub refuses the batch INVALID_ARGUMENT. Expected: the router
with a data dir keeps the batch in DATA/quarantine (the request and the
hub's reason) and counts it; the one without counts and logs it; both go on
shipping the batches after it. Before, the batch was dropped.
"""
import json
import os
import time

from harness import Backend, ClusterTest, Hub, Router, wait_until
from test_events import HOST, doc_arms, post
from test_router import cookie_pair, get

C1 = "aaaa" + "1" * 36


class StatsQuarantineTest(ClusterTest):
    def setUp(self):
        super().setUp()
        self.hub = Hub(self.tmp, self.token_file, self.registry, extra=["--stats-max-age", "1"]).start()
        self.addCleanup(self.hub.kill)
        self.backend = Backend(self.tmp, "one").start()
        self.addCleanup(self.backend.kill)
        self.routes = os.path.join(self.tmp, "routes.json")
        with open(self.routes, "w") as f:
            json.dump({"apps": [{"name": "webapp", "split_id": "s1",
                                 "arms": [{"commit": C1, "weight": 100, "upstreams": [self.backend.address()]}]}]}, f)

    def router(self, name, data=None):
        extra = ["--hub", self.hub.address()] + (["--data", data] if data else [])
        r = Router(self.tmp, self.token_file, routes=self.routes, name=name, extra=extra).start()
        self.addCleanup(r.kill)
        return r

    def purchases(self):
        r = self.cli("stats", "webapp", "--event", "purchase", "--json",
                     env={**self.env(), "SKYPORT_HUB": self.hub.address()})
        return sum(a["events"] for a in doc_arms(json.loads(r.stdout)))

    def refuse_one_then_ship(self, router):
        status, headers, _ = get(router.port, host=HOST)
        self.assertEqual(status, 200)
        cookie = cookie_pair(headers["set-cookie"])
        shipped = router.metric("skyport_router_stats_shipped_rows_total")
        wait_until(lambda: router.metric("skyport_router_stats_shipped_rows_total") > shipped, 15,
                   what="the exposure shipped")
        before = self.purchases()
        got, text = post(router.port, {"event": "purchase", "value": 3, "time": int(time.time()) - 2 * 86400},
                         {"Cookie": cookie})
        self.assertEqual(got, 202, text)
        wait_until(lambda: router.metric("skyport_router_stats_batches_refused_total") == 1, 15,
                   what="the batch refused by the hub")
        got, text = post(router.port, {"event": "purchase", "value": 5}, {"Cookie": cookie})
        self.assertEqual(got, 202, text)
        wait_until(lambda: self.purchases() == before + 1, 15, what="the next batch at the hub")
        self.assertEqual(router.metric("skyport_router_stats_pending_rows"), 0)

    def test_a_refused_batch_is_quarantined_with_the_hubs_reason(self):
        data = os.path.join(self.tmp, "router-data")
        router = self.router("r1", data)
        self.refuse_one_then_ship(router)
        self.assertEqual(router.metric("skyport_router_stats_batches_quarantined_total"), 1)
        qdir = os.path.join(data, "quarantine")
        files = sorted(os.listdir(qdir))
        self.assertEqual(len(files), 2, files)
        batch, reason = files
        self.assertTrue(batch.endswith(".batch") and reason.endswith(".txt"), files)
        with open(os.path.join(qdir, reason)) as f:
            text = f.read()
        self.assertIn("refused: rows[0].hour_unix_s", text)
        self.assertGreater(os.path.getsize(os.path.join(qdir, batch)), 0)
        size = sum(os.path.getsize(os.path.join(qdir, n)) for n in files)
        self.assertEqual(router.metric("skyport_router_quarantine_bytes"), size)
        self.assertGreaterEqual(router.metric("skyport_router_journal_bytes"), size)
        self.assertIn("the hub refused a stats batch as invalid; quarantined it", router.log())
        self.assertEqual(os.listdir(os.path.join(data, "journal")), [])

    def test_without_a_data_dir_a_refused_batch_is_counted_and_logged(self):
        router = self.router("r2")
        self.refuse_one_then_ship(router)
        self.assertEqual(router.metric("skyport_router_stats_batches_quarantined_total"), 0)
        self.assertGreaterEqual(router.metric("skyport_router_stats_dropped_rows_total"), 1)
        self.assertIn("the hub refused a stats batch as invalid; dropped it", router.log())
        self.assertIn("rows[0].hour_unix_s", router.log())
