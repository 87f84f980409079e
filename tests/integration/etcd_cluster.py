"""A real etcd cluster on 127.0.0.1 for integration tests.

EtcdCluster(members=3) starts `etcd` processes on free loopback ports with data
in a temp dir, waits (polling with a deadline) until every member is healthy,
and stops them by pid. Members can be killed (-9) and restarted on the same
data and ports. Optional: TLS on the client URLs (a test CA and a server
certificate made with openssl in the temp dir) and etcd auth (enable_auth).
Without `etcd` on PATH, the constructor raises unittest.SkipTest saying so.

Footprint: each member preallocates a 64 MB WAL file (etcd's fixed segment
size) in its data dir; the backend quota is 256 MB and snapshots are taken
every 1,000 entries, so a test's cluster stays under ~200 MB of disk, all in
a temp dir removed by stop().
"""
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import unittest
import urllib.request

from harness import pid_alive, wait_until

ETCD = shutil.which("etcd")
ETCDCTL = shutil.which("etcdctl")


def free_ports(n):
    """n distinct free TCP ports on 127.0.0.1 (closed again: etcd binds them)."""
    socks, ports = [], []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()
    return ports


def make_test_ca(d):
    """A CA and a server certificate for 127.0.0.1/localhost in `d`; returns (ca, cert, key) paths."""
    if not shutil.which("openssl"):
        raise unittest.SkipTest("openssl is not installed: cannot make the test CA for etcd over TLS")
    ca_key, ca, key, csr, cert = (os.path.join(d, n) for n in ("ca.key", "ca.pem", "server.key", "server.csr",
                                                              "server.pem"))
    ext = os.path.join(d, "server.ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run = lambda *a: subprocess.run(["openssl", *a], check=True, capture_output=True, timeout=30)  # noqa: E731
    run("req", "-x509", *ec, "-keyout", ca_key, "-out", ca, "-days", "2", "-subj", "/CN=skyport-test-ca")
    run("req", *ec, "-keyout", key, "-out", csr, "-subj", "/CN=localhost")
    run("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-out", cert, "-days", "2",
        "-extfile", ext)
    return ca, cert, key


class EtcdCluster:
    def __init__(self, members=3, tls=False, start=True, extra=()):
        if not ETCD or not ETCDCTL:
            raise unittest.SkipTest("etcd is not installed (scripts/setup.sh installs etcd-server and etcd-client)")
        self.n = members
        self.tls = tls
        self.extra = list(extra)  # more etcd flags, e.g. ["--auth-token-ttl", "1"]
        self.tmp = tempfile.mkdtemp(prefix="skyport-etcd-")
        self.procs = [None] * members
        self.names = [f"m{i}" for i in range(members)]
        self.auth = None  # "user:password" once enable_auth ran
        self.ca = self.cert = self.key = None
        if tls:
            self.ca, self.cert, self.key = make_test_ca(self.tmp)
        if start:
            self.start()

    # --- addresses
    def client_url(self, i):
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.client_ports[i]}"

    def endpoints(self):
        """The members' client URLs, comma-separated (for --etcd-endpoints)."""
        return ",".join(self.client_url(i) for i in range(self.n))

    def _args(self, i):
        peer = lambda j: f"http://127.0.0.1:{self.peer_ports[j]}"  # noqa: E731
        args = [ETCD, "--name", self.names[i], "--data-dir", os.path.join(self.tmp, self.names[i]),
                "--listen-client-urls", self.client_url(i), "--advertise-client-urls", self.client_url(i),
                "--listen-peer-urls", peer(i), "--initial-advertise-peer-urls", peer(i),
                "--initial-cluster", ",".join(f"{self.names[j]}={peer(j)}" for j in range(self.n)),
                "--initial-cluster-state", "new", "--initial-cluster-token", os.path.basename(self.tmp),
                # Small and quick: elections within ~1 s on loopback, little disk.
                "--heartbeat-interval", "50", "--election-timeout", "500",
                "--quota-backend-bytes", str(256 << 20), "--snapshot-count", "1000",
                "--logger", "zap", "--log-outputs", "stderr", "--log-level", "warn"]
        if self.tls:
            args += ["--cert-file", self.cert, "--key-file", self.key]
        return args + self.extra

    # --- life cycle
    def start(self):
        for attempt in range(3):  # a free port taken again before etcd bound it: new ports
            ports = free_ports(2 * self.n)
            self.client_ports, self.peer_ports = ports[:self.n], ports[self.n:]
            for i in range(self.n):
                self._spawn(i)
            try:
                self.wait_healthy()
                return
            except AssertionError:
                if attempt == 2 or all(pid_alive(p.pid) for p in self.procs):
                    self.stop()
                    raise
                for i in range(self.n):
                    self._stop_member(i)
                    shutil.rmtree(os.path.join(self.tmp, self.names[i]), ignore_errors=True)

    def _spawn(self, i):
        log = open(os.path.join(self.tmp, f"{self.names[i]}.log"), "a")
        try:
            self.procs[i] = subprocess.Popen(self._args(i), stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        finally:
            log.close()

    def healthy(self, i):
        if self.procs[i] is None or not pid_alive(self.procs[i].pid):
            return False
        ctx = ssl.create_default_context(cafile=self.ca) if self.tls else None
        try:
            with urllib.request.urlopen(self.client_url(i) + "/health", timeout=1, context=ctx) as r:
                return json.loads(r.read()).get("health") == "true"
        except (OSError, ValueError):
            return False

    def wait_healthy(self, members=None, timeout=20):
        members = range(self.n) if members is None else members
        for i in members:
            wait_until(lambda: self.healthy(i), timeout=timeout, what=f"etcd member {i} healthy ({self.log(i)[-300:]})")

    def kill(self, i, sig=signal.SIGKILL):
        """Kills member i by its pid (default -9) and reaps it."""
        p = self.procs[i]
        if p is not None and p.poll() is None:
            os.kill(p.pid, sig)
            p.wait(timeout=10)

    def hang(self):
        """SIGSTOPs every running member (etcd then neither answers nor fails); returns a
        callable that resumes them (safe to call twice; register it as a cleanup)."""
        members = [p for p in self.procs if p is not None and p.poll() is None]
        for p in members:
            os.kill(p.pid, signal.SIGSTOP)

        def resume():
            for p in members:
                if p.poll() is None:
                    os.kill(p.pid, signal.SIGCONT)
        return resume

    def restart(self, i):
        self.kill(i)
        self._spawn(i)
        self.wait_healthy([i])

    def _stop_member(self, i):
        p = self.procs[i]
        if p is None:
            return
        if p.poll() is None:
            os.kill(p.pid, signal.SIGTERM)
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(p.pid, signal.SIGKILL)
                p.wait(timeout=10)
        self.procs[i] = None

    def stop(self):
        """Stops every member (by pid) and removes the data. Safe to call twice."""
        for i in range(self.n):
            self._stop_member(i)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def log(self, i):
        try:
            with open(os.path.join(self.tmp, f"{self.names[i]}.log"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    # --- etcdctl
    def etcdctl(self, *args, members=None, check=True, timeout=20):
        members = [i for i in range(self.n) if self.procs[i] is not None] if members is None else members
        cmd = [ETCDCTL, "--endpoints", ",".join(self.client_url(i) for i in members), "--dial-timeout", "2s",
               "--command-timeout", "10s"]
        if self.tls:
            cmd += ["--cacert", self.ca]
        if self.auth:
            cmd += ["--user", self.auth]
        r = subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=timeout,
                           env={**os.environ, "ETCDCTL_API": "3"})
        if check and r.returncode != 0:
            raise AssertionError(f"etcdctl {' '.join(args)} failed: {r.stderr.strip()}")
        return r

    def leader(self):
        """The index of the member that leads now (polls until one does)."""
        def find():
            live = [i for i in range(self.n) if self.procs[i] is not None and pid_alive(self.procs[i].pid)]
            out = json.loads(self.etcdctl("endpoint", "status", "-w", "json", members=live).stdout)
            for st in out:
                if st["Status"]["leader"] == st["Status"]["header"]["member_id"]:
                    return self.client_url_index(st["Endpoint"]) + 1  # +1: index 0 must count as found
            return None
        return wait_until(find, timeout=15, what="an etcd leader") - 1

    def client_url_index(self, url):
        for i in range(self.n):
            if self.client_url(i) == url:
                return i
        raise AssertionError(f"{url} is not a member's client URL")

    def revision(self):
        out = json.loads(self.etcdctl("endpoint", "status", "-w", "json").stdout)
        return max(st["Status"]["header"]["revision"] for st in out)

    def snapshot_save(self, path):
        """`etcdctl snapshot save` from member 0."""
        self.etcdctl("snapshot", "save", path, members=[0])

    def restore(self, path):
        """Stops every member and brings the cluster back from the snapshot at `path` (etcdctl
        snapshot restore into fresh data dirs, same names, peer URLs and cluster token, so the
        same cluster id: revisions go back to the snapshot's), then waits until it is healthy."""
        for i in range(self.n):
            self._stop_member(i)
        peer = lambda j: f"http://127.0.0.1:{self.peer_ports[j]}"  # noqa: E731
        for i in range(self.n):
            data = os.path.join(self.tmp, self.names[i])
            shutil.rmtree(data, ignore_errors=True)
            r = subprocess.run([ETCDCTL, "snapshot", "restore", path, "--name", self.names[i], "--data-dir", data,
                                "--initial-cluster", ",".join(f"{self.names[j]}={peer(j)}" for j in range(self.n)),
                                "--initial-cluster-token", os.path.basename(self.tmp),
                                "--initial-advertise-peer-urls", peer(i)],
                               capture_output=True, text=True, timeout=60, env={**os.environ, "ETCDCTL_API": "3"})
            if r.returncode != 0:
                raise AssertionError(f"etcdctl snapshot restore failed: {r.stderr.strip()}")
        for i in range(self.n):
            self._spawn(i)
        self.wait_healthy()

    def enable_auth(self, user="skyport", password="s3cret-pw"):
        """Adds root and `user` (with the root role) and turns auth on; etcdctl then logs in as root."""
        self.etcdctl("user", "add", f"root:{password}-root")
        self.etcdctl("user", "add", f"{user}:{password}")
        self.etcdctl("user", "grant-role", user, "root")
        self.etcdctl("auth", "enable")
        self.auth = f"root:{password}-root"
