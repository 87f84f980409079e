"""Push and deploy through the real git client, hub and drones on 127.0.0.1."""
import json
import os
import signal
import time
import urllib.request

from harness import DeployTest, pid_alive, wait_until

APP = '''import http.server, os
GREETING = open("greeting.txt").read().strip()

class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/crash":
            os._exit(3)
        body = f"{GREETING} {os.environ['SKYPORT_DRONE']} {os.getpid()}\\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass

print("listening on", os.environ["PORT"], "commit", os.environ["SKYPORT_COMMIT"][:12], flush=True)
http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
'''


def get(port, path="/"):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
        return r.read().decode().strip()


class DeployFlowTest(DeployTest):
    def first_commit(self, greeting="beep boop", extra=None):
        files = {"app.py": APP, "greeting.txt": greeting + "\n", "Procfile": "web: python3 app.py\n"}
        files.update(extra or {})
        return self.commit(files)

    def entries(self, commit=None):
        table = self.show("webapp")
        return [(c, e) for c, roles in table.items() for e in roles.get("web", []) if commit in (None, c)]

    def test_push_deploy_side_by_side_stop(self):
        a = self.first_commit()
        self.push()
        r = self.cli("deploy", "webapp", "master")
        self.assertIn("registered", r.stdout)
        entries = self.entries(a)
        self.assertEqual(len(entries), 2)  # one per drone
        for _, e in entries:
            self.assertTrue(get(e["port"]).startswith("beep boop "))

        b = self.commit({"greeting.txt": "beepity boop!\n"}, "beepity")
        self.push()
        self.cli("deploy", "webapp", b[:7])
        self.assertEqual(set(self.show("webapp")), {a, b})
        for _, e in self.entries(b):
            self.assertTrue(get(e["port"]).startswith("beepity boop! "))
        ps = json.loads(self.cli("ps", "webapp", "--json").stdout)
        self.assertEqual(sorted((p["commit"], p["drone"]) for p in ps), sorted([(a, "d1"), (a, "d2"), (b, "d1"), (b, "d2")]))
        pids_a = [p["pid"] for p in ps if p["commit"] == a]

        # Logs come back through the hub.
        logs = self.cli("logs", "webapp", a[:8]).stdout
        self.assertIn("listening on", logs)

        r = self.cli("stop", "webapp", a[:8])
        self.assertEqual(set(self.show("webapp")), {b})
        for pid in pids_a:
            wait_until(lambda: not pid_alive(pid), 5, what=f"pid {pid} reaped")
        for d in self.drones.values():
            self.assertFalse(os.path.exists(os.path.join(d.data, "deploy", "webapp", a)))
        r = self.cli("stop", "webapp", a[:8], check=False)
        self.assertNotEqual(r.returncode, 0)

    def test_ps_logs_of_an_unknown_app_or_commit_exit_non_zero(self):
        a = self.first_commit()
        self.push()
        # Known but idle: an empty answer, exit 0.
        self.assertEqual(self.cli_json("ps", "webapp", "--json"), [])
        for args, what in ((("ps", "webapp2"), "no app named webapp2"),
                           (("logs", "webapp2"), "no app named webapp2"),
                           (("logs", "webapp", "deadbeef"), "webapp@deadbeef: no such app or commit")):
            with self.subTest(args=args):
                r = self.cli(*args, check=False)
                self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
                self.assertIn("NOT_FOUND", r.stderr)
                self.assertIn(what, r.stderr)
                self.assertEqual(r.stdout, "")
        self.cli("deploy", "webapp", a[:8], "--drones", "d1")
        self.assertEqual(len(self.cli_json("ps", "webapp", "--json")), 1)
        self.cli("logs", "webapp", a[:8])

    def test_stop_refuses_a_commit_the_route_still_sends_users_to(self):
        a = self.first_commit()
        self.push()
        self.cli("deploy", "webapp", a[:8], "--drones", "d1")
        b = self.commit({"greeting.txt": "beepity boop!\n"}, "beepity")
        self.push()
        self.cli("deploy", "webapp", b[:8], "--drones", "d1")
        # Weights are relative shares; a running commit left out gets no traffic: both said on stderr.
        r = self.cli("split", "webapp", f"{a[:8]}=3", f"{b[:8]}=1")
        self.assertIn("warning: weights sum to 4, not 100: they are relative shares (", r.stderr)
        self.assertIn(f"{a[:12]} 75.0%", r.stderr)
        self.assertIn(f"{b[:12]} 25.0%", r.stderr)
        r = self.cli("split", "webapp", f"{a[:8]}=100")
        self.assertIn(f"warning: running commit {b[:12]} is not in the split: it gets no traffic", r.stderr)
        self.assertNotIn("sum to", r.stderr)
        # A deploy under the split says the new commit gets no traffic, and how to give it some.
        c = self.commit({"greeting.txt": "boop\n"}, "c")
        self.push()
        r = self.cli("deploy", "webapp", c[:8], "--drones", "d1")
        self.assertIn(f"note: webapp splits its traffic and {c[:12]} is not in the split: it gets no traffic. "
                      f"To send it about 10% of users: skyport split webapp {a[:12]}=100 {c[:12]}=11", r.stderr)
        r = self.cli("split", "webapp", f"{a[:12]}=100", f"{c[:12]}=11")
        self.cli("stop", "webapp", c[:8], check=False)  # weighted now: refused
        self.assertEqual(set(self.show("webapp")), {a, b, c})
        self.cli("split", "webapp", f"{a[:8]}=100")
        self.cli("stop", "webapp", c[:8])
        # a has all the weight: its stop would fail every user's request.
        r = self.cli("stop", "webapp", a[:8], check=False)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("FAILED_PRECONDITION", r.stderr)
        self.assertIn(f"webapp@{a[:12]} still gets weight 100 in the app's route", r.stderr)
        self.assertIn("--force", r.stderr)
        self.assertEqual(set(self.show("webapp")), {a, b}, "nothing stopped")
        # b gets no weight: stopped as before.
        self.cli("stop", "webapp", b[:8])
        self.assertEqual(set(self.show("webapp")), {a})
        # The registry away: the hub cannot check, so it refuses, saying --force skips the check.
        self.registry.kill()
        r = self.cli("stop", "webapp", a[:8], check=False, timeout=60)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("cannot read webapp's route", r.stderr)
        self.registry.start()
        # --force stops it all the same.
        r = self.cli("stop", "webapp", a[:8], "--force")
        self.assertIn("stopped webapp", r.stdout)
        wait_until(lambda: self.show("webapp") == {}, 15, what="a deregistered")

    def test_a_deploy_whose_app_crashes_shows_the_last_lines_of_its_stderr(self):
        crash = ("import sys\nprint('starting', flush=True)\n"
                 "print('Traceback (most recent call last):', file=sys.stderr)\n"
                 "print(\"KeyError: 'DATABASE_URL'\", file=sys.stderr, flush=True)\nsys.exit(3)\n")
        c = self.commit({"app.py": crash, "Procfile": "web: python3 app.py\n"}, "crashes")
        self.push()
        r = self.cli("deploy", "webapp", c[:8], "--drones", "d1", check=False, timeout=60)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("the last lines of its stderr:", r.stdout + r.stderr)
        self.assertIn("KeyError: 'DATABASE_URL'", r.stdout + r.stderr)
        self.assertNotIn("starting", (r.stdout + r.stderr).split("the last lines of its stderr:")[1], "stderr only")

    def test_crash_restarts_and_registers_again(self):
        a = self.first_commit()
        self.push()
        self.cli("deploy", "webapp", "master", "--drones", "d1")
        [(_, e)] = self.entries(a)
        old_pid = int(get(e["port"]).split()[-1])
        try:
            get(e["port"], "/crash")
        except Exception:  # noqa: BLE001 - the connection dies with the process
            pass

        def back():
            ents = self.entries(a)
            if len(ents) != 1:
                return None
            reply = get(ents[0][1]["port"])
            return int(reply.split()[-1]) != old_pid and reply

        wait_until(back, 15, what="restarted and registered again")
        [p] = json.loads(self.cli("ps", "webapp", "--json").stdout)
        self.assertGreaterEqual(p["restarts"], 1)
        self.assertIn("3", p["last_error"])

    def test_unknown_commit_and_failed_build_leave_nothing(self):
        self.first_commit()
        self.push()
        r = self.cli("deploy", "webapp", "deadbeef", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("is not a branch, tag or commit of webapp", r.stderr)
        r = self.cli("deploy", "nosuchapp", "master", check=False)
        self.assertNotEqual(r.returncode, 0)

        bad = self.commit({"Procfile": "release: echo building; exit 3\nweb: python3 app.py\n"}, "bad build")
        self.push()
        r = self.cli("deploy", "webapp", bad[:10], check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("release step", r.stderr)
        self.assertIn("exited with 3", r.stderr)
        for d in self.drones.values():
            left = os.listdir(os.path.join(d.data, "deploy", "webapp")) if os.path.isdir(
                os.path.join(d.data, "deploy", "webapp")) else []
            self.assertEqual(left, [])
        self.assertEqual(self.show(), {})
        self.assertEqual(json.loads(self.cli("ps", "--json").stdout), [])

        # An app that never listens: not ready in time -> failed, cleaned up.
        never = self.commit({"Procfile": "web: sleep 1000\n"}, "never ready")
        self.push()
        r = self.cli("deploy", "webapp", never[:10], "--drones", "d1", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(self.show(), {})

    def test_drone_kill9_entries_vanish_and_others_keep_serving(self):
        a = self.first_commit()
        self.push()
        self.cli("deploy", "webapp", "master")
        self.assertEqual(len(self.entries(a)), 2)
        t0 = time.monotonic()
        self.drones["d2"].kill(signal.SIGKILL)
        wait_until(lambda: len(self.entries(a)) == 1, 2 + 1.5, what="d2's entry expired within the lease TTL")
        self.assertLess(time.monotonic() - t0, 3.5)
        [(_, e)] = self.entries(a)
        self.assertIn(" d1 ", get(e["port"]))

    def test_registry_down_does_not_stall_supervision_and_converges(self):
        a = self.first_commit()
        self.push()
        self.cli("deploy", "webapp", "master", "--drones", "d1")
        [(_, e)] = self.entries(a)
        port, old_pid = e["port"], int(get(e["port"]).split()[-1])
        [old_proc] = json.loads(self.cli("ps", "--json").stdout)
        self.registry.kill(signal.SIGKILL)
        try:
            get(port, "/crash")
        except Exception:  # noqa: BLE001 - the process dies mid-request
            pass

        def restarted():
            try:
                return int(get(port).split()[-1]) != old_pid
            except OSError:
                return False

        # The restart does not wait on the unreachable registry.
        wait_until(restarted, 2, what="app restarted while the registry is down")
        self.registry.start()

        def converged():
            # Exactly one entry, on the same port, naming the process the drone runs now.
            wide = self.cli_json("registry", "show", "--wide", "webapp")
            entries = [(x["port"], x["pid"]) for roles in wide.values() for x in roles["web"]]
            [proc] = json.loads(self.cli("ps", "--json").stdout)
            return (proc["pid"] != old_proc["pid"] and proc["state"] == "running"
                    and entries == [(port, proc["pid"])])

        wait_until(converged, 15, what="one entry with the new pid after the registry came back")

    def test_hub_restart_loses_nothing(self):
        a = self.first_commit()
        self.push()
        self.cli("deploy", "webapp", "master")
        before = sorted(p["pid"] for p in json.loads(self.cli("ps", "--json").stdout))
        self.hub.kill(signal.SIGKILL)
        # Apps keep serving while the hub is away.
        for _, e in self.entries(a):
            self.assertTrue(get(e["port"]).startswith("beep boop"))
        self.hub.start()
        wait_until(lambda: self.connected_drones() == {"d1", "d2"}, 15, what="drones re-attached")
        after = sorted(p["pid"] for p in json.loads(self.cli("ps", "--json").stdout))
        self.assertEqual(before, after)
        # The pushed repository and the desired state survived: a new deploy works.
        b = self.commit({"greeting.txt": "again\n"})
        self.push()
        self.cli("deploy", "webapp", "master")
        self.assertEqual(set(self.show("webapp")), {a, b})

    def test_wrong_token_refused_on_git_and_grpc(self):
        self.first_commit()
        r = self.push(token="wrong-token", check=False)
        self.assertNotEqual(r.returncode, 0)
        bad = os.path.join(self.tmp, "bad-token")
        with open(bad, "w") as f:
            f.write("wrong\n")
        r = self.cli("drones", token_file=bad, check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("UNAUTHENTICATED", r.stderr)
        self.push()
        r = self.cli("deploy", "webapp", "master", token_file=bad, check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertEqual(self.show(), {})


class DroneRestartTest(DeployTest):
    DRONES = ("d1",)

    def test_restarted_drone_stops_leftovers_and_converges(self):
        a = self.commit({"app.py": APP, "greeting.txt": "hi\n", "Procfile": "web: python3 app.py\n"})
        self.push()
        self.cli("deploy", "webapp", "master")
        [old] = json.loads(self.cli("ps", "--json").stdout)
        self.drones["d1"].kill(signal.SIGKILL)
        # The app outlives its drone until the next run of the drone stops it.
        self.assertTrue(pid_alive(old["pid"]))
        self.drones["d1"].start()
        wait_until(lambda: not pid_alive(old["pid"]), 15, what="leftover stopped by the restarted drone")

        def converged():
            ps = json.loads(self.cli("ps", "--json").stdout)
            ents = [e for c, roles in self.show().items() for e in roles.get("web", [])]
            return len(ps) == 1 and ps[0]["state"] == "running" and ps[0]["pid"] != old["pid"] and len(ents) == 1

        wait_until(converged, 20, what="the hub's reconcile restarted the app")
        [(_, e)] = [(c, e) for c, roles in self.show().items() for e in roles["web"]]
        self.assertTrue(get(e["port"]).startswith("hi"))
