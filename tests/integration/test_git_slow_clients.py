"""The hub's git listener against slow, greedy and odd clients (issue 12).

Clients that trickle a request header or a push body, with or without the
cluster token, must not keep a real `git push` from succeeding: they are cut
off by --git-header-timeout, --git-min-rate and --git-body-timeout, and one
address cannot hold more than --git-max-connections-per-client connections.
Odd but legal framings (Expect: 100-continue, chunked, gzip + chunked) and
hostile ones (an endless chunk-size line, traversal in the repository name)
are answered without harm. Tricklers connect from 127.0.0.2/127.0.0.3 so the
real push from 127.0.0.1 is not counted against their address.
"""
import base64
import gzip
import http.client
import os
import re
import socket
import subprocess
import threading
import time
import unittest

from harness import ClusterTest, Hub, wait_until

FAST = ("--git-header-timeout", "2", "--git-min-rate", "1000", "--git-min-rate-window", "2",
        "--git-body-timeout", "20", "--git-idle-timeout", "3")


class GitListenerBase(ClusterTest):
    HUB_EXTRA = ("--metrics-listen", "127.0.0.1:0", "--git-max-concurrent-pushes", "2",
                 "--git-max-connections-per-client", "6") + FAST

    def setUp(self):
        super().setUp()
        with open(self.token_file) as f:
            self.token = f.read().strip()
        self.auth = base64.b64encode(f"x:{self.token}".encode()).decode()
        self.hub = Hub(self.tmp, self.token_file, self.registry, extra=self.HUB_EXTRA).start()
        self.addCleanup(self.hub.kill)
        self.work = os.path.join(self.tmp, "work")
        os.makedirs(self.work)
        self.git("init", "-q", "-b", "master")
        with open(os.path.join(self.work, "a.txt"), "w") as f:
            f.write("a\n")
        self.git("add", "-A")
        self.git("commit", "-q", "-m", "a")
        self.stop = threading.Event()
        self.addCleanup(self.stop.set)

    def git(self, *args, check=True):
        env = {"HOME": self.tmp, "GIT_TERMINAL_PROMPT": "0", "PATH": os.environ["PATH"], "GIT_CONFIG_NOSYSTEM": "1",
               "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
               "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
        r = subprocess.run(["git", *args], cwd=self.work, capture_output=True, env=env, timeout=60, text=True)
        if check and r.returncode != 0:
            raise AssertionError(f"git {' '.join(args)}: {r.stderr}")
        return r

    def metrics(self):
        return self.hub.metrics()

    def metric(self, name):
        return self.hub.metric(name)

    def connect(self, source="127.0.0.1"):
        s = socket.create_connection(("127.0.0.1", self.hub.git_port), timeout=10, source_address=(source, 0))
        self.addCleanup(s.close)
        return s

    def closed_by_hub(self, s, within):
        """True when the hub closes `s` (EOF or reset) within `within` seconds; reads what it sends meanwhile."""
        s.settimeout(within)
        try:
            while s.recv(65536):
                pass
            return True
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False

    def trickle(self, s, data, every=0.3):
        """Sends `data` one byte per `every` seconds until it is sent, the hub closes, or the test ends.
        The first byte goes at once: a trickler is slow from its first byte on, never an idle
        connection (which the hub closes after --git-idle-timeout without counting it as slow)."""
        s.sendall(data[:1])

        def run():
            for i in range(1, len(data)):
                if self.stop.wait(every):
                    return
                try:
                    s.sendall(data[i:i + 1])
                except OSError:
                    return
        t = threading.Thread(target=run, daemon=True)
        t.start()
        return t

    def push_within(self, seconds):
        deadline = time.monotonic() + seconds
        while True:
            r = self.git("push", self.hub.git_url("webapp", self.token), "master", check=False)
            if r.returncode == 0 or time.monotonic() > deadline:
                return r
            time.sleep(0.2)

    def why_push_failed(self, r):
        """git's stderr, whether the hub still runs, and the end of its log."""
        with open(self.hub.log_path, errors="replace") as f:
            tail = f.read()[-4000:]
        return f"{r.stderr}\nhub exit status: {self.hub.proc.poll()}\nhub log (end):\n{tail}"

    # -- slow clients


class GitSlowClientsTest(GitListenerBase):
    def test_tricklers_with_and_without_token_cannot_stop_a_push(self):
        tricklers = []
        # With the token: each takes a push slot (2 allowed) and then sends its body at a byte per 0.3 s.
        # The body opens one long pkt-line ("fff0": 65516 bytes to come), so the hub can only wait for
        # it; "0000..." was a flush and then a bad pack, refused 400 before the min-rate cut (a race).
        for i in range(4):
            s = self.connect("127.0.0.2")
            s.sendall(f"POST /slow{i}.git/git-receive-pack HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {self.auth}\r\n"
                      "Content-Length: 1000000\r\n\r\n".encode())
            self.trickle(s, b"fff0" + b"0" * 99996)
            tricklers.append(s)
        # Without the token: slowloris headers, never complete.
        for i in range(4):
            s = self.connect("127.0.0.3")
            self.trickle(s, f"POST /x{i}.git/git-receive-pack HTTP/1.1\r\nHost: x\r\n".encode() + b"X-a: b\r\n" * 1000)
            tricklers.append(s)
        wait_until(lambda: self.metric("skyport_hub_git_pushes_in_flight") == 2, 10, what="tricklers holding slots")
        # The real push gets through within a bounded time (it may see 503 until the tricklers are cut).
        start = time.monotonic()
        r = self.push_within(20)
        self.assertEqual(r.returncode, 0, self.why_push_failed(r))
        self.assertLess(time.monotonic() - start, 20)
        for s in tricklers:
            self.assertTrue(self.closed_by_hub(s, 10), "a trickler is still connected")
        m = self.metrics()
        self.assertRegex(m, r'skyport_hub_git_slow_clients_total\{cause="min_rate"\} [1-9]')
        self.assertRegex(m, r'skyport_hub_git_slow_clients_total\{cause="header"\} [1-9]')
        wait_until(lambda: self.metric("skyport_hub_git_pushes_in_flight") == 0, 10, what="slots released")
        with open(self.hub.log_path) as f:
            self.assertIn("too slow", f.read())

    def test_unauthenticated_body_never_takes_a_slot(self):
        s = self.connect("127.0.0.2")
        s.sendall(b"POST /x.git/git-receive-pack HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n0000")
        self.assertTrue(self.closed_by_hub(s, 5))
        self.assertEqual(self.metric("skyport_hub_git_pushes_total"), 0)

    def test_connections_per_client_and_idle_are_bounded(self):
        idle = [self.connect("127.0.0.4") for _ in range(6)]
        wait_until(lambda: self.metric("skyport_hub_git_connections_open") == 6, 10, what="6 connections open")
        extra = self.connect("127.0.0.4")
        self.assertTrue(self.closed_by_hub(extra, 5), "the 7th connection from one address was kept")
        self.assertRegex(self.metrics(), r'skyport_hub_git_connections_refused_total\{cause="client"\} [1-9]')
        # Another address is served meanwhile.
        r = self.git("push", self.hub.git_url("webapp", self.token), "master", check=False)
        self.assertEqual(r.returncode, 0, r.stderr)
        # Idle connections are closed after --git-idle-timeout.
        for s in idle:
            self.assertTrue(self.closed_by_hub(s, 10), "an idle connection was kept")
        wait_until(lambda: self.metric("skyport_hub_git_connections_open") == 0, 10, what="connections closed")

    # -- framings

    def response(self, s, within=10):
        s.settimeout(within)
        out = b""
        try:
            while True:
                d = s.recv(65536)
                if not d:
                    break
                out += d
        except (socket.timeout, ConnectionResetError):
            pass
        return out

    def test_expect_100_continue_then_body(self):
        s = self.connect()
        s.sendall(f"POST /webapp.git/git-receive-pack HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {self.auth}\r\n"
                  "Expect: 100-continue\r\nContent-Length: 4\r\nConnection: close\r\n\r\n".encode())
        s.settimeout(5)
        self.assertTrue(s.recv(100).startswith(b"HTTP/1.1 100"))
        s.sendall(b"0000")
        res = self.response(s)
        self.assertRegex(res, rb"^HTTP/1.1 (200|400)")

    def test_endless_chunk_size_line_is_refused(self):
        s = self.connect()
        s.sendall(f"POST /webapp.git/git-receive-pack HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {self.auth}\r\n"
                  "Transfer-Encoding: chunked\r\n\r\n4;".encode())
        sent = 0
        try:
            while sent < 8 << 20:  # a chunk extension that never ends
                s.sendall(b"x" * 65536)
                sent += 65536
        except OSError:
            pass
        res = self.response(s)
        self.assertLess(sent, 8 << 20, "the hub kept reading an endless chunk-size line")
        self.assertTrue(res == b"" or res.startswith(b"HTTP/1.1 400"), res[:100])
        r = self.git("push", self.hub.git_url("webapp", self.token), "master", check=False)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_gzip_bomb_chunked_is_refused_and_hub_stays_small(self):
        body = gzip.compress(b"0000" + b"\0" * (64 << 20))
        before_kb = self.peak_rss_kb()
        s = self.connect()
        s.sendall(f"POST /webapp.git/git-receive-pack HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {self.auth}\r\n"
                  "Content-Encoding: gzip\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".encode())
        for i in range(0, len(body), 5000):
            part = body[i:i + 5000]
            s.sendall(f"{len(part):x}\r\n".encode() + part + b"\r\n")
        s.sendall(b"0\r\n\r\n")
        res = self.response(s, 30)
        self.assertRegex(res, rb"^HTTP/1.1 (200|400|413)")
        self.assertLess(self.peak_rss_kb() - before_kb, 16 * 1024, "the hub held the decoded bomb")

    def peak_rss_kb(self):
        with open(f"/proc/{self.hub.proc.pid}/status") as f:
            return int(re.search(r"VmHWM:\s+(\d+)", f.read()).group(1))

    def test_bad_repository_names_and_upload_pack(self):
        for path in ("/..%2fx.git/info/refs?service=git-receive-pack", "/%2e%2e.git/info/refs?service=git-receive-pack",
                     "/../x.git/git-receive-pack", "/" + "a" * 5000 + ".git/info/refs?service=git-receive-pack"):
            conn = http.client.HTTPConnection("127.0.0.1", self.hub.git_port, timeout=5)
            conn.request("GET", path, headers={"Authorization": f"Basic {self.auth}"})
            res = conn.getresponse()
            res.read()
            self.assertIn(res.status, (400, 404, 405), path[:40])
            conn.close()
        conn = http.client.HTTPConnection("127.0.0.1", self.hub.git_port, timeout=5)
        conn.request("GET", "/webapp.git/info/refs?service=git-upload-pack")
        res = conn.getresponse()
        self.assertEqual(res.status, 403)
        self.assertIn(b"push only", res.read())
        self.assertFalse(os.path.exists(os.path.join(self.hub.data, "x.git")))
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "x.git")))


if __name__ == "__main__":
    unittest.main()


class GitAcceptOutOfDescriptorsTest(GitListenerBase):
    """Out of file descriptors, the accept loop pauses and logs a bounded number of lines
    (the review measured 54.7 MB of log in 5 s from a spinning loop), and serves again
    once descriptors come back."""
    HUB_EXTRA = ("--metrics-listen", "127.0.0.1:0", "--git-max-connections-per-client", "1000") + FAST

    def test_accept_pauses_and_logs_boundedly_when_out_of_descriptors(self):
        import resource
        soft, hard = resource.prlimit(self.hub.proc.pid, resource.RLIMIT_NOFILE)
        resource.prlimit(self.hub.proc.pid, resource.RLIMIT_NOFILE, (160, hard))
        held = []
        sources = [f"127.0.0.{i}" for i in range(20, 40)]
        for i in range(260):  # more than the hub has descriptors for
            held.append(self.connect(sources[i % len(sources)]))
        wait_until(lambda: (self.metric("skyport_hub_git_accept_errors_total") or 0) > 0, 10,
                   what="accept errors counted")
        size_before = os.path.getsize(self.hub.log_path)
        errors_before = self.metric("skyport_hub_git_accept_errors_total")
        time.sleep(2.0)  # the duration of the observation itself, not a wait for a state
        errors = self.metric("skyport_hub_git_accept_errors_total") - errors_before
        grown = os.path.getsize(self.hub.log_path) - size_before
        self.assertLess(errors, 100, "accept retried at line rate instead of pausing")
        self.assertLess(grown, 20_000, f"the log grew {grown} bytes in 2 s")
        for s in held:
            s.close()
        resource.prlimit(self.hub.proc.pid, resource.RLIMIT_NOFILE, (soft, hard))
        r = self.push_within(20)
        self.assertEqual(r.returncode, 0, r.stderr)
