"""skyport-router against a registry holding thousands of endpoints whose hosts
are names (issue 15, "Scale"). Before the router applied deltas per app and
coalesced bursts, a fill of 20,000 such endpoints left it thousands of
revisions behind for tens of seconds, and an app registered after the fill
got 404. Here: FILL endpoints of one app on host "localhost", written as fast
as 16 clients go (bench/router_propagation --fill-only), then a new app on a
host given by name must be routed, and the router's revision must reach the
registry's, each within a deadline, polled, never slept.
"""
import http.client
import json
import subprocess
import time
import unittest

from harness import Backend, ClusterTest, Router, binary, wait_until

FILL = 12000
NEW_COMMIT = "ab12" + "0" * 36


def registry_revision(registry):
    conn = http.client.HTTPConnection("127.0.0.1", registry.metrics_port(), timeout=5)
    try:
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
    finally:
        conn.close()
    for line in text.splitlines():
        if line.startswith("skyport_registry_revision "):
            return int(float(line.split()[1]))
    raise AssertionError("skyport_registry_revision not in the registry's /metrics")


def routed_commit(port, host):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/", headers={"Host": host})
        r = conn.getresponse()
        r.read()
        return r.status, r.getheader("X-Skyport-Commit")
    finally:
        conn.close()


class RouterScaleTest(ClusterTest):
    def setUp(self):
        super().setUp()
        self.router = Router(self.tmp, self.token_file, registry=self.registry).start()
        self.addCleanup(self.router.kill)
        self.backend = Backend(self.tmp, "b1").start()
        self.addCleanup(self.backend.kill)
        wait_until(lambda: self.router.admin_get("/healthz", token=False)[0] == 200, timeout=10,
                   what="the router's first table")

    def test_fill_by_name_then_a_new_app_is_routed_and_the_router_is_current(self):
        started = time.monotonic()
        r = subprocess.run([binary("router_propagation"), "--registry", self.registry.address(),
                            "--router", self.router.address(), "--token-file", self.token_file,
                            "--fill", str(FILL), "--fill-hosts", "localhost", "--fill-concurrency", "16",
                            "--skip-port", str(self.backend.port), "--fill-only"],
                           capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
        self.assertEqual(r.returncode, 0, f"fill failed: {r.stdout} {r.stderr}")
        fill = json.loads(r.stdout)["fill"]
        self.assertEqual(fill["registered"], FILL, fill)
        self.assertEqual(fill["errors"], 0, fill)

        # A new app right after the fill, on a host given by name: routed soon.
        self.cli("registry", "register", f"newapp@{NEW_COMMIT}", "web", "--host", "localhost", "--port",
                 str(self.backend.port))
        registered = time.monotonic()
        status, commit = wait_until(
            lambda: (lambda s, c: (s, c) if s == 200 else None)(*routed_commit(self.router.port, "newapp.localhost")),
            timeout=10, what="the new app to be routed")
        self.assertEqual(commit, NEW_COMMIT)
        routed_after = time.monotonic() - registered

        # The router's table reaches the registry's revision (nothing else writes now).
        target = registry_revision(self.registry)
        self.assertGreaterEqual(target, fill["last_revision"] + 1)
        wait_until(lambda: self.router.metric("skyport_router_table_revision") >= target, timeout=5,
                   what=f"the router at revision {target}")
        self.assertEqual(self.router.metric("skyport_router_watch_revisions_behind"), 0)

        # Everything of the fill is in the table and routable: "localhost" resolved once, from the cache.
        self.assertGreaterEqual(self.router.metric("skyport_router_registry_endpoints"), FILL + 1)
        routes = self.router.admin_json("/routes")
        [arm] = routes["apps"]["fill"]["arms"]
        self.assertEqual(len(arm["instances"]), FILL)
        self.assertEqual(self.router.metric("skyport_router_unresolved_apps"), 0)
        self.assertEqual(self.router.metric("skyport_router_resolver_names"), 1)
        self.assertEqual(self.router.metric("skyport_router_resolver_failures_total"), 0)
        # Coalesced: far fewer tables than writes, and the fill's app was not rebuilt per write.
        built = self.router.metric("skyport_router_tables_built_total")
        self.assertLess(built, FILL // 2, f"{built} tables for {FILL} writes")
        self.assertGreaterEqual(self.router.metric("skyport_router_watch_events_applied_total"), FILL + 1)
        print(f"\nfill of {FILL}: {fill['seconds']:.1f} s ({fill['per_sec']:.0f}/s), {built} tables; "
              f"new app routed {routed_after * 1000:.0f} ms after its registration; "
              f"test {time.monotonic() - started:.1f} s")

    def test_a_name_that_does_not_resolve_holds_back_its_endpoints_only(self):
        self.cli("registry", "register", f"ghost@{NEW_COMMIT}", "web", "--host", "no-such-host.invalid", "--port",
                 "8080")
        self.cli("registry", "register", f"newapp@{NEW_COMMIT}", "web", "--host", "localhost", "--port",
                 str(self.backend.port))
        wait_until(lambda: routed_commit(self.router.port, "newapp.localhost")[0] == 200, timeout=10,
                   what="the app on a resolvable name to be routed")
        wait_until(lambda: self.router.metric("skyport_router_resolver_failures_total") >= 1, timeout=10,
                   what="the failed resolution")
        self.assertEqual(routed_commit(self.router.port, "ghost.localhost")[0], 503)  # known app, nothing routable
        self.assertEqual(self.router.metric("skyport_router_unresolved_apps"), 1)
        # Logged once for the name, not once per retry or per table.
        wait_until(lambda: self.router.metric("skyport_router_resolver_failures_total") >= 2, timeout=10,
                   what="a retry")
        lines = [line for line in self.router.log().splitlines() if "no-such-host.invalid" in line]
        self.assertEqual(len(lines), 1, self.router.log())


if __name__ == "__main__":
    unittest.main()
