"""User identity and event attribution end to end on 127.0.0.1 (issue 12):
a registry, a hub and a router (registry mode, --hub) with webapp split
between two commits.

- Server-side events (posted with the cluster token, naming their user)
  count for the arm the named user was assigned to, not the arm of the
  posting request: 200 users, 0 misattributed.
- Events of a user whose cookie carries an older split id count (for the
  user's arm) instead of being refused with "no user".
- User ids are minted and signed by routers: a client that sends an id of
  its choosing (unsigned, tampered, or signed with a guessed key) gets a
  fresh signed id, and the refusal is counted. Every router of the cluster
  verifies every other's cookies; legacy unsigned cookies keep their id
  only inside the operator's migration window; a previous secret is
  accepted during a rotation.
"""
import base64
import hashlib
import hmac
import json
import os
import re
import unittest

from harness import Backend, ClusterTest, Hub, Router, wait_until
from test_events import post
from test_router import COOKIE_RE, cookie_pair, get

C1 = "aaaa" + "1" * 36
C2 = "bbbb" + "2" * 36
HOST = "webapp.localhost"
# Also the cookies of routers before signing, so that the tests can run
# (and fail) against them.
ANY_COOKIE_RE = re.compile(r"^skyport=(?:v1\.)?([0-9a-f]{32})\.(?:[A-Za-z0-9_-]{16}\.)?([A-Za-z0-9._-]+)$")


def uid_of(pair):
    m = ANY_COOKIE_RE.match(pair)
    assert m, pair
    return m.group(1)


def sign(secret, uid, split):
    """The cookie value a router with `secret` issues (router/user_cookie.h)."""
    mac = hmac.new(secret, f"v1.{uid}.{split}".encode(), hashlib.sha256).digest()[:12]
    return f"v1.{uid}.{base64.urlsafe_b64encode(mac).decode()}.{split}"


class IdentityTest(ClusterTest):
    def setUp(self):
        super().setUp()
        self.hub = Hub(self.tmp, self.token_file, self.registry).start()
        self.addCleanup(self.hub.kill)
        self.b1 = Backend(self.tmp, "one").start()
        self.addCleanup(self.b1.kill)
        self.b2 = Backend(self.tmp, "two").start()
        self.addCleanup(self.b2.kill)
        self.router = self.start_router("r1")
        for commit, b in ((C1, self.b1), (C2, self.b2)):
            self.cli("registry", "register", f"webapp@{commit}", "web", "--host", "127.0.0.1", "--port", str(b.port))
        wait_until(lambda: get(self.router.port, host=HOST)[0] == 200, 10, what="webapp routed")
        self.split(f"{C1}=85", f"{C2}=15")
        with open(self.token_file) as f:
            self.token = f.read().strip()
        self.env_hub = {**self.env(), "SKYPORT_HUB": self.hub.address()}

    def start_router(self, name, extra=()):
        r = Router(self.tmp, self.token_file, registry=self.registry, name=name,
                   extra=["--hub", self.hub.address(), "--new-users-address-burst", "100000", *extra]).start()
        self.addCleanup(r.kill)
        return r

    def split(self, *args, routers=None):
        self.cli("split", "webapp", *args)
        rev = int(self.cli_json("registry", "route", "get", "webapp")["revision"])
        for r in routers or [self.router]:
            wait_until(lambda: r.metric("skyport_router_table_revision", default=-1) >= rev, 10, what="split in the router")

    def visit(self, cookie=None, router=None):
        """A request through the router: (cookie pair in use, commit, response headers)."""
        headers = {"Cookie": cookie} if cookie else {}
        status, h, _ = get((router or self.router).port, host=HOST, headers=headers)
        self.assertEqual(status, 200)
        return cookie_pair(h["set-cookie"]) if "set-cookie" in h else cookie, h["x-skyport-commit"], h

    def hub_stats(self, event):
        doc = json.loads(self.cli("stats", "webapp", "--event", event, "--json", env=self.env_hub).stdout)
        arms = {a["arm"]: a for b in doc["experiment"]["buckets"] for a in b["arms"]}
        return arms, doc["experiment"].get("unattributed", {"users": 0, "events": 0})

    # ------------------------------------------------------------ attribution

    def test_server_side_events_count_for_the_named_users_arm(self):
        users = [self.visit() for _ in range(200)]
        n = {C1: 0, C2: 0}
        for pair, commit, _ in users:
            n[commit] += 1
        self.assertGreater(n[C2], 10, "the treatment got users")
        # The app's server posts each user's purchase itself: the token, the
        # user named, no cookie of the user. Control users buy for 1,
        # treatment users for 1000, so the sums say who landed where.
        auth = {"Authorization": f"Bearer {self.token}"}
        for pair, commit, _ in users:
            got, text = post(self.router.port, {"event": "purchase", "value": 1 if commit == C1 else 1000,
                                                "user": uid_of(pair)}, auth)
            self.assertEqual(got, 202, text)

        def settled():
            arms, unattributed = self.hub_stats("purchase")
            return sum(a["events"] for a in arms.values()) + unattributed["events"] == 200
        wait_until(settled, 15, what="every purchase at the hub")
        arms, unattributed = self.hub_stats("purchase")
        sums = {c: round(arms.get(c, {}).get("sum", 0)) for c in (C1, C2)}
        treatment_in_control = sums[C1] // 1000
        control_in_treatment = sums[C2] % 1000
        misattributed = treatment_in_control + control_in_treatment
        self.assertEqual(misattributed, 0,
                         f"{treatment_in_control} of {n[C2]} treatment users' events went to control, "
                         f"{control_in_treatment} of {n[C1]} control users' to treatment")
        self.assertEqual(sums, {C1: n[C1], C2: 1000 * n[C2]})
        self.assertEqual((arms[C1]["converted"], arms[C2]["converted"]), (n[C1], n[C2]))
        self.assertEqual(unattributed, {"users": 0, "events": 0})

        # A user nobody served: counted as unattributed, never given to control.
        got, text = post(self.router.port, {"event": "purchase", "value": 5, "user": "f" * 32}, auth)
        self.assertEqual(got, 202, text)
        wait_until(lambda: self.hub_stats("purchase")[1]["events"] == 1, 15, what="the unattributed event")
        arms, unattributed = self.hub_stats("purchase")
        self.assertEqual(unattributed, {"users": 1, "events": 1})
        self.assertEqual(round(arms[C1]["sum"]), n[C1], "the unknown user's event went to an arm")
        text = self.cli("stats", "webapp", "--event", "purchase", env=self.env_hub).stdout
        self.assertIn("unattributed: 1 events of 1 users", text)

    def test_events_of_a_user_with_an_older_split_id_count(self):
        users = [self.visit() for _ in range(20)]
        # A new test re-deals everyone: the cookies now carry an older split id.
        self.split(f"{C1}=50", f"{C2}=50", "--new-test")
        sums = {C1: 0, C2: 0}
        for pair, commit, _ in users:
            got, text = post(self.router.port, {"event": "signup", "value": 1}, {"Cookie": pair})
            self.assertEqual(got, 202, f"an event with an older split id's cookie was refused: {text}")
            sums[commit] += 1  # the arm the user was served (their only exposure)
        wait_until(lambda: sum(a["events"] for a in self.hub_stats("signup")[0].values()) == 20, 15,
                   what="every signup at the hub")
        arms, unattributed = self.hub_stats("signup")
        self.assertEqual({c: round(arms.get(c, {}).get("sum", 0)) for c in (C1, C2)}, sums)
        self.assertEqual(unattributed["events"], 0)

    # ------------------------------------------------------------ who chooses the id

    def test_forged_cookies_do_not_choose_arms(self):
        # A treatment user's id is what an attacker wants.
        for _ in range(200):
            pair, commit, _ = self.visit()
            if commit == C2:
                break
        self.assertEqual(commit, C2)
        m = COOKIE_RE.match(pair)
        self.assertIsNotNone(m, f"the router issued an unsigned cookie: {pair}")
        wanted, split = m.group(1), m.group(2)
        # The genuine cookie keeps its arm and is not re-issued.
        again, commit2, h = self.visit(pair)
        self.assertEqual((again, commit2), (pair, C2))
        self.assertNotIn("set-cookie", h)
        control_pair = next(p for p, c, _ in (self.visit() for _ in range(50)) if c == C1)
        cm = COOKIE_RE.match(control_pair)
        forged = {
            "unsigned": f"skyport={wanted}.{split}",
            "tampered": f"skyport=v1.{wanted}.{control_pair.split('.')[2]}.{split}",
            "guessed_key": "skyport=" + sign(b"guessed", wanted, split),
            "split_swapped": f"skyport=v1.{cm.group(1)}.{control_pair.split('.')[2]}.{split}x",
        }
        before = cookie_rejections(self.router)
        on_treatment = 0
        for kind, cookie in forged.items():
            for _ in range(10):
                got, commit, h = self.visit(cookie)
                self.assertIn("set-cookie", h, f"{kind}: no fresh cookie")
                fresh = COOKIE_RE.match(got)
                self.assertIsNotNone(fresh, f"{kind}: {got}")
                self.assertNotEqual(fresh.group(1), wanted, f"{kind}: the chosen id was kept")
                self.assertNotEqual(fresh.group(1), cm.group(1), f"{kind}: the control user's id was kept")
                on_treatment += commit == C2
        self.assertLess(on_treatment, 40, "forged cookies chose the treatment")
        after = cookie_rejections(self.router)
        self.assertEqual(after["unsigned"] - before["unsigned"], 10)
        self.assertEqual(after["bad_signature"] - before["bad_signature"], 30)
        self.assertIn("user cookie refused", self.router.log())
        self.assertNotIn(wanted, self.router.log(), "a cookie value was logged")
        # A server-side event cannot be routed through a forged cookie either:
        # a post with one is refused as having no user.
        got, text = post(self.router.port, {"event": "purchase"}, {"Cookie": forged["unsigned"]})
        self.assertEqual(got, 400, text)
        self.assertIn("no user", text)

    def test_cookies_are_cluster_wide_and_migrate(self):
        # Another router of the cluster (same token, derived secret) verifies r1's cookies.
        r2 = self.start_router("r2")
        wait_until(lambda: get(r2.port, host=HOST)[0] == 200, 10, what="r2 routes")
        pairs = [self.visit() for _ in range(30)]
        for pair, commit, _ in pairs:
            got, commit2, h = self.visit(pair, router=r2)
            self.assertEqual(commit2, commit)
            self.assertNotIn("set-cookie", h, "r2 refused r1's cookie")

        # Legacy unsigned cookies (routers before signing): refused by default,
        # kept (same id, same arm, re-issued signed) inside the migration window.
        r3 = self.start_router("r3", ["--legacy-cookies-until", "2999-01-01T00:00:00Z"])
        wait_until(lambda: get(r3.port, host=HOST)[0] == 200, 10, what="r3 routes")
        for pair, commit, _ in pairs[:10]:
            m = COOKIE_RE.match(pair)
            legacy = f"skyport={m.group(1)}.{m.group(2)}"
            got, commit3, h = self.visit(legacy, router=r3)
            self.assertEqual(commit3, commit, "a migrated user changed arm")
            self.assertEqual(got, pair, "re-issued signed with the same id and split")
            got, _, _ = self.visit(legacy)
            self.assertNotEqual(uid_of(got), m.group(1), "r1 (no window) kept a legacy id")
        self.assertEqual(r3.metric("skyport_router_cookies_migrated_total", default=-1), 10)
        # A window that has ended refuses them.
        r4 = self.start_router("r4", ["--legacy-cookies-until", "2001-01-01T00:00:00Z"])
        wait_until(lambda: get(r4.port, host=HOST)[0] == 200, 10, what="r4 routes")
        m = COOKIE_RE.match(pairs[0][0])
        got, _, _ = self.visit(f"skyport={m.group(1)}.{m.group(2)}", router=r4)
        self.assertNotEqual(uid_of(got), m.group(1))
        self.assertEqual(cookie_rejections(r4)["unsigned"], 1)

        # Rotation: a router with a new secret and the old one as previous
        # accepts cookies of the old secret and re-signs them.
        old, new = os.path.join(self.tmp, "old.secret"), os.path.join(self.tmp, "new.secret")
        with open(old, "w") as f:
            f.write("o" * 64 + "\n")
        with open(new, "w") as f:
            f.write("n" * 64 + "\n")
        r5 = self.start_router("r5", ["--cookie-secret-file", new, "--cookie-secret-previous-file", old])
        wait_until(lambda: get(r5.port, host=HOST)[0] == 200, 10, what="r5 routes")
        m = COOKIE_RE.match(pairs[1][0])
        got, commit5, _ = self.visit("skyport=" + sign(b"o" * 64, m.group(1), m.group(2)), router=r5)
        self.assertEqual(got, "skyport=" + sign(b"n" * 64, m.group(1), m.group(2)))
        self.assertEqual(commit5, pairs[1][1])
        self.assertEqual(r5.metric("skyport_router_cookies_rotated_total", default=-1), 1)
        # A secret file too short to be one stops the router with a reason.
        short = os.path.join(self.tmp, "short.secret")
        with open(short, "w") as f:
            f.write("tooshort\n")
        bad = Router(self.tmp, self.token_file, registry=self.registry, name="r6",
                     extra=["--cookie-secret-file", short])
        with self.assertRaises(AssertionError) as ctx:
            bad.start()
        self.addCleanup(bad.kill)
        self.assertIn("at least 32", str(ctx.exception))


def cookie_rejections(router):
    _, text = router.admin_get("/metrics", token=False)
    return {k: int(v) for k, v in re.findall(r'^skyport_router_cookies_rejected_total\{reason="(\w+)"\} (\d+)$',
                                             text, re.M)} or {"unsigned": 0, "bad_signature": 0, "malformed": 0}


if __name__ == "__main__":
    unittest.main()
