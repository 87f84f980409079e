"""Registry failures and transport: restart grace for lease holders, TLS."""
import os
import shutil
import signal
import subprocess
import sys
import time

from harness import ClusterTest, DeployTest, Registry, Router, wait_until

A = "74336bc1db98478e02e69f59e7100895be207389"
ECHO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "echo_server.py")
GRACE = 3


def flat(table):
    return [(c, r, e) for c, roles in table.items() for r, lst in roles.items() for e in lst]


class RestartGraceTest(ClusterTest):
    def setUp(self):
        super().setUp()
        # Restart this test's registry with a short grace period.
        self.registry.kill()
        self.registry.extra = ["--lease-grace", str(GRACE)]
        self.registry.start()

    def test_holders_keep_their_entries_across_a_kill9_and_the_rest_expire(self):
        held = self.spawn("registry", "register", f"webapp@{A}", "http", "--host", "127.0.0.1", "--ttl", "2",
                          "--", sys.executable, ECHO)
        self.cli("registry", "register", f"webapp@{A}", "say", "--host", "127.0.0.1", "--port", "15999",
                 "--ttl", "2")
        wait_until(lambda: len(flat(self.show())) == 2, 15, what="both entries registered")
        [http] = [e for _, r, e in flat(self.cli_json("registry", "show", "--wide")) if r == "http"]

        self.registry.kill(signal.SIGKILL)
        self.registry.start()
        t0 = time.monotonic()
        # Right after the restart both are back, under the grace period.
        roles = sorted(r for _, r, _ in flat(self.show()))
        self.assertEqual(roles, ["http", "say"])
        # The unheld entry goes when the grace ends; the held one stays, same id and port.
        wait_until(lambda: [r for _, r, _ in flat(self.show())] == ["http"], GRACE + 1.5, what="unheld entry expired")
        self.assertGreaterEqual(time.monotonic() - t0, GRACE - 0.5)
        [(_, _, e)] = wait_until(lambda: flat(self.cli_json("registry", "show", "--wide")), 5, what="held entry")
        self.assertEqual((e["id"], e["port"], e["pid"]), (http["id"], http["port"], http["pid"]))
        self.assertIsNone(held.poll())


class LostLeaseTest(DeployTest):
    """A registry that lost its data answers NOT_FOUND to every KeepAlive: the drone and the
    router's presence grant a new lease and register again (core/lease_keeper.h)."""

    DRONES = ("d1",)

    def test_drone_and_router_register_again_when_the_registry_forgets_their_leases(self):
        self.commit({"Procfile": f"web: {sys.executable} {ECHO}\n"})
        self.push()
        self.cli("deploy", "webapp", "master")
        router = Router(self.tmp, self.token_file, registry=self.registry, name="r1").start()
        self.addCleanup(router.kill)
        wait_until(lambda: self.show("skyport-router"), 15, what="router presence registered")
        [(_, _, web)] = flat(self.cli_json("registry", "show", "webapp", "--wide"))

        self.registry.kill(signal.SIGKILL)
        shutil.rmtree(self.registry.data)
        self.registry.start()
        [(_, _, again)] = wait_until(lambda: flat(self.cli_json("registry", "show", "webapp", "--wide")), 15,
                                     what="the app's entry registered under a new lease")
        self.assertEqual((again["port"], again["pid"]), (web["port"], web["pid"]))
        wait_until(lambda: self.show("skyport-router"), 15, what="router presence registered again")
        self.assertIn("registry lease lost; registering again", self.drones["d1"].log())
        self.assertEqual(router.log().count("registered in the registry"), 2)


def make_cert(tmp):
    key, crt = os.path.join(tmp, "tls.key"), os.path.join(tmp, "tls.crt")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", crt,
                    "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True)
    return key, crt


class TlsTest(ClusterTest):
    def test_tls_registry(self):
        key, crt = make_cert(self.tmp)
        self.registry.kill()
        self.registry.extra = ["--tls-cert", crt, "--tls-key", key]
        self.registry.start()
        self.cli("--tls-ca", crt, "registry", "register", f"webapp@{A}", "http", "--host", "127.0.0.1",
                 "--port", "15194")
        self.assertEqual(self.cli_json("--tls-ca", crt, "registry", "show"),
                         {A: {"http": [{"host": "127.0.0.1", "port": 15194}]}})
        # A plaintext client cannot talk to it.
        r = self.cli("--timeout", "3", "registry", "show", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("UNAVAILABLE", r.stderr)


class StallTest(ClusterTest):
    """A registry that stops running for a while (SIGSTOP here; a paused VM, a swap storm or a
    stalled disk in production) must not expire every lease the moment it resumes: its holders
    could not renew while it was away, and their keep-alives are queued behind the expiry."""

    def test_a_stopped_registry_keeps_its_holders_leases_when_it_resumes(self):
        held = self.spawn("registry", "register", f"webapp@{A}", "http", "--host", "127.0.0.1", "--ttl", "1",
                          "--", sys.executable, ECHO)
        wait_until(lambda: len(flat(self.show())) == 1, 15, what="entry registered")
        # Another holder that dies while the registry is stopped still goes, within its TTL of the resume.
        dying = self.spawn("registry", "register", f"webapp@{A}", "say", "--host", "127.0.0.1", "--ttl", "1",
                           "--", sys.executable, ECHO)
        wait_until(lambda: len(flat(self.show())) == 2, 15, what="second entry registered")
        [http] = [e for _, r, e in flat(self.cli_json("registry", "show", "--wide")) if r == "http"]

        os.kill(self.registry.proc.pid, signal.SIGSTOP)
        try:
            dying.kill()
            dying.wait(timeout=10)
            # The attack itself lasts a while: three TTLs with no keep-alive reaching the registry.
            time.sleep(3.5)
        finally:
            os.kill(self.registry.proc.pid, signal.SIGCONT)
        # The held entry never left: ask right away, then again after a few TTLs.
        table = self.cli_json("registry", "show", "--wide")
        self.assertIn("http", [r for _, r, _ in flat(table)], "the held entry went the moment the registry resumed")
        wait_until(lambda: [r for _, r, _ in flat(self.show())] == ["http"], 5, what="the dead holder's entry expired")
        [(_, _, e)] = flat(self.cli_json("registry", "show", "--wide"))
        self.assertEqual((e["id"], e["port"]), (http["id"], http["port"]))
        self.assertIsNone(held.poll())
        self.assertIn("leases postponed", self.registry.log())
