"""The example apps (examples/webapp, examples/pageviews) on 127.0.0.1, without Skyport.

Each app is started from a copy of its directory with PORT set to a free port,
as a drone would, and stopped by its pid. The page-view ring is tested with a
fake clock. Needs only python3 (no Skyport binaries).
"""
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import unittest

from harness import wait_until

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
EXAMPLES = os.path.join(ROOT, "examples")
sys.path.insert(0, os.path.join(EXAMPLES, "pageviews"))
sys.dont_write_bytecode = True
import app as pageviews  # noqa: E402


def free_port():
    # Outside the kernel's ephemeral range (where other tests' outgoing connections take
    # ports) and the registries' default 10000-20000 range, so a port found free here is not
    # taken again before the app binds it (0.0.0.0, like a drone's app).
    for _ in range(200):
        port = random.randint(21000, 32000)
        with socket.socket() as s:
            try:
                s.bind(("0.0.0.0", port))
            except OSError:
                continue
            return port
    raise AssertionError("no free port in 21000-32000")


class FakeClock:
    def __init__(self, t=1000.0):
        self.t = t

    def __call__(self):
        return self.t


class ViewCounterTest(unittest.TestCase):
    def test_counts_within_the_minute(self):
        clock = FakeClock()
        c = pageviews.ViewCounter(clock=clock)
        self.assertEqual(c.count(), 0)
        self.assertEqual([c.hit() for _ in range(3)], [1, 2, 3])
        clock.t += 0.5
        self.assertEqual(c.hit(), 4)  # same second, same slot
        clock.t += 30
        self.assertEqual(c.hit(), 5)
        self.assertEqual(c.count(), 5)  # count() does not add a view

    def test_views_leave_after_sixty_seconds(self):
        clock = FakeClock(1000.0)
        c = pageviews.ViewCounter(clock=clock)
        c.hit()
        c.hit()  # second 1000
        clock.t = 1030.2
        c.hit()  # second 1030
        clock.t = 1059.9  # second 1059: 1000 is still inside (1059 - 60 < 1000)
        self.assertEqual(c.count(), 3)
        clock.t = 1060.0  # second 1060: 1000 has left
        self.assertEqual(c.count(), 1)
        clock.t = 1090.0
        self.assertEqual(c.count(), 0)

    def test_slot_reuse_after_a_wrap(self):
        clock = FakeClock(1000.0)
        c = pageviews.ViewCounter(clock=clock)
        for _ in range(5):
            c.hit()
        clock.t = 1060.0  # same slot (1060 % 60 == 1000 % 60): the old count must not carry over
        self.assertEqual(c.hit(), 1)
        clock.t = 1000.0 + 60 * 50  # long idle: nothing stale counts
        self.assertEqual(c.count(), 0)
        self.assertEqual(c.hit(), 1)

    def test_every_second_of_a_full_minute(self):
        clock = FakeClock(0.0)
        c = pageviews.ViewCounter(clock=clock)
        for s in range(120):
            clock.t = float(s)
            c.hit()
            self.assertEqual(c.count(), min(s + 1, 60))

    def test_window_is_a_parameter(self):
        clock = FakeClock(10.0)
        c = pageviews.ViewCounter(window=5, clock=clock)
        c.hit()
        clock.t = 14.0
        self.assertEqual(c.count(), 1)
        clock.t = 15.0
        self.assertEqual(c.count(), 0)

    def test_concurrent_hits_are_all_counted(self):
        c = pageviews.ViewCounter(clock=FakeClock())
        threads = [threading.Thread(target=lambda: [c.hit() for _ in range(500)]) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(c.count(), 4000)


class AppProcess:
    """One example app started like a drone starts it: `python3 FILE` in its directory, PORT set."""

    def __init__(self, directory, script, env=None):
        # A port can still be taken between the check and the app's bind: then the app
        # exits with EADDRINUSE and starts again on another port.
        for attempt in range(5):
            self._start(directory, script, env)
            if self.proc.poll() is None or "Errno 98" not in self.output() or attempt == 4:
                break
            self.log.close()
        if self.proc.poll() is not None:
            raise AssertionError(f"{script} exited {self.proc.returncode}: {self.output()}")

    def _start(self, directory, script, env):
        self.port = free_port()
        full_env = {k: v for k, v in os.environ.items() if not k.startswith(("SKYPORT_", "SAY_URL", "WEBAPP_"))}
        full_env.update(env or {})
        full_env["PORT"] = str(self.port)
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([sys.executable, script], cwd=directory, env=full_env,
                                     stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
        wait_until(lambda: self.proc.poll() is not None or self.get("/healthz")[0] == 200, 10,
                   what=f"{script} on port {self.port}")

    def get(self, path, headers=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            conn.request("GET", path, headers=headers or {})
            r = conn.getresponse()
            return r.status, r.read().decode(), dict(r.getheaders())
        finally:
            conn.close()

    def output(self):
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.log.close()


class ExampleAppTest(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="skyport-examples-")
        self.addCleanup(self._tmp.cleanup)

    def copy_example(self, name):
        dst = os.path.join(self._tmp.name, name)
        shutil.copytree(os.path.join(EXAMPLES, name), dst, ignore=shutil.ignore_patterns("__pycache__"))
        return dst

    def start(self, directory, script, env=None):
        app = AppProcess(directory, script, env)
        self.addCleanup(app.stop)
        return app

    def assert_keep_alive(self, app, path="/", n=30):
        """n requests on one connection: the same socket serves them all, and none stalls
        (head and body in separate segments without TCP_NODELAY cost ~40 ms each)."""
        conn = http.client.HTTPConnection("127.0.0.1", app.port, timeout=5)
        self.addCleanup(conn.close)
        conn.request("GET", path)
        r = conn.getresponse()
        r.read()
        self.assertEqual(r.status, 200)
        self.assertFalse(r.will_close, "the response closes the connection")
        sock = conn.sock
        times = []
        for _ in range(n):
            t0 = time.monotonic()
            conn.request("GET", path)
            r = conn.getresponse()
            r.read()
            times.append(time.monotonic() - t0)
            self.assertEqual(r.status, 200)
            self.assertIs(conn.sock, sock, "the connection was not kept alive")
        self.assertLess(statistics.median(times), 0.02, f"keep-alive requests stall: {times}")

    def assert_sigterm_exits_cleanly(self, app):
        # An idle keep-alive connection must not hold the exit up.
        idle = socket.create_connection(("127.0.0.1", app.port))
        self.addCleanup(idle.close)
        idle.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertIn(b"200", idle.recv(4096))
        app.proc.send_signal(signal.SIGTERM)
        try:
            code = app.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.fail("no exit within 5 s of SIGTERM")
        self.assertEqual(code, 0, app.output())
        self.assertNotIn("Traceback", app.output())


class WebappTest(ExampleAppTest):
    def setUp(self):
        super().setUp()
        self.dir = self.copy_example("webapp")

    def test_procfile_and_skyport_json(self):
        with open(os.path.join(self.dir, "Procfile")) as f:
            roles = dict(line.split(":", 1) for line in f.read().splitlines() if line.strip() and not line.startswith("#"))
        self.assertEqual({k: v.strip() for k, v in roles.items()}, {"web": "python3 web.py", "say": "python3 say.py"})
        with open(os.path.join(self.dir, "skyport.json")) as f:
            spec = json.load(f)
        self.assertEqual(set(spec["roles"]), set(roles))  # the drone refuses options for unknown roles
        for role in spec["roles"].values():
            self.assertEqual(role["health"], "/healthz")

    def test_web_answers_like_the_seed(self):
        web = self.start(self.dir, "web.py")
        self.assertEqual(web.get("/")[:2], (200, "beep boop\n"))
        self.assertEqual(web.get("/HUG")[:2], (200, "HUG ALL HUMANS\n"))
        self.assertEqual(web.get("/BEFRIEND")[:2], (200, "BEFRIEND ALL HUMANS\n"))
        self.assertEqual(web.get("/healthz")[:2], (200, "ok\n"))
        self.assertEqual(web.get("/say?text=hi")[:2], (200, "beep boop says: hi\n"))
        status, _, headers = web.get("/")
        self.assertTrue(headers["Content-Type"].startswith("text/plain"))
        self.assertEqual(headers["Content-Length"], "10")

    def test_say_role(self):
        say = self.start(self.dir, "say.py")
        self.assertEqual(say.get("/?text=hello%20there")[:2], (200, "beep boop says: hello there\n"))
        self.assertEqual(say.get("/")[:2], (200, "beep boop says: beep\n"))
        self.assertEqual(say.get("/healthz")[:2], (200, "ok\n"))
        self.assertEqual(say.get("/elsewhere")[0], 404)
        self.assertFalse(os.path.exists(os.path.join(self.dir, "__pycache__")), "say.py left bytecode in the checkout")

    def test_web_asks_the_say_role_at_say_url(self):
        say = self.start(self.dir, "say.py", {"WEBAPP_GREETING": "from say"})
        web = self.start(self.dir, "web.py", {"SAY_URL": f"http://127.0.0.1:{say.port}/"})
        self.assertEqual(web.get("/say?text=a%26b")[:2], (200, "from say says: a&b\n"))
        closed = free_port()
        lonely = self.start(self.dir, "web.py", {"SAY_URL": f"http://127.0.0.1:{closed}"})
        status, body, _ = lonely.get("/say?text=x")
        self.assertEqual(status, 502)
        self.assertIn("unavailable", body)

    def test_demo_second_commit(self):
        # scripts/demo.sh makes commit B with exactly this sed.
        subprocess.run(["sed", "-i", 's/"beep boop"/"beepity boop!"/', os.path.join(self.dir, "web.py")], check=True)
        web = self.start(self.dir, "web.py")
        say = self.start(self.dir, "say.py")
        self.assertEqual(web.get("/")[1], "beepity boop!\n")
        self.assertEqual(web.get("/BEFRIEND")[1], "BEFRIEND ALL HUMANS\n")
        self.assertEqual(say.get("/?text=hi")[1], "beepity boop! says: hi\n")

    def test_keep_alive(self):
        web = self.start(self.dir, "web.py")
        self.assert_keep_alive(web, "/")
        self.assert_keep_alive(web, "/HUG")
        say = self.start(self.dir, "say.py")
        self.assert_keep_alive(say, "/?text=x")

    def test_head_and_body_leave_in_one_write(self):
        web = self.start(self.dir, "web.py")
        with socket.create_connection(("127.0.0.1", web.port)) as s:
            s.sendall(b"GET /HUG HTTP/1.1\r\nHost: x\r\n\r\n")
            time.sleep(0.2)  # everything the server sent is queued by now
            data = s.recv(65536)
        self.assertTrue(data.startswith(b"HTTP/1.1 200"), data)
        self.assertTrue(data.endswith(b"\r\n\r\nHUG ALL HUMANS\n"), data)

    def test_sigterm_exits_cleanly(self):
        for script in ("web.py", "say.py"):
            with self.subTest(script=script):
                self.assert_sigterm_exits_cleanly(self.start(self.dir, script))


class PageviewsTest(ExampleAppTest):
    def setUp(self):
        super().setUp()
        self.dir = self.copy_example("pageviews")

    def test_procfile_and_skyport_json(self):
        with open(os.path.join(self.dir, "Procfile")) as f:
            self.assertEqual(f.read().strip(), "web: python3 app.py")
        with open(os.path.join(self.dir, "skyport.json")) as f:
            self.assertEqual(json.load(f), {"roles": {"web": {"health": "/healthz"}}})

    def test_counts_views_and_not_health_checks(self):
        app = self.start(self.dir, "app.py", {"SKYPORT_DRONE": "drone-2", "SKYPORT_INSTANCE": "1"})
        for _ in range(5):
            self.assertEqual(app.get("/healthz")[:2], (200, "ok\n"))
        self.assertEqual(app.get("/")[1], "1 page view in the last minute, served by drone-2/1\n")
        self.assertEqual(app.get("/")[1], "2 page views in the last minute, served by drone-2/1\n")
        app.get("/healthz")
        self.assertEqual(app.get("/?utm=x")[1], "3 page views in the last minute, served by drone-2/1\n")
        self.assertEqual(app.get("/favicon.ico")[0], 404)  # not a page view either
        status, body, headers = app.get("/", {"Accept": "application/json"})
        self.assertEqual(json.loads(body), {"views": 4, "window_s": 60, "instance": "drone-2/1"})
        self.assertEqual(headers["Content-Type"], "application/json")
        status, body, headers = app.get("/", {"Accept": "text/html,application/xhtml+xml"})
        self.assertTrue(headers["Content-Type"].startswith("text/html"))
        self.assertIn("<h1>5 page views in the last minute</h1>", body)
        self.assertIn("<code>drone-2/1</code>", body)

    def test_instance_without_skyport(self):
        app = self.start(self.dir, "app.py")
        body = app.get("/")[1]
        self.assertRegex(body, rf"^1 page view in the last minute, served by {re.escape(socket.gethostname())}:{app.port}\n$")

    def test_concurrent_views(self):
        app = self.start(self.dir, "app.py")

        def views(n):
            conn = http.client.HTTPConnection("127.0.0.1", app.port, timeout=5)
            for _ in range(n):
                conn.request("GET", "/")
                conn.getresponse().read()
            conn.close()

        threads = [threading.Thread(target=views, args=(25,)) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(json.loads(app.get("/", {"Accept": "application/json"})[1])["views"], 101)

    def test_keep_alive(self):
        app = self.start(self.dir, "app.py")
        self.assert_keep_alive(app, "/")

    def test_sigterm_exits_cleanly(self):
        self.assert_sigterm_exits_cleanly(self.start(self.dir, "app.py"))


if __name__ == "__main__":
    unittest.main()
