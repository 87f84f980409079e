"""Starts real Skyport daemons on 127.0.0.1 for integration tests.

Every process is started by the test and stopped by its pid; ports are free
ones the daemons pick themselves (port 0 + --port-file); data lives in a
temp dir; waits poll with a deadline and never sleep a fixed time.
"""
import http.client
import json
import os
import random
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import unittest

BIN = os.environ.get("SKYPORT_BIN", os.path.join(os.path.dirname(__file__), "..", "..", "build"))


def binary(name):
    for sub in ("", "registry", "cli", "hub", "drone", "router", "bench"):
        p = os.path.join(BIN, sub, name)
        if os.path.isfile(p) and os.access(p, os.X_OK):
            return p
    raise FileNotFoundError(f"{name} not found under {BIN}; build first (scripts/setup.sh)")


def wait_until(pred, timeout=10.0, interval=0.02, what="condition"):
    """Polls pred() until it returns a truthy value or the deadline passes."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = pred()
        except Exception as e:  # noqa: BLE001 - keep polling, report the last error
            last = e
        if last and not isinstance(last, Exception):
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")
        time.sleep(interval)


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


class Registry:
    """One skyport-registry process; can be killed and restarted on the same data and port."""

    def __init__(self, tmp, token_file, extra=(), store=None, name="registry"):
        self.tmp = tmp
        self.data = os.path.join(tmp, f"{name}-data")
        self.token_file = token_file
        self.extra = list(extra)
        # Where the state lives: None = the SQLite data dir (self.data, read at
        # start), or e.g. ["--store", "etcd", "--etcd-endpoints", ...] (test_registry_etcd.py).
        self.store = list(store) if store is not None else None
        self.name = name
        self.port = 0
        self.proc = None
        self.log_path = os.path.join(tmp, f"{name}.log")

    def start(self):
        port_file = os.path.join(self.tmp, f"{self.name}.port")
        if os.path.exists(port_file):
            os.unlink(port_file)
        args = [binary("skyport-registry"), "--listen", f"127.0.0.1:{self.port}",
                *(self.store if self.store is not None else ["--data", self.data]),
                "--token-file", self.token_file, "--port-file", port_file,
                "--metrics-listen", "127.0.0.1:0", *self.extra]
        self._listening_lines_before = 0
        if os.path.exists(self.log_path):
            with open(self.log_path) as f:
                self._listening_lines_before = sum(1 for line in f if "listening" in line and "console_port=" in line)
        with open(self.log_path, "a") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        wait_until(lambda: os.path.exists(port_file) or self.proc.poll() is not None, 15, what="registry port file")
        if self.proc.poll() is not None:
            raise AssertionError(f"registry exited with {self.proc.returncode}: {self.log()}")
        with open(port_file) as f:
            self.port = int(f.read().strip())
        return self

    def metrics_port(self):
        for line in reversed(self.log().splitlines()):
            if "listening" in line and "metrics_port=" in line:
                return int(line.split("metrics_port=")[1].split()[0])
        raise AssertionError("no metrics_port in registry log")

    def metric(self, name):
        """One unlabelled counter or gauge of the registry's /metrics (AssertionError when absent)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.metrics_port(), timeout=5)
        conn.request("GET", "/metrics")
        for line in conn.getresponse().read().decode().splitlines():
            if line.startswith(name + " "):
                return int(float(line.split()[1]))
        raise AssertionError(f"no {name} in the registry's metrics")

    def kill(self, sig=signal.SIGKILL):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=10)

    def address(self):
        return f"127.0.0.1:{self.port}"

    def log(self):
        with open(self.log_path) as f:
            return f.read()


class ClusterTest(unittest.TestCase):
    """Base: a temp dir, a token, a registry, and a CLI runner bound to them."""

    REGISTRY_EXTRA = ()

    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="skyport-it-")
        self.tmp = self._tmp.name
        self.token_file = os.path.join(self.tmp, "token")
        with open(self.token_file, "w") as f:
            f.write(os.urandom(16).hex() + "\n")
        os.chmod(self.token_file, 0o600)
        self.procs = []
        self.registry = Registry(self.tmp, self.token_file, extra=self.REGISTRY_EXTRA,
                                 store=self.registry_store()).start()
        self.addCleanup(self._cleanup)

    def registry_store(self):
        """The registry's store flags (None: SQLite in the temp dir); test_registry_etcd.py overrides it."""
        return None

    def _cleanup(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=10)
            for f in (p.stdout, p.stderr):
                if f:
                    f.close()
        self.registry.kill()
        self._tmp.cleanup()

    def env(self, token_file=None):
        env = {k: v for k, v in os.environ.items() if not k.startswith("SKYPORT_")}
        env["SKYPORT_REGISTRY"] = self.registry.address()
        env["SKYPORT_TOKEN_FILE"] = token_file or self.token_file
        env["HOME"] = self.tmp  # no user config file leaks in
        return env

    def cli(self, *args, check=True, timeout=20, token_file=None, env=None):
        r = subprocess.run([binary("skyport"), *args], capture_output=True, text=True, timeout=timeout,
                           env=env or self.env(token_file), stdin=subprocess.DEVNULL)
        if check and r.returncode != 0:
            raise AssertionError(f"skyport {' '.join(args)} exited {r.returncode}\nstdout: {r.stdout}\nstderr: {r.stderr}")
        return r

    def cli_json(self, *args, **kw):
        return json.loads(self.cli(*args, **kw).stdout)

    def spawn(self, *args, env=None, **kw):
        """Starts a long-running CLI command (watch, register -- CMD); stopped at cleanup by pid."""
        p = subprocess.Popen([binary("skyport"), *args], env=env or self.env(), stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)
        self.procs.append(p)
        return p

    def show(self, *args):
        return self.cli_json("registry", "show", *args)


class Hub:
    """One skyport-hub process; restartable on the same data and ports."""

    def __init__(self, tmp, token_file, registry, extra=(), name="hub", store=None, etcd=None, advertise=None,
                 advertise_git=None):
        """Several hubs in one temp dir take distinct names; store="etcd" with etcd=ENDPOINTS joins an election."""
        self.tmp = tmp
        self.name = name
        self.extra = list(extra)
        for flag, value in (("--store", store), ("--etcd-endpoints", etcd), ("--advertise", advertise),
                            ("--advertise-git", advertise_git)):
            if value:
                self.extra += [flag, value]
        self.data = os.path.join(tmp, f"{name}-data")
        self.token_file = token_file
        self.registry = registry
        self.port = 0
        self.git_port = 0
        self.proc = None
        self.log_path = os.path.join(tmp, f"{name}.log")

    def start(self):
        port_file = os.path.join(self.tmp, f"{self.name}.port")
        if os.path.exists(port_file):
            os.unlink(port_file)
        # A test that reads /metrics passes its own --metrics-listen in extra.
        metrics = [] if "--metrics-listen" in self.extra else ["--metrics-listen", ""]
        # Likewise the console (its default 127.0.0.1:6004 would be shared by every test's hub).
        metrics += [] if "--console-listen" in self.extra else ["--console-listen", ""]
        args = [binary("skyport-hub"), "--listen", f"127.0.0.1:{self.port}", "--git-listen",
                f"127.0.0.1:{self.git_port}", "--data", self.data, "--token-file", self.token_file,
                "--port-file", port_file, *metrics,
                *([] if "--deploy-timeout" in self.extra else ["--deploy-timeout", "60"]),
                "--registry", self.registry.address(), *self.extra]
        self._listening_lines_before = 0
        if os.path.exists(self.log_path):
            with open(self.log_path) as f:
                self._listening_lines_before = sum(1 for line in f if "listening" in line and "console_port=" in line)
        with open(self.log_path, "a") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        wait_until(lambda: os.path.exists(port_file) or self.proc.poll() is not None, 15, what="hub port file")
        if self.proc.poll() is not None:
            raise AssertionError(f"hub exited with {self.proc.returncode}: {open(self.log_path).read()}")
        with open(port_file) as f:
            self.port, self.git_port = (int(x) for x in f.read().split())
        return self

    def kill(self, sig=signal.SIGKILL):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=15)

    def address(self):
        return f"127.0.0.1:{self.port}"

    def metrics(self):
        """The hub's /metrics text (started with --metrics-listen 127.0.0.1:0 in extra)."""
        port = None
        with open(self.log_path) as f:
            for line in f:
                if "listening" in line and "metrics_port=" in line:
                    port = int(line.split("metrics_port=")[1].split()[0])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/metrics")
        return conn.getresponse().read().decode()

    def metric(self, name):
        """One unlabelled counter or gauge of the hub's /metrics, or None."""
        m = re.search(r"^" + re.escape(name) + r" (\d+)$", self.metrics(), re.M)
        return int(m.group(1)) if m else None

    def console_port(self):
        """The console's port (started with --console-listen 127.0.0.1:0 in extra), from the "listening" line
        of this run (the hub writes it just after its port file)."""
        found = {}

        def logged():
            with open(self.log_path) as f:
                lines = [line for line in f if "listening" in line and "console_port=" in line]
            if len(lines) > getattr(self, "_listening_lines_before", 0):
                found["port"] = int(lines[-1].split("console_port=")[1].split()[0])
            return "port" in found
        wait_until(logged, 10, what="the hub's listening line")
        return found["port"]

    def git_url(self, app, token):
        return f"http://skyport:{token}@127.0.0.1:{self.git_port}/{app}.git"

    def git_address(self):
        return f"127.0.0.1:{self.git_port}"

    def stats_sql(self, sql, *args):
        """Rows of a read-only query on the hub's stats.db ([] before the store exists)."""
        db = os.path.join(self.data, "stats.db")
        if not os.path.exists(db):
            return []
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return con.execute(sql, args).fetchall()
        finally:
            con.close()

    def stats_live_bytes(self):
        """Bytes of stats.db in use (pages not on the free list); 0 before the store exists."""
        try:
            (pages,), = self.stats_sql("PRAGMA page_count")
            (free,), = self.stats_sql("PRAGMA freelist_count")
            (size,), = self.stats_sql("PRAGMA page_size")
        except (ValueError, sqlite3.Error):
            return 0
        return (pages - free) * size


class Drone:
    """One skyport-drone process with its own data dir."""

    def __init__(self, tmp, token_file, name, hub, registry, extra=(), env=None):
        self.name = name
        self.env = env  # None: the test's environment
        self.data = os.path.join(tmp, f"drone-{name}")
        self.token_file = token_file
        self.hub = hub
        self.registry = registry
        self.extra = list(extra)
        self.proc = None
        self.log_path = os.path.join(tmp, f"drone-{name}.log")

    def start(self):
        # A test's extra flags replace these defaults.
        defaults = [("--lease-ttl", "2"), ("--drain-ms", "100"), ("--ready-timeout", "10"), ("--min-uptime-ms", "300")]
        args = [binary("skyport-drone"), "--hub", self.hub.address(), "--registry", self.registry.address(),
                "--name", self.name, "--advertise", "127.0.0.1", "--data", self.data,
                "--token-file", self.token_file,
                *[x for flag, value in defaults if flag not in self.extra for x in (flag, value)], *self.extra]
        with open(self.log_path, "a") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=log, stdin=subprocess.DEVNULL, env=self.env)
        return self

    def kill(self, sig=signal.SIGKILL):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=30)

    def kill_orphaned_apps(self):
        """After a SIGKILL the drone's apps outlive it (by design). The test started
        them through this drone, so it stops them: the groups in the drone's state
        file whose leader is still the same process (same start time)."""
        try:
            with open(os.path.join(self.data, "processes.json")) as f:
                entries = json.load(f).get("processes", [])
        except (OSError, ValueError):
            entries = []
        for e in entries:
            pid, pgid, start = e.get("pid", 0), e.get("pgid", 0), e.get("start_time")
            if pid <= 1 or pgid <= 1:
                continue
            try:
                with open(f"/proc/{pid}/stat") as f:
                    same = int(f.read().split(") ", 1)[1].split()[19]) == start
            except (OSError, ValueError, IndexError):
                continue
            if same:
                try:
                    os.killpg(pgid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self.remove_cgroups()

    def remove_cgroups(self):
        """A drone with cgroups records its tree in DATA/cgroup: kill what is left in it (the
        test's own apps) and remove it, as the drone does on a clean shutdown."""
        try:
            with open(os.path.join(self.data, "cgroup")) as f:
                base = f.read().strip()
        except OSError:
            return
        if "/skyport-drone." not in base or not os.path.isdir(base):
            return
        for name in os.listdir(base):
            sub = os.path.join(base, name)
            if not os.path.isdir(sub):
                continue
            try:
                with open(os.path.join(sub, "cgroup.kill"), "w") as f:
                    f.write("1")
            except OSError:
                pass
            def empty():
                with open(os.path.join(sub, "cgroup.events")) as f:
                    return "populated 0" in f.read()
            wait_until(empty, 5, what=f"{sub} empty")
        for d in [os.path.join(base, n) for n in os.listdir(base)] + [base]:
            try:
                if os.path.isdir(d):
                    os.rmdir(d)
            except OSError:
                pass

    def log(self):
        with open(self.log_path) as f:
            return f.read()


def children_of(pid):
    """Pids whose parent is `pid` (from /proc)."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().split(") ", 1)[1].split()
            if int(fields[1]) == pid:
                out.append(int(entry))
        except OSError:
            continue
    return out


_HTTP_APP_TAIL = r'''
import http.server as _http_server, os as _os
class _Handler(_http_server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/crash":
            _os._exit(3)
        _body = BODY
        self.send_response(200)
        self.send_header("Content-Length", str(len(_body)))
        self.end_headers()
        self.wfile.write(_body)
    def log_message(self, *a):
        pass
_http_server.ThreadingHTTPServer(("127.0.0.1", int(_os.environ["PORT"])), _Handler).serve_forever()
'''


def http_app(preamble="", body='b"ok"'):
    """Source of a small Python app for deploy tests: `preamble` runs first, then a server on
    $PORT answers every GET with the bytes of the expression `body` (evaluated per request,
    `self` is the handler); GET /crash exits with status 3."""
    return preamble.strip("\n") + "\n" + _HTTP_APP_TAIL.replace("BODY", body)


class DeployTest(ClusterTest):
    """A registry, a hub and drones on 127.0.0.1, plus a git work tree for the app."""

    DRONES = ("d1", "d2")
    HUB_EXTRA = ()
    DRONE_EXTRA = ()

    def setUp(self):
        super().setUp()
        with open(self.token_file) as f:
            self.token = f.read().strip()
        self.hub = Hub(self.tmp, self.token_file, self.registry, extra=self.HUB_EXTRA).start()
        self.drones = {n: Drone(self.tmp, self.token_file, n, self.hub, self.registry, extra=self.DRONE_EXTRA).start()
                       for n in self.DRONES}
        self.addCleanup(self._stop_cluster)
        self.work = os.path.join(self.tmp, "work")
        os.makedirs(self.work)
        self.git("init", "-q", "-b", "master")
        wait_until(lambda: self.connected_drones() == set(self.DRONES), 15, what="drones attached")

    def _stop_cluster(self):
        # Drones first (gracefully: they stop their apps), then the hub.
        for d in self.drones.values():
            d.kill(signal.SIGTERM)
            d.kill_orphaned_apps()
        self.hub.kill()

    def env(self, token_file=None):
        env = super().env(token_file)
        env["SKYPORT_HUB"] = self.hub.address() if hasattr(self, "hub") else ""
        return env

    def git(self, *args, check=True):
        env = {"HOME": self.tmp, "GIT_TERMINAL_PROMPT": "0", "PATH": os.environ["PATH"],
               "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
               "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
        r = subprocess.run(["git", *args], cwd=self.work, capture_output=True, text=True, env=env, timeout=60)
        if check and r.returncode != 0:
            raise AssertionError(f"git {' '.join(args)}: {r.stderr}")
        return r

    def commit(self, files, message="change"):
        """Writes files into the work tree, commits them, and returns the full hash."""
        for name, text in files.items():
            with open(os.path.join(self.work, name), "w") as f:
                f.write(text)
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)
        return self.git("rev-parse", "HEAD").stdout.strip()

    def push(self, app="webapp", ref="master", token=None, check=True):
        return self.git("push", "-q", self.hub.git_url(app, token or self.token), ref, check=check)

    def connected_drones(self):
        r = self.cli("drones", "--json", check=False)
        if r.returncode != 0:
            return set()
        return {d["name"] for d in json.loads(r.stdout) if d.get("connected")}


# ---------------------------------------------------------------- router

HERE = os.path.dirname(os.path.abspath(__file__))


def read_port_file(path, proc, what, timeout=15):
    """Waits for a port file a child writes once listening; returns its whitespace-separated ints."""
    def ready():
        if proc.poll() is not None:
            return True
        try:
            with open(path) as f:
                return f.read().endswith("\n")
        except FileNotFoundError:
            return False
    wait_until(ready, timeout, what=f"{what} port file")
    if proc.poll() is not None:
        raise AssertionError(f"{what} exited with {proc.returncode}")
    with open(path) as f:
        return [int(x) for x in f.read().split()]


class Router:
    """One skyport-router process: static mode (routes=FILE) or registry mode (registry=Registry).

    Listens on 127.0.0.1 (port 0 unless restarted), admin on 127.0.0.1, two
    event-loop threads; ports come from its port file ("LISTEN_PORT ADMIN_PORT")."""

    def __init__(self, tmp, token_file, registry=None, routes=None, extra=(), name="r1"):
        assert (registry is None) != (routes is None), "give registry or routes"
        self.tmp = tmp
        self.token_file = token_file
        self.registry = registry
        self.routes = routes
        self.extra = list(extra)
        self.name = name
        self.port = 0
        self.admin_port = 0
        self.proc = None
        self.log_path = os.path.join(tmp, f"router-{name}.log")

    def start(self):
        port_file = os.path.join(self.tmp, f"router-{self.name}.port")
        if os.path.exists(port_file):
            os.unlink(port_file)
        args = [binary("skyport-router"), "--listen", f"127.0.0.1:{self.port}", "--admin",
                f"127.0.0.1:{self.admin_port}", "--port-file", port_file, "--token-file", self.token_file,
                "--threads", "2", "--name", self.name, "--drain-ms", "200"]
        if self.registry is not None:
            args += ["--registry", self.registry.address()]
        else:
            args += ["--routes", self.routes]
        args += self.extra
        self._listening_lines_before = 0
        if os.path.exists(self.log_path):
            with open(self.log_path) as f:
                self._listening_lines_before = sum(1 for line in f if "listening" in line and "console_port=" in line)
        with open(self.log_path, "a") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        try:
            self.port, self.admin_port = read_port_file(port_file, self.proc, "router")
        except AssertionError as e:
            raise AssertionError(f"{e}: {self.log()}") from None
        return self

    def kill(self, sig=signal.SIGKILL):
        """Sends `sig`; waits for the exit unless it is SIGHUP (reload)."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            if sig != signal.SIGHUP:
                self.proc.wait(timeout=15)

    def address(self):
        return f"127.0.0.1:{self.port}"

    def admin_address(self):
        return f"127.0.0.1:{self.admin_port}"

    def token(self):
        with open(self.token_file) as f:
            return f.read().strip()

    def admin_get(self, path, token=True, timeout=5):
        """GET on the admin listener; returns (status, body text)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.admin_port, timeout=timeout)
        try:
            headers = {"Authorization": f"Bearer {self.token()}"} if token else {}
            conn.request("GET", path, headers=headers)
            r = conn.getresponse()
            return r.status, r.read().decode()
        finally:
            conn.close()

    def metric(self, name, labels="", default=None):
        """One sample of /metrics (`labels` as written inside the braces); `default` when
        absent, or fails when no default is given."""
        status, text = self.admin_get("/metrics")
        if status != 200:
            raise AssertionError(f"/metrics answered {status}")
        key = name + ("{" + labels + "}" if labels else "") + " "
        for line in text.splitlines():
            if line.startswith(key):
                return int(float(line.split()[1]))
        if default is not None:
            return default
        raise AssertionError(f"{key.strip()} not in /metrics")

    def admin_json(self, path):
        status, body = self.admin_get(path)
        if status != 200:
            raise AssertionError(f"GET {path}: {status} {body}")
        return json.loads(body)

    def log(self):
        try:
            with open(self.log_path) as f:
                return f.read()
        except OSError:
            return ""


def one_arm_routes(tmp, commit, backend, app="webapp"):
    """A static routes file (the router's --routes): APP on one arm, COMMIT with all the weight,
    served by BACKEND; returns its path."""
    path = os.path.join(tmp, "routes.json")
    with open(path, "w") as f:
        json.dump({"apps": [{"name": app, "split_id": "s1",
                             "arms": [{"commit": commit, "weight": 100, "upstreams": [backend.address()]}]}]}, f)
    return path


class Backend:
    """tests/integration/router_backend.py (or ws_echo_server.py): a local HTTP upstream
    that reports its name and port; port 0 + port file unless `port` is given."""

    def __init__(self, tmp, name, script="router_backend.py", port=0):
        self.tmp = tmp
        self.name = name
        self.script = os.path.join(HERE, script)
        self.port = port
        self.proc = None
        self.log_path = os.path.join(tmp, f"backend-{name}.log")

    def start(self):
        port_file = os.path.join(self.tmp, f"backend-{self.name}.port")
        if os.path.exists(port_file):
            os.unlink(port_file)
        with open(self.log_path, "a") as log:
            self.proc = subprocess.Popen([sys.executable, self.script, "--name", self.name, "--port", str(self.port),
                                          "--port-file", port_file],
                                         stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        [self.port] = read_port_file(port_file, self.proc, f"backend {self.name}")
        return self

    def address(self):
        return f"127.0.0.1:{self.port}"

    def kill(self, sig=signal.SIGKILL):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=10)


def free_range(n):
    """n consecutive ports on 127.0.0.1 that nothing holds right now, between the registries'
    default range (10000-20000, where tests running beside this one place their apps) and the
    kernel's ephemeral range (where their outgoing connections take local ports): a port held
    by a neighbour's connection would look like one more squatter."""
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        ephemeral_low = int(f.read().split()[0])
    for _ in range(200):
        base = random.randint(20001, max(20001, ephemeral_low - n - 1))
        socks = []
        try:
            for p in range(base, base + n):
                s = socket.socket()
                s.bind(("127.0.0.1", p))
                socks.append(s)
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise AssertionError("no free port range")


def dead_port():
    """A port on 127.0.0.1 where nothing listens and that nobody else is handed while
    the returned socket stays open: bound, never listening, so connects are refused."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    return s, s.getsockname()[1]


class RawConn:
    """A client connection that sends bytes as given and parses responses by hand
    (for what http.client will not send: smuggling attempts, pipelining, interim responses)."""

    def __init__(self, port, timeout=5):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("connection closed")
        self.buf += chunk

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _take(self, n):
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_head(self):
        """(status, {lowercase name: [values]}) of the next response head, interim ones too."""
        status_line = self._line().decode("latin-1")
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
            raise AssertionError(f"bad status line {status_line!r}")
        headers = {}
        while True:
            line = self._line()
            if not line:
                break
            k, v = line.decode("latin-1").split(":", 1)
            headers.setdefault(k.strip().lower(), []).append(v.strip())
        return int(parts[1]), headers

    def read_response(self, head_request=False):
        """(status, headers, body) of the next final response (interim ones skipped)."""
        while True:
            status, headers = self.read_head()
            if status >= 200 or status == 101:
                break
        if head_request or status in (101, 204, 304):
            return status, headers, b""
        if "transfer-encoding" in headers:
            body = b""
            while True:
                size = int(self._line().split(b";")[0], 16)
                if size == 0:
                    while self._line():
                        pass
                    return status, headers, body
                body += self._take(size)
                self._line()
        if "content-length" in headers:
            return status, headers, self._take(int(headers["content-length"][0]))
        body = self.buf
        self.buf = b""
        while True:
            try:
                self._fill()
            except EOFError:
                break
            body += self.buf
            self.buf = b""
        return status, headers, body

    def rest_until_close(self, timeout=5):
        """Everything the peer still sends before it closes (b"" if nothing); raises
        AssertionError if it keeps the connection open past `timeout`."""
        self.sock.settimeout(timeout)
        data, self.buf = self.buf, b""
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return data
                data += chunk
        except ConnectionResetError:
            return data
        except socket.timeout:
            raise AssertionError(f"connection still open after {timeout}s (got {data[:200]!r})") from None

    def close(self):
        self.sock.close()
