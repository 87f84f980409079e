"""skyport-registry driven through the skyport CLI, on 127.0.0.1."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

from harness import BIN, ClusterTest, binary, free_range, pid_alive, wait_until

A = "74336bc1db98478e02e69f59e7100895be207389"
B = "40548daf17f7d25ec0f1925b97d24bc05043e4ed"
ECHO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "echo_server.py")


def entries(table):
    """Flattens show's {commit: {role: [{host, port, ...}]}} into (commit, role, entry) tuples."""
    return [(c, r, e) for c, roles in table.items() for r, lst in roles.items() for e in lst]


def run_allocate_check(test, *args):
    """tests/registry/allocate_check against test.registry; fails the test on a failed check; the checks' count."""
    tool = os.path.join(BIN, "tests", "allocate_check")
    if not os.access(tool, os.X_OK):
        test.skipTest(f"{tool} not built (cmake --build build --target allocate_check)")
    r = subprocess.run([tool, "--registry", test.registry.address(), "--token-file", test.token_file, *args],
                       capture_output=True, text=True, timeout=60)
    checks = [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
    failed = [c for c in checks if not c["ok"]]
    test.assertEqual(failed, [], r.stderr)
    test.assertEqual(r.returncode, 0, r.stderr)
    return len(checks)


class RegistryTest(ClusterTest):
    def register(self, target, role, *args):
        return self.cli("registry", "register", target, role, "--host", "127.0.0.1", *args)

    def wide(self, *args):
        return entries(self.cli_json("registry", "show", "--wide", *args))

    def test_query_that_matches_nothing_exits_non_zero(self):
        self.register(f"webapp@{A}", "http", "--port", "15194")
        for args in ((f"webapp2",), (f"webapp@{B[:7]}",), ("webapp", "say")):
            with self.subTest(args=args):
                r = self.cli("registry", "query", *args, "--json", check=False)
                self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
                self.assertIn(f"no entries for {' '.join(args)} in the registry", r.stderr)
                self.assertEqual(json.loads(r.stdout), [])
        self.assertEqual(len(self.cli_json("registry", "query", "webapp", "http")), 1)

    def test_allocate_promises(self):
        # tests/registry/allocate_check: retried, avoided, registered, released, reserved, revoked.
        self.assertGreaterEqual(run_allocate_check(self), 36)

    def test_register_query_show(self):
        self.register(f"webapp@{A}", "http", "--port", "15194")
        self.register(f"webapp@{A}", "say", "--port", "13308")
        self.register(f"webapp@{B}", "http")
        self.register(f"other@{B}", "http", "--port", "15000")
        table = self.show()
        self.assertEqual(table[A], {"http": [{"host": "127.0.0.1", "port": 15194}],
                                    "say": [{"host": "127.0.0.1", "port": 13308}]})
        allocated = table[B]["http"]
        self.assertEqual(len(allocated), 2)
        self.assertIn({"host": "127.0.0.1", "port": 15000}, allocated)
        other = [e for e in allocated if e["port"] != 15000][0]
        self.assertTrue(10000 <= other["port"] <= 20000, other)
        # One app only.
        self.assertEqual(set(self.show("webapp")), {A, B})
        self.assertEqual(len(entries(self.show("other"))), 1)
        # Query by prefix and role.
        q = entries(self.cli_json("registry", "query", f"webapp@{A[:7]}"))
        self.assertEqual(sorted(e["port"] for _, _, e in q), [13308, 15194])
        q = entries(self.cli_json("registry", "query", "webapp", "say"))
        self.assertEqual([e["port"] for _, _, e in q], [13308])
        # --wide carries the rest.
        w = self.wide("webapp")
        self.assertEqual(len(w), 3)
        for _, _, e in w:
            for key in ("app", "instance", "drone", "pid", "health", "age", "id"):
                self.assertIn(key, e)
        # --table is for people: a header and a row per entry.
        t = self.cli("registry", "show", "--table").stdout
        self.assertIn("PORT", t.splitlines()[0])
        self.assertIn("15194", t)

    def test_port_never_handed_out_twice(self):
        self.register(f"webapp@{A}", "http", "--port", "15194")
        r = self.cli("registry", "register", f"webapp@{B}", "http", "--host", "127.0.0.1", "--port", "15194",
                     check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("ALREADY_EXISTS", r.stderr)
        # Same port on another host is fine.
        self.cli("registry", "register", f"webapp@{B}", "http", "--host", "10.0.0.9", "--port", "15194")
        ports = [e["port"] for _, _, e in entries(self.show()) if e["host"] == "127.0.0.1"]
        self.assertEqual(ports, [15194])

    def test_free_and_bad_input(self):
        self.register(f"webapp@{A}", "http", "--port", "15194")
        [(_, _, e)] = self.wide()
        self.cli("registry", "free", str(e["id"]))
        self.assertEqual(self.show(), {})
        r = self.cli("registry", "free", str(e["id"]), check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("NOT_FOUND", r.stderr)
        for bad in (["Web_App@" + A, "http"], ["webapp@xyz123", "http"], ["webapp@" + A, "Http"], ["webapp@" + A, "h" * 64]):
            r = self.cli("registry", "register", *bad, "--host", "127.0.0.1", "--port", "80", check=False)
            self.assertEqual(r.returncode, 2, r.stderr)
        r = self.cli("registry", "register", "webapp@" + A, "http", "--host", "127.0.0.1", "--port", "70000",
                     check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("port", r.stderr)
        self.assertEqual(self.show(), {})

    def test_wrong_or_missing_token_is_refused(self):
        bad = os.path.join(self.tmp, "bad-token")
        with open(bad, "w") as f:
            f.write("not-the-token\n")
        r = self.cli("registry", "show", token_file=bad, check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("UNAUTHENTICATED", r.stderr)
        self.assertNotIn("not-the-token", r.stderr)
        env = self.env()
        del env["SKYPORT_TOKEN_FILE"]
        env["SKYPORT_TOKEN"] = "also-wrong"
        r = self.cli("registry", "register", f"webapp@{A}", "http", "--host", "127.0.0.1", "--port", "1234",
                     check=False, env=env)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("UNAUTHENTICATED", r.stderr)
        self.assertEqual(self.show(), {})

    def test_watch_sees_adds_and_removes_in_order(self):
        w = self.spawn("registry", "watch")
        # A first entry, seen before the others: from then on the watch is
        # past its snapshot (whose order is by entry id, random on etcd).
        self.register(f"sentinel@{A}", "http", "--port", "15100")
        self.assertEqual(json.loads(w.stdout.readline())["port"], 15100)
        self.register(f"webapp@{A}", "http", "--port", "15194")
        self.register(f"webapp@{B}", "http", "--port", "15195")
        [first] = [e for _, _, e in self.wide() if e["port"] == 15194]
        self.cli("registry", "free", str(first["id"]))
        lines = [json.loads(w.stdout.readline()) for _ in range(3)]
        self.assertEqual([(l["type"], l["port"]) for l in lines], [("put", 15194), ("put", 15195), ("delete", 15194)])
        revs = [l["revision"] for l in lines]
        self.assertEqual(revs, sorted(revs))
        self.assertEqual(len(set(revs)), 3)

    def test_lease_expiry_removes_entries_within_ttl(self):
        t0 = time.monotonic()
        self.register(f"webapp@{A}", "http", "--port", "15194", "--ttl", "2")
        self.register(f"webapp@{A}", "say", "--port", "15195", "--ttl", "2")
        self.assertEqual(len(entries(self.show())), 2)
        wait_until(lambda: self.show() == {}, timeout=2 + 1 - (time.monotonic() - t0), what="lease expiry")
        # The ports are free again.
        self.register(f"webapp@{B}", "http", "--port", "15194")

    def test_kill9_keeps_acknowledged_writes_and_watch_resumes(self):
        for i in range(20):
            self.register(f"webapp@{A}", "http", "--port", str(15000 + i), "--instance", str(i))
        route = os.path.join(self.tmp, "route.json")
        with open(route, "w") as f:
            json.dump({"app": "webapp", "weights": {A: 90, B: 10}, "splitId": "t1"}, f)
        self.cli("registry", "route", "set", "webapp", route, "--expect-revision", "0")
        before = self.wide()
        rev_before = self.cli_json("registry", "route", "get", "webapp")["revision"]

        w = self.spawn("registry", "watch")
        snap = [json.loads(w.stdout.readline()) for _ in range(21)]
        last_rev = max(l["revision"] for l in snap)

        self.registry.kill(signal.SIGKILL)
        self.registry.start()
        after = self.wide()
        self.assertEqual(sorted((e["id"], e["port"]) for _, _, e in after),
                         sorted((e["id"], e["port"]) for _, _, e in before))
        got = self.cli_json("registry", "route", "get", "webapp")
        self.assertEqual(got["revision"], rev_before)
        self.assertEqual(got["weights"], {A: 90, B: 10})

        # New writes continue the revision counter; the watcher resumes without a reset.
        self.register(f"webapp@{B}", "http", "--port", "16000")
        line = json.loads(wait_until(w.stdout.readline, 15, what="watch line after restart"))
        self.assertEqual(line["type"], "put")
        self.assertEqual(line["port"], 16000)
        self.assertGreater(line["revision"], last_rev)
        # And an explicit resume from the old revision returns just what came after.
        r = self.spawn("registry", "watch", "--from", str(last_rev))
        line = json.loads(r.stdout.readline())
        self.assertEqual((line["type"], line["port"]), ("put", 16000))

    def test_route_compare_and_swap(self):
        route = os.path.join(self.tmp, "route.json")
        with open(route, "w") as f:
            json.dump({"app": "webapp", "weights": {A: 100}}, f)
        self.cli("registry", "route", "set", "webapp", route, "--expect-revision", "0")
        r = self.cli("registry", "route", "set", "webapp", route, "--expect-revision", "0", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("FAILED_PRECONDITION", r.stderr)
        rev = self.cli_json("registry", "route", "get", "webapp")["revision"]
        self.cli("registry", "route", "set", "webapp", route, "--expect-revision", str(rev))
        with open(route, "w") as f:
            json.dump({"app": "webapp", "weights": {A: 100}, "colour": "blue"}, f)
        r = self.cli("registry", "route", "set", "webapp", route, check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("colour", r.stderr)
        with open(route, "w") as f:
            json.dump({"app": "webapp", "weights": {"not-hex": 100}}, f)
        r = self.cli("registry", "route", "set", "webapp", route, check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("INVALID_ARGUMENT", r.stderr)
        self.assertIn("route.weights[not-hex]", r.stderr)

    def test_register_cmd_frees_entry_when_cmd_exits(self):
        p = self.spawn("registry", "register", f"webapp@{A}", "http", "--host", "127.0.0.1", "--ttl", "3",
                       "--", sys.executable, ECHO)
        [(_, _, e)] = wait_until(lambda: self.wide(), 15, what="entry registered")
        with urllib.request.urlopen(f"http://127.0.0.1:{e['port']}/") as resp:
            self.assertEqual(resp.read().decode().strip(), f"port {e['port']}")
        self.assertTrue(pid_alive(e["pid"]))
        os.kill(e["pid"], signal.SIGTERM)
        p.wait(timeout=15)
        self.assertNotEqual(p.returncode, 0)
        wait_until(lambda: self.show() == {}, 2, what="entry freed after CMD exit")

    def test_register_cmd_never_passes_the_clis_token_to_the_command(self):
        out = os.path.join(self.tmp, "cmd-env")
        script = ("import os, sys; open(sys.argv[1] + '.tmp', 'w').write('\\n'.join(sorted(os.environ))); "
                  "os.rename(sys.argv[1] + '.tmp', sys.argv[1]); "
                  "exec(open(sys.argv[2]).read())")
        env = self.env()
        with open(self.token_file) as f:
            env["SKYPORT_TOKEN"] = f.read().strip()
        p = self.spawn("registry", "register", f"webapp@{A}", "http", "--host", "127.0.0.1", "--ttl", "3",
                       "--", sys.executable, "-c", script, out, ECHO, env=env)
        wait_until(lambda: os.path.exists(out), 15, what="the command's environment")
        with open(out) as f:
            names = set(f.read().split())
        self.assertTrue({"PORT", "SKYPORT_APP", "SKYPORT_COMMIT", "SKYPORT_ROLE", "SKYPORT_INSTANCE"} <= names, names)
        self.assertEqual({n for n in names if n.startswith("SKYPORT_")},
                         {"SKYPORT_APP", "SKYPORT_COMMIT", "SKYPORT_ROLE", "SKYPORT_INSTANCE"})
        [(_, _, e)] = wait_until(lambda: self.wide(), 15, what="entry registered")
        os.kill(e["pid"], signal.SIGTERM)
        p.wait(timeout=15)

    def test_register_cmd_dies_with_the_cli(self):
        p = self.spawn("registry", "register", f"webapp@{A}", "http", "--host", "127.0.0.1", "--ttl", "2",
                       "--", sys.executable, ECHO)
        [(_, _, e)] = wait_until(lambda: self.wide(), 15, what="entry registered")
        t0 = time.monotonic()
        p.kill()  # SIGKILL: no chance to clean up; the child must still die, the lease lapse
        p.wait(timeout=10)
        wait_until(lambda: not pid_alive(e["pid"]), 5, what="CMD killed with the CLI")
        wait_until(lambda: self.show() == {}, 2 + 1.5 - (time.monotonic() - t0), what="lease lapse")

    def test_register_cmd_registers_again_after_the_registry_lost_its_lease(self):
        p = self.spawn("registry", "register", f"webapp@{A}", "http", "--host", "127.0.0.1", "--ttl", "2",
                       "--", sys.executable, ECHO)
        [(_, _, e)] = wait_until(lambda: self.wide(), 15, what="entry registered")
        self.registry.kill()
        shutil.rmtree(self.registry.data)  # the new registry knows no lease: KeepAlive gets NOT_FOUND
        self.registry.start()
        [(_, _, again)] = wait_until(lambda: self.wide(), 15, what="entry registered under a new lease")
        self.assertEqual((again["port"], again["pid"]), (e["port"], e["pid"]))
        os.kill(e["pid"], signal.SIGTERM)
        p.wait(timeout=15)
        self.assertIn("granting a new one and registering again", p.stderr.read())
        wait_until(lambda: self.show() == {}, 2, what="entry freed after CMD exit")

    def test_metrics(self):
        self.register(f"webapp@{A}", "http", "--port", "15194")
        port = self.registry.metrics_port()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics") as resp:
            body = resp.read().decode()
        self.assertIn("skyport_registry_endpoints 1", body)
        self.assertIn("# TYPE skyport_registry_calls_total counter", body)


def stranger(port):
    """A listening socket on 0.0.0.0:port that is no Skyport process's: a port clash."""
    s = socket.socket()
    s.bind(("0.0.0.0", port))
    s.listen()
    return s


class PortClashTest(ClusterTest):
    """`register -- CMD` on a port another program of the host already listens on: the registry cannot
    know of it, the command could not bind it, and that program's server must never be registered."""

    def setUp(self):
        self.base = free_range(3)
        self.REGISTRY_EXTRA = ("--port-range", f"{self.base}-{self.base + 2}")
        super().setUp()

    def supervise(self, *args):
        return self.cli("registry", "register", f"webapp@{A}", "http", "--host", "127.0.0.1", "--ttl", "3",
                        *args, "--", sys.executable, ECHO, check=False, timeout=30)

    def test_a_given_port_that_is_taken_is_an_error(self):
        s = stranger(self.base)
        self.addCleanup(s.close)
        r = self.supervise("--port", str(self.base))
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn(f"port {self.base} is already in use on this host", r.stderr)
        self.assertEqual(self.show(), {})

    def test_allocated_ports_that_are_taken_are_avoided(self):
        taken = [stranger(self.base), stranger(self.base + 2)]
        for s in taken:
            self.addCleanup(s.close)
        p = self.spawn("registry", "register", f"webapp@{A}", "http", "--host", "127.0.0.1", "--ttl", "3",
                       "--", sys.executable, ECHO)
        [(_, _, e)] = wait_until(lambda: entries(self.cli_json("registry", "show", "--wide")), 15,
                                 what="entry registered")
        self.assertEqual(e["port"], self.base + 1)
        with urllib.request.urlopen(f"http://127.0.0.1:{e['port']}/") as resp:
            self.assertEqual(resp.read().decode().strip(), f"port {e['port']}")
        os.kill(e["pid"], signal.SIGTERM)
        p.wait(timeout=15)

    def test_a_range_all_taken_registers_nothing(self):
        taken = [stranger(port) for port in range(self.base, self.base + 3)]
        for s in taken:
            self.addCleanup(s.close)
        r = self.supervise()
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertEqual(r.stderr.count("is taken on this host by a process the registry does not know of"), 3,
                         r.stderr)
        self.assertIn("RESOURCE_EXHAUSTED", r.stderr)
        self.assertEqual(self.show(), {})

    def test_a_stranger_that_takes_the_port_after_the_check_is_never_registered(self):
        # The command tells the test its $PORT and sleeps without binding; the test (no process of the
        # command's) listens there: the readiness probe connects, and the owner check must refuse it.
        flag = os.path.join(self.tmp, "port")
        script = f"import os, time; open({flag!r} + '.tmp', 'w').write(os.environ['PORT']); " \
                 f"os.rename({flag!r} + '.tmp', {flag!r}); time.sleep(60)"
        p = self.spawn("registry", "register", f"webapp@{A}", "http", "--host", "127.0.0.1", "--ttl", "3",
                       "--", sys.executable, "-c", script)
        wait_until(lambda: os.path.exists(flag), 15, what="the command's port")
        with open(flag) as f:
            s = stranger(int(f.read()))
        self.addCleanup(s.close)
        p.wait(timeout=15)
        self.assertEqual(p.returncode, 1)
        err = p.stderr.read()
        self.assertIn(f"is held by pid {os.getpid()}", err)
        self.assertIn("not by the command; stopping it and registering nothing", err)
        self.assertEqual(self.show(), {})

    # A command that starts a daemon the usual way: setsid in a subshell that exits at once, so the
    # daemon is orphaned to the CLI (its subreaper) outside the command's group; the daemon runs
    # `inner` as its child and waits.
    def escaped_daemon(self, inner):
        script = os.path.join(self.tmp, "daemon.sh")
        with open(script, "w") as f:
            f.write(f"{inner} &\nwait\n")
        return ["sh", "-c", f"( setsid sh {script} & ) ; sleep 60"], script

    def processes_of(self, marker):
        out = []
        for d in os.listdir("/proc"):
            if d.isdigit() and int(d) != os.getpid():
                try:
                    with open(f"/proc/{d}/cmdline", "rb") as f:
                        if marker.encode() in f.read() and pid_alive(int(d)):
                            out.append(int(d))
                except OSError:
                    pass
        return out

    def kill_leftovers(self, marker):
        for pid in self.processes_of(marker):
            os.kill(pid, signal.SIGKILL)

    def test_a_listener_of_an_escaped_daemons_child_is_the_commands_and_stops_with_it(self):
        cmd, script = self.escaped_daemon(f"{sys.executable} {ECHO}")
        self.addCleanup(self.kill_leftovers, script)
        p = self.spawn("registry", "register", f"webapp@{A}", "http", "--host", "127.0.0.1", "--ttl", "3",
                       "--", *cmd)
        [(_, _, e)] = wait_until(lambda: p.poll() is None and entries(self.cli_json("registry", "show", "--wide")),
                                 15, what="entry registered")
        with urllib.request.urlopen(f"http://127.0.0.1:{e['port']}/") as resp:
            self.assertEqual(resp.read().decode().strip(), f"port {e['port']}")
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=20)
        self.assertEqual(self.processes_of(script), [], "the escaped daemon outlived the command")
        self.assertEqual(self.show(), {})

    def test_an_escaped_daemon_stops_with_a_refused_command(self):
        flag = os.path.join(self.tmp, "port")
        cmd, script = self.escaped_daemon("sleep 60")
        self.addCleanup(self.kill_leftovers, script)
        cmd[-1] = cmd[-1].replace("sleep 60", f"echo $PORT > {flag}.tmp && mv {flag}.tmp {flag} && sleep 60")
        p = self.spawn("registry", "register", f"webapp@{A}", "http", "--host", "127.0.0.1", "--ttl", "3",
                       "--", *cmd)
        wait_until(lambda: os.path.exists(flag), 15, what="the command's port")
        wait_until(lambda: self.processes_of(script), 15, what="the daemon")
        with open(flag) as f:
            s = stranger(int(f.read()))
        self.addCleanup(s.close)
        p.wait(timeout=20)
        self.assertEqual(p.returncode, 1)
        self.assertEqual(self.processes_of(script), [], "the escaped daemon outlived the refused command")
        self.assertIn("not by the command; stopping it and registering nothing", p.stderr.read())
        self.assertEqual(self.show(), {})

    @unittest.skipUnless(os.geteuid() == 0 and shutil.which("setpriv") and os.path.exists("/usr/bin/python3"),
                         "needs root, setpriv and /usr/bin/python3 (the CLI runs as nobody)")
    def test_a_command_whose_sockets_cannot_be_read_is_named(self):
        # A command that is not dumpable (or runs as another user: sudo -u) has a /proc/PID/fd the
        # CLI may not read: its own listener looks like a stranger's. Refused (nothing proves it is
        # the command's), but the message names the command's process, not "outside the instance".
        pub = tempfile.mkdtemp(prefix="skyport-pub-")
        self.addCleanup(shutil.rmtree, pub)
        os.chmod(pub, 0o755)
        token = os.path.join(pub, "token")
        shutil.copy(self.token_file, token)
        os.chmod(token, 0o644)
        server = os.path.join(pub, "server.py")
        with open(server, "w") as f:
            f.write("import ctypes, http.server, os\n"
                    "ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE 0\n"
                    "http.server.HTTPServer(('127.0.0.1', int(os.environ['PORT'])),"
                    " http.server.SimpleHTTPRequestHandler).serve_forever()\n")
        os.chmod(server, 0o644)
        env = self.env(token_file=token)
        env["HOME"] = pub
        r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", binary("skyport"),
                            "registry", "register", f"webapp@{A}", "http", "--host", "127.0.0.1", "--ttl", "3",
                            "--", "/usr/bin/python3", server],
                           capture_output=True, text=True, timeout=60, env=env, stdin=subprocess.DEVNULL)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertRegex(r.stderr, r"or by pid \d+ \(python3\) of the instance, whose sockets cannot be read")
        self.assertEqual(self.show(), {})


class AllocateWholeRangeTest(ClusterTest):
    """A registry with a range small enough to avoid whole (allocate_check --range)."""
    REGISTRY_EXTRA = ("--port-range", "20100-20107")

    def test_avoiding_the_whole_range_answers_a_reservation_outside_it(self):
        self.assertEqual(run_allocate_check(self, "--range", "20100-20107"), 4)


if __name__ == "__main__":
    unittest.main()
