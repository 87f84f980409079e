"""The router's connection and body-time limits (issue 12, edge).

A flood of idle TCP connections must not take the router's file descriptors
(--max-connections sheds the oldest connection without a request head; a new
connection must send its head within --header-timeout-ms; at EMFILE the
router refuses with a spare fd and pauses accepting instead of spinning), and
request bodies trickled a byte at a time must not hold an app's upstream
workers (--body-timeout-ms / --min-body-rate cut them with 408).
"""
import json
import os
import resource
import socket
import tempfile
import threading
import time
import unittest

from harness import Router

W = "cccc" + "0" * 36  # app "web": the default app


class PoolUpstream:
    """An upstream with a fixed number of worker threads (like a WSGI server's
    workers): each serves one keep-alive connection at a time, reading a
    Content-Length body whole before it answers."""

    def __init__(self, workers=4):
        self.srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(256)
        for _ in range(workers):
            threading.Thread(target=self._worker, daemon=True).start()

    def address(self):
        return f"127.0.0.1:{self.srv.getsockname()[1]}"

    def close(self):
        self.srv.close()

    def _worker(self):
        while True:
            try:
                s, _ = self.srv.accept()
            except OSError:
                return
            try:
                self._conn(s)
            except OSError:
                pass
            finally:
                s.close()

    def _conn(self, s):
        data = b""
        while True:
            while b"\r\n\r\n" not in data:
                chunk = s.recv(65536)
                if not chunk:
                    return
                data += chunk
            head, data = data.split(b"\r\n\r\n", 1)
            length = 0
            for line in head.split(b"\r\n")[1:]:
                k, _, v = line.partition(b":")
                if k.strip().lower() == b"content-length":
                    length = int(v)
            while len(data) < length:
                chunk = s.recv(65536)
                if not chunk:
                    return
                data += chunk
            data = data[length:]
            body = b"ok"
            s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)


def get(port, path="/", timeout=5):
    """One GET on a new connection; returns the status (raises on timeout)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: web.localhost\r\nConnection: close\r\n\r\n")
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
        return int(out.split(b" ")[1])
    finally:
        s.close()


def closed_by_peer(s, deadline):
    """True when the peer closes (or resets) `s` before `deadline` (monotonic)."""
    while time.monotonic() < deadline:
        s.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            if s.recv(4096) == b"":
                return True
        except socket.timeout:
            return False
        except ConnectionResetError:
            return True
    return False


class RouterLimitsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls._tmp = tempfile.TemporaryDirectory(prefix="skyport-router-limits-")
        cls.tmp = cls._tmp.name
        cls.up = PoolUpstream(workers=4)
        # The test holds thousands of sockets at once.
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = min(hard, 8192) if hard != resource.RLIM_INFINITY else 8192
        if soft != resource.RLIM_INFINITY and soft < want:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        cls.fd_budget = want

    @classmethod
    def tearDownClass(cls):
        cls.up.close()
        cls._tmp.cleanup()

    def start_router(self, extra=()):
        d = tempfile.mkdtemp(dir=self.tmp, prefix=self._testMethodName[:40] + "-")
        token_file = os.path.join(d, "token")
        with open(token_file, "w") as f:
            f.write(os.urandom(16).hex() + "\n")
        os.chmod(token_file, 0o600)
        doc = {"default_app": "web",
               "apps": [{"name": "web", "arms": [{"commit": W, "weight": 100, "upstreams": [self.up.address()]}]}]}
        routes = os.path.join(d, "routes.json")
        with open(routes, "w") as f:
            json.dump(doc, f)
        r = Router(d, token_file, routes=routes, extra=extra, name="limits").start()
        self.addCleanup(r.kill)
        return r

    def metric(self, r, name):
        return r.metric(name)

    def hold(self, port, n):
        socks = []
        self.addCleanup(lambda: [s.close() for s in socks])
        for _ in range(n):
            socks.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        return socks

    # ------------------------------------------------------------ connection flood

    def test_idle_connection_flood_is_shed_and_a_request_still_answered(self):
        r = self.start_router(["--max-connections", "200", "--header-timeout-ms", "30000",
                               "--idle-timeout-ms", "60000"])
        n = min(3000, self.fd_budget - 200)
        self.hold(r.port, n)  # connect and send nothing
        t0 = time.monotonic()
        self.assertEqual(get(r.port, timeout=5), 200)
        self.assertLess(time.monotonic() - t0, 5)
        deadline = time.monotonic() + 10
        while self.metric(r, "skyport_router_connections_shed_total") < n - 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertGreaterEqual(self.metric(r, "skyport_router_connections_shed_total"), n - 200)
        self.assertLessEqual(self.metric(r, "skyport_router_connections_open"), 200)

    def test_connection_that_sends_nothing_is_closed_after_the_header_timeout(self):
        r = self.start_router(["--header-timeout-ms", "400", "--idle-timeout-ms", "60000"])
        (s,) = self.hold(r.port, 1)
        self.assertTrue(closed_by_peer(s, time.monotonic() + 5), "an idle new connection was kept")
        # A keep-alive connection after a whole request keeps --idle-timeout-ms.
        k = socket.create_connection(("127.0.0.1", r.port), timeout=5)
        self.addCleanup(k.close)
        k.sendall(b"GET / HTTP/1.1\r\nHost: web.localhost\r\n\r\n")
        self.assertIn(b"200 OK", k.recv(4096))
        self.assertFalse(closed_by_peer(k, time.monotonic() + 1.0))

    def test_out_of_fds_refuses_and_recovers(self):
        r = self.start_router(["--max-connections", "100000"])
        # The router runs with very few fds: the flood hits EMFILE, not the cap.
        resource.prlimit(r.proc.pid, resource.RLIMIT_NOFILE, (128, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
        socks = self.hold(r.port, 300)
        deadline = time.monotonic() + 10

        def emfile_counted():
            try:
                return self.metric_labeled(r, "skyport_router_accept_errors_total", 'errno="EMFILE"') > 0
            except OSError:  # the admin listener shares the process's fds: it may be refused too
                return False
        while not emfile_counted():
            self.assertLess(time.monotonic(), deadline, "no EMFILE counted")
            time.sleep(0.05)
        for s in socks:
            s.close()
        # The router resumes accepting once fds are free again (idle ones go at the header timeout).
        deadline = time.monotonic() + 20
        while True:
            try:
                if get(r.port, timeout=2) == 200:
                    break
            except OSError:
                pass
            self.assertLess(time.monotonic(), deadline, "the router never answered again")

    def metric_labeled(self, r, name, label):
        return r.metric(name, label)

    # ------------------------------------------------------------ slow bodies

    def test_trickled_bodies_are_cut_and_upstream_workers_freed(self):
        r = self.start_router(["--body-timeout-ms", "1500", "--response-timeout-ms", "30000"])
        trickle = []
        for _ in range(4):  # as many as the upstream has workers
            s = socket.create_connection(("127.0.0.1", r.port), timeout=5)
            self.addCleanup(s.close)
            s.sendall(b"POST /upload HTTP/1.1\r\nHost: web.localhost\r\nContent-Length: 100000000\r\n\r\nx")
            trickle.append(s)
        stop = threading.Event()
        self.addCleanup(stop.set)

        def drip():
            while not stop.wait(0.2):
                for s in trickle:
                    try:
                        s.send(b"x")
                    except OSError:
                        pass
        threading.Thread(target=drip, daemon=True).start()
        t0 = time.monotonic()
        # The upstream's workers are all held: the GET waits until the bodies are cut.
        self.assertEqual(get(r.port, timeout=10), 200)
        self.assertLess(time.monotonic() - t0, 10)
        for s in trickle:
            s.settimeout(5)
            got = b""
            try:
                while True:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    got += chunk
            except ConnectionResetError:
                pass
            self.assertTrue(got == b"" or got.startswith(b"HTTP/1.1 408"), got[:80])
        self.assertEqual(self.metric(r, "skyport_router_slow_bodies_total"), 4)

    def test_min_body_rate_keeps_a_steady_upload(self):
        # 50 KB/s for 2.5 s against --min-body-rate 1000 after a 500 ms grace: never cut.
        r = self.start_router(["--body-timeout-ms", "500", "--min-body-rate", "1000"])
        s = socket.create_connection(("127.0.0.1", r.port), timeout=5)
        self.addCleanup(s.close)
        total = 125_000
        s.sendall(b"POST /upload HTTP/1.1\r\nHost: web.localhost\r\nContent-Length: %d\r\n\r\n" % total)
        sent = 0
        while sent < total:
            s.sendall(b"y" * 5000)
            sent += 5000
            time.sleep(0.1)
        self.assertIn(b"200 OK", s.recv(4096))
        self.assertEqual(self.metric(r, "skyport_router_slow_bodies_total"), 0)


if __name__ == "__main__":
    unittest.main()
