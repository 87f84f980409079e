"""skyport-router enforcing a flight written into the route config, on
127.0.0.1: a registry, a hub (for the experiment rows), a router in registry
mode and two backends registered as commits A (control) and B (treatment).

The route config is what the hub's control tower writes while a flight runs:
split_id = flight id, weights A:50 B:50 over the enrolled users, and
flight = {oses: [linux], range [0, 0.5) of the user id}. The test predicts
every user's arm exactly, with the router's frozen hash (contract/split.h
UserPosition, reimplemented below and checked against its golden values):
enrolled = a Linux User-Agent and UserPosition(uid, id + ".enroll") < 500000;
an enrolled user's arm = A if UserPosition(uid, id) < 500000 else B (fresh
layout in commit order); everyone else = A.
"""
import json
import os
import time
import unittest

from harness import Backend, ClusterTest, Hub, Router, wait_until
from test_router import COOKIE_RE, cookie_pair, get, run_requests

A = "aaaa" + "1" * 36  # control; sorts first, so its slice is [0, 500000)
B = "bbbb" + "2" * 36  # treatment
HOST = "webapp.localhost"
FLIGHT = "checkout-v2"
FID = "checkout-v2.1"
UNITS = 1_000_000

LINUX_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
MAC_UA = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/17.4.1 Safari/605.1.15")
ANDROID_UA = ("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 "
              "Mobile Safari/537.36")
MASK = (1 << 64) - 1


def position(user, salt):
    """contract/split.h UserPosition: FNV-1a 64 over salt, 0x1f, user; fmix64; (h * 10**6) >> 64."""
    h = 0xcbf29ce484222325
    for c in salt.encode() + b"\x1f" + user.encode():
        h = ((h ^ c) * 0x100000001b3) & MASK
    h ^= h >> 33
    h = (h * 0xff51afd7ed558ccd) & MASK
    h ^= h >> 33
    h = (h * 0xc4ceb9fe1a85ec53) & MASK
    h ^= h >> 33
    return (h * UNITS) >> 64


def enrolled(uid, ge=0, lt=500_000):
    return ge <= position(uid, FID + ".enroll") < lt


def expected_arm(uid, linux=True):
    if not (linux and enrolled(uid)):
        return A
    return A if position(uid, FID) < 500_000 else B


def forwarded(body):
    """The request headers the backend saw (lowercase names)."""
    return {k.lower(): v for k, v in json.loads(body)["headers"]}


def flight_route(end_by_ms=0, **flight):
    doc = {"app": "webapp", "split_id": FID, "weights": {A: 50, B: 50},
           "flight": {"name": FLIGHT, "id": FID, "control": A, "arms": {"control": A, "treatment": B},
                      "filter": {"oses": ["linux"]}, "range_key": "uid", "range_ge": 0, "range_lt": 500_000,
                      "end_by_unix_ms": end_by_ms}}
    doc["flight"].update(flight)
    return doc


class RouterFlightTest(ClusterTest):
    def setUp(self):
        super().setUp()
        self.hub = Hub(self.tmp, self.token_file, self.registry).start()
        self.addCleanup(self.hub.kill)
        self.a = Backend(self.tmp, "a").start()
        self.addCleanup(self.a.kill)
        self.b = Backend(self.tmp, "b").start()
        self.addCleanup(self.b.kill)
        # Many simulated users from one address: above the default new-user budget per address.
        self.router = Router(self.tmp, self.token_file, registry=self.registry,
                             extra=["--hub", self.hub.address(),
                                    "--new-users-address-burst", "100000"]).start()
        self.addCleanup(self.router.kill)
        for commit, backend in ((A, self.a), (B, self.b)):
            self.cli("registry", "register", f"webapp@{commit}", "web", "--host", "127.0.0.1", "--port",
                     str(backend.port))
        wait_until(lambda: get(self.router.port, host=HOST)[0] == 200, 10, what="webapp routed")

    def set_route(self, doc, check=True):
        path = os.path.join(self.tmp, "route.json")
        with open(path, "w") as f:
            json.dump(doc, f)
        r = self.cli("registry", "route", "set", "webapp", path, check=check)
        if r.returncode == 0:
            rev = int(self.cli_json("registry", "route", "get", "webapp")["revision"])
            wait_until(lambda: self.router.admin_json("/routes")["revision"] >= rev, 10,
                       what=f"router table at route revision {rev}")
        return r

    def visit(self, ua, cookie=None, path="/"):
        """One request; (status, headers, body, uid, commit)."""
        headers = {"User-Agent": ua}
        if cookie:
            headers["Cookie"] = cookie
        status, h, body = get(self.router.port, path=path, host=HOST, headers=headers)
        self.assertEqual(status, 200, body)
        uid = COOKIE_RE.match(cookie or cookie_pair(h["set-cookie"])).group(1)
        return status, h, body, uid, h["x-skyport-commit"]

    def check_user(self, h, body, uid, linux=True):
        """The arm and the forwarded X-Skyport-Flight are the ones predicted for `uid`."""
        want = expected_arm(uid, linux)
        self.assertEqual(h["x-skyport-commit"], want, f"user {uid}")
        self.assertEqual(json.loads(body)["name"], "a" if want == A else "b")
        flight_header = forwarded(body).get("x-skyport-flight")
        if linux and enrolled(uid):
            self.assertEqual(flight_header, FLIGHT, f"enrolled user {uid}")
        else:
            self.assertIsNone(flight_header, f"user {uid} is outside the flight")

    # ------------------------------------------------------------ tests

    def test_position_matches_the_router_golden_values(self):
        self.assertEqual(position("", ""), 212418)
        self.assertEqual(position("0123456789abcdef0123456789abcdef", "s-1a2b3c4d"), 878988)
        self.assertEqual(position("ffffffffffffffffffffffffffffffff", "test-1.a_b"), 63434)

    def test_enrolled_users_split_everyone_else_gets_control(self):
        self.set_route(flight_route())
        flight = self.router.admin_json("/routes")["apps"]["webapp"]["flight"]
        self.assertEqual((flight["name"], flight["id"], flight["control"]), (FLIGHT, FID, A))
        self.assertEqual(flight["filter"]["oses"], ["linux"])
        self.assertEqual(flight["range"], {"key": "uid", "ge": 0, "lt": 500_000})

        # New Linux users: about half enrolled, split 50/50; the rest on control.
        n = 600
        res = run_requests(self.router.port, [{"User-Agent": LINUX_UA}] * n, host=HOST)
        cookies = {}
        for status, h, body in res:
            self.assertEqual(status, 200, body)
            m = COOKIE_RE.match(cookie_pair(h["set-cookie"]))
            self.assertEqual(m.group(2), FID, "the cookie carries the split id = the flight id")
            uid = m.group(1)
            self.check_user(h, body, uid)
            cookies[uid] = m.group(0)
        uids = list(cookies)
        n_enrolled = sum(enrolled(u) for u in uids)
        # Binomial n=600 at p=.5: sd 2 points; 10 points is 5 sd.
        self.assertAlmostEqual(n_enrolled / n, 0.5, delta=0.10)
        on_b = sum(1 for u in uids if expected_arm(u) == B)
        self.assertAlmostEqual(on_b / n_enrolled, 0.5, delta=0.15)
        self.assertGreater(on_b, 0)

        # Mac (and Android: its UA says Linux too) users: all control, whether in range or not.
        for ua in (MAC_UA, ANDROID_UA):
            res = run_requests(self.router.port, [{"User-Agent": ua}] * 100, host=HOST)
            for status, h, body in res:
                uid = COOKIE_RE.match(cookie_pair(h["set-cookie"])).group(1)
                self.check_user(h, body, uid, linux=False)
            self.assertEqual({h["x-skyport-commit"] for _, h, _ in res}, {A})
        # No User-Agent at all: control.
        status, h, body = get(self.router.port, host=HOST)
        self.assertEqual(h["x-skyport-commit"], A)

        # A cookie keeps its arm; the same user on a Mac is outside the flight.
        treated = next(u for u in uids if expected_arm(u) == B)
        enrolled_control = next(u for u in uids if enrolled(u) and expected_arm(u) == A)
        outside = next(u for u in uids if not enrolled(u))
        for uid, arm in ((treated, B), (enrolled_control, A), (outside, A)):
            for _ in range(20):
                _, h, body, _, commit = self.visit(LINUX_UA, cookies[uid])
                self.assertEqual(commit, arm)
                self.assertNotIn("set-cookie", h)
                self.check_user(h, body, uid)
        _, h, body, _, commit = self.visit(MAC_UA, cookies[treated])
        self.assertEqual(commit, A)
        self.assertIsNone(forwarded(body).get("x-skyport-flight"))

    def test_events_of_enrolled_users_carry_the_flight(self):
        self.set_route(flight_route())
        posted = {"flight": 0, "outside": 0}
        per_arm = {A: 0, B: 0}
        for ua in [LINUX_UA] * 60 + [MAC_UA] * 20:
            _, h, _, uid, commit = self.visit(ua)
            cookie = cookie_pair(h["set-cookie"])
            status, headers, body = get(self.router.port, path="/_skyport/events", host=HOST, method="POST",
                                        body=json.dumps({"event": "purchase", "value": 10}).encode(),
                                        headers={"User-Agent": ua, "Cookie": cookie,
                                                 "Content-Type": "application/json"})
            self.assertEqual(status, 202, body)
            self.assertEqual(json.loads(body)["commit"], commit, "the event goes to the user's arm")
            in_flight = ua == LINUX_UA and enrolled(uid)
            posted["flight" if in_flight else "outside"] += 1
            if in_flight:
                per_arm[commit] += 1
        self.assertGreater(posted["flight"], 5)
        self.assertGreater(posted["outside"], 5)
        env = {**self.env(), "SKYPORT_HUB": self.hub.address()}

        def arms(flight):
            args = ["stats", "webapp", "--event", "purchase", "--json"] + (["--flight", flight] if flight else [])
            doc = json.loads(self.cli(*args, env=env).stdout)
            out = {}
            for bucket in doc["experiment"]["buckets"]:
                for arm in bucket["arms"]:
                    out[arm["arm"]] = arm
            return out

        # Data is kept under the flight's id (a rerun of the name starts afresh).
        wait_until(lambda: sum(a["converted"] for a in arms(FID).values()) == posted["flight"]
                   and sum(a["converted"] for a in arms("").values()) == posted["outside"], 20,
                   what="every purchase at the hub, in its flight")
        inside = arms(FID)
        for commit, count in per_arm.items():
            if count:
                self.assertEqual(inside[commit]["converted"], count, inside)
                self.assertGreaterEqual(inside[commit]["requests"], count, "request rows carry the flight too")
        # Outside the flight every purchase was on control (setUp's probe, before
        # the flight, may have exposed someone on B: it bought nothing).
        outside = arms("")
        self.assertEqual(outside[A]["converted"], posted["outside"], outside)
        self.assertEqual(outside.get(B, {}).get("converted", 0), 0, outside)

    def test_end_by_sends_everyone_to_control_without_the_hub(self):
        end_by = int(time.time() * 1000) + 5000
        self.set_route(flight_route(end_by_ms=end_by))
        rev = self.router.admin_json("/routes")["revision"]
        res = run_requests(self.router.port, [{"User-Agent": LINUX_UA}] * 200, host=HOST)
        before_end = time.time() * 1000 < end_by
        self.assertTrue(before_end, "the first requests took longer than 5 s")
        cookies = []
        for _, h, body in res:
            pair = cookie_pair(h["set-cookie"])
            uid = COOKIE_RE.match(pair).group(1)
            self.check_user(h, body, uid)
            if enrolled(uid):
                cookies.append(pair)
        self.assertIn(B, {h["x-skyport-commit"] for _, h, _ in res})

        def all_control():
            start_ms = time.time() * 1000
            out = run_requests(self.router.port, [{"User-Agent": LINUX_UA, "Cookie": c} for c in cookies], host=HOST)
            done_ms = time.time() * 1000
            if {h["x-skyport-commit"] for _, h, _ in out} != {A}:
                return None
            if done_ms >= end_by and start_ms < end_by + 100:
                # The batch straddled end_by: its early answers were still in the flight. (The router
                # reads the wall clock once per loop turn, so allow it a turn's worth of staleness.)
                return None
            return done_ms, out  # (all on control before end_by fails the assertion below)
        done_ms, out = wait_until(all_control, 15, interval=0.1, what="every enrolled user back on control")
        self.assertGreaterEqual(done_ms, end_by, "users went back to control before end_by")
        for _, _, body in out:
            self.assertIsNone(forwarded(body).get("x-skyport-flight"), "after end_by nobody is in the flight")
        # New users too; and the route config was not touched: the router did this alone.
        res = run_requests(self.router.port, [{"User-Agent": LINUX_UA}] * 100, host=HOST)
        self.assertEqual({h["x-skyport-commit"] for _, h, _ in res}, {A})
        self.assertEqual(self.router.admin_json("/routes")["revision"], rev)
        self.assertEqual(int(self.cli_json("registry", "route", "get", "webapp")["flight"]["end_by_unix_ms"]), end_by)

    def test_a_bad_flight_is_refused_with_its_field(self):
        self.set_route(flight_route())
        good = self.cli_json("registry", "route", "get", "webapp")
        cases = [
            (flight_route(filter={"oses": ["beos"]}), "route.flight.filter.oses[0]"),
            (flight_route(range_ge=600_000), "route.flight.range_lt"),
            (flight_route(control="cccc" + "3" * 36), "route.flight.control"),
            (flight_route(id="other"), "route.flight.id"),
            (flight_route(filter={"locales": ["en_US"]}), "route.flight.filter.locales[0]"),
            ({**flight_route(), "weights": {A: 50, "cccc" + "3" * 36: 50}}, "route.weights[cccc"),
        ]
        for doc, field in cases:
            r = self.set_route(doc, check=False)
            self.assertNotEqual(r.returncode, 0, f"{field}: accepted")
            self.assertIn(field, r.stderr)
            self.assertIn("INVALID_ARGUMENT", r.stderr)
        self.assertEqual(self.cli_json("registry", "route", "get", "webapp"), good, "refused writes change nothing")


if __name__ == "__main__":
    unittest.main()
