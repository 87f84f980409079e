"""Registry failures and transport: restart grace for lease holders, TLS."""
import os
import signal
import subprocess
import sys
import time

from harness import ClusterTest, Registry, wait_until

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
