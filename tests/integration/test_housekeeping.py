"""Housekeeping and "why did it fail" with real daemons: the drones' retention of stopped
commits' checkouts and logs, the hub's repacks, `skyport logs` of stopped commits (also
after a drone restart) and `--release` output of a failed and a successful release step."""
import json
import os
import re
import signal

from harness import DeployTest, Drone, wait_until

APP = '''import http.server, os
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *a):
        pass
print("listening on", os.environ["PORT"], "commit", os.environ["SKYPORT_COMMIT"][:12], flush=True)
http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
'''


def app_files(tag, release=None):
    procfile = (f"release: {release}\n" if release else "") + "web: python3 app.py\n"
    return {"app.py": APP, "Procfile": procfile, "tag.txt": tag + "\n"}


def set_mtime(path, t):
    os.utime(path, (t, t), follow_symlinks=False)


class RetentionTest(DeployTest):
    """One drone whose janitor runs every 200 ms with a 2 s retention."""
    DRONES = ("d1",)
    DRONE_EXTRA = ("--retention", "2s", "--gc-interval", "200ms")

    def test_a_stopped_commits_files_expire_and_running_ones_stay(self):
        data = self.drones["d1"].data
        a = self.commit(app_files("a"))
        b = self.commit(app_files("b"))
        self.push()
        self.cli("deploy", "webapp", a)
        self.cli("deploy", "webapp", b)
        # A checkout nothing runs (as a drone killed in the middle of a stop leaves one), with its logs.
        c = "c" * 40
        os.makedirs(os.path.join(data, "deploy", "webapp", c))
        with open(os.path.join(data, "deploy", "webapp", c, "big"), "wb") as f:
            f.write(b"x" * 100_000)
        os.makedirs(os.path.join(data, "logs", "webapp", c))
        # B runs: however old its files look, they stay.
        old = 1_000_000_000
        for d in (os.path.join(data, "deploy", "webapp", b), os.path.join(data, "logs", "webapp", b)):
            for f in os.listdir(d):
                set_mtime(os.path.join(d, f), old)
            set_mtime(d, old)

        self.cli("stop", "webapp", a)
        gone = lambda p: not os.path.exists(os.path.join(data, p))  # noqa: E731
        wait_until(lambda: gone(f"logs/webapp/{a}") and gone(f"deploy/webapp/{c}") and gone(f"logs/webapp/{c}"),
                   15, what="the janitor removed A's logs and C's leftover checkout")
        self.assertTrue(os.path.isdir(os.path.join(data, "deploy", "webapp", b)))
        self.assertTrue(os.path.isdir(os.path.join(data, "logs", "webapp", b)))
        log = self.drones["d1"].log()
        self.assertRegex(log, r"gc: removed a stopped commit's files.*commit=" + c[:12])
        freed = [int(m) for m in re.findall(r"gc pass .*bytes_freed=(\d+)", log)]
        self.assertGreaterEqual(sum(freed), 100_000)
        # B still answers, and its logs are still there.
        self.assertIn("listening on", self.cli("logs", "webapp", b).stdout)

    def test_bad_retention_flags_refuse_to_start(self):
        for flags in (("--retention", "7 days"), ("--gc-interval", "0")):
            d = Drone(self.tmp, self.token_file, "bad", self.hub, self.registry, extra=flags).start()
            d.proc.wait(timeout=15)
            self.assertNotEqual(d.proc.returncode, 0)
            self.assertIn(flags[0].lstrip("-"), d.log())


class StoppedLogsTest(DeployTest):
    DRONES = ("d1",)

    def test_logs_of_a_stopped_commit_also_after_a_drone_restart(self):
        a = self.commit(app_files("a"))
        self.push()
        self.cli("deploy", "webapp", a)
        self.cli("stop", "webapp", a)
        self.assertEqual(json.loads(self.cli("ps", "webapp", "--json", check=False).stdout or "[]"), [])
        self.assertIn("listening on", self.cli("logs", "webapp", a[:10]).stdout)
        # A new drone process has nothing in memory: the lines come from its log files.
        d = self.drones["d1"]
        d.kill(signal.SIGTERM)
        d.start()
        wait_until(lambda: self.connected_drones() == {"d1"}, 15, what="drone back")
        out = self.cli("logs", "webapp", a[:10]).stdout
        self.assertRegex(out, r"d1 web\.0 " + a[:12] + r" \| listening on \d+ commit " + a[:12])
        doc = [json.loads(line) for line in self.cli("logs", "webapp", a, "--json").stdout.splitlines()]
        self.assertTrue(doc and all(x["commit"] == a and x["unix_ms"] > 0 for x in doc), doc)

    def test_release_output_of_a_failed_and_a_successful_release(self):
        bad = self.commit(app_files("bad", release="echo building step 1; echo 'cannot find gcc' >&2; exit 2"))
        self.push()
        r = self.cli("deploy", "webapp", bad, check=False)
        self.assertEqual(r.returncode, 1)
        out = self.cli("logs", "webapp", bad[:8], "--release").stdout
        self.assertIn("release step: echo building step 1", out)
        self.assertIn("building step 1", out)
        self.assertIn("cannot find gcc", out)
        self.assertIn("exited with 2 after", out)
        good = self.commit(app_files("good", release="echo compiled ok"))
        self.push()
        self.cli("deploy", "webapp", good)
        out = self.cli("logs", "webapp", good[:8], "--release").stdout
        self.assertIn("compiled ok", out)
        self.assertIn("exited with 0 after", out)
        # The instances' logs are not the release's.
        self.assertNotIn("compiled ok", self.cli("logs", "webapp", good[:8]).stdout)

    def test_bad_release_requests(self):
        c = self.commit(app_files("x"))
        self.push()
        for args, want in ((("logs", "webapp", "--release"), "--release: give the commit"),
                           (("logs", "webapp", c, "--release", "-f"), "cannot be combined with --follow"),
                           (("logs", "webapp", c, "--release", "--role", "web"), "cannot be combined with --role")):
            r = self.cli(*args, check=False)
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn(want, r.stderr)
        r = self.cli("logs", "webapp", "deadbeef", "--release", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("no such app or commit", r.stderr)
        # Never deployed: no output, exit 0 (the commit exists).
        r = self.cli("logs", "webapp", c, "--release")
        self.assertEqual(r.stdout, "")


class RepackTest(DeployTest):
    DRONES = ("d1",)
    HUB_EXTRA = ("--repack-after-pushes", "3", "--repack-check-interval", "200ms", "--metrics-listen", "127.0.0.1:0")

    def test_three_pushes_are_repacked_with_a_saving_and_every_commit_still_deploys(self):
        big = "".join(f"{i * 7919 % 10007} a line of a file that grows\n" for i in range(20000))
        commits = []
        for i in range(3):
            commits.append(self.commit({**app_files("t"), "big.txt": big + f"change {i}\n"}))
            self.push()
        def hub_log():
            with open(self.hub.log_path) as f:
                return f.read()

        wait_until(lambda: ": repacked " in hub_log(), 20, what="the hub repacked")
        line = [x for x in hub_log().splitlines() if ": repacked " in x]
        saved = [int(m) for m in re.findall(r"saved_bytes=(-?\d+)", "".join(line))]
        self.assertTrue(saved and saved[0] > 100_000, line)
        self.assertGreater(self.hub.metric("skyport_hub_repacks_total"), 0)
        self.assertGreater(self.hub.metric("skyport_hub_repack_saved_bytes_total"), 100_000)
        pack_dir = os.path.join(self.hub.data, "repos", "webapp.git", "objects", "pack")
        wait_until(lambda: len([f for f in os.listdir(pack_dir) if f.endswith(".pack")]) == 1, 15,
                   what="the replaced packs deleted")
        # Every commit is still there: the oldest deploys, and a new push lands.
        self.cli("deploy", "webapp", commits[0][:10])
        commits.append(self.commit({"tag.txt": "after\n"}))
        self.push()
        self.cli("deploy", "webapp", commits[-1][:10])
