"""What the control-plane benchmarks (issue 15) share: the build, the test
harness's daemons and etcd cluster (tests/integration), machine facts, and
processes started and stopped by pid.

Every process binds 127.0.0.1 only; data lives in temp dirs; nothing is
killed that the benchmark did not start.
"""
import datetime
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
BUILD = os.path.abspath(os.environ.get("BUILD", os.path.join(REPO, "build")))
os.environ["SKYPORT_BIN"] = BUILD  # read by harness.py at import
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))

import etcd_cluster  # noqa: E402  (tests/integration: the 3-member cluster on loopback)
import harness  # noqa: E402

# etcd's own defaults for the Raft timings and snapshots (the tests shorten them; a
# benchmark should not: a snapshot every 1,000 entries costs throughput).
ETCD_BENCH_FLAGS = ["--heartbeat-interval", "100", "--election-timeout", "1000", "--snapshot-count", "100000"]


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def tool(name):
    """A binary of the build (bench/, registry/, hub/ ...), or an error naming the target to build."""
    try:
        return harness.binary(name)
    except FileNotFoundError:
        raise SystemExit(f"{name} is not built under {BUILD}: ninja -C {BUILD} {name}")


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def machine_facts():
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    etcd = "none"
    if shutil.which("etcd"):
        out = subprocess.run(["etcd", "--version"], capture_output=True, text=True).stdout.split("\n")
        etcd = out[0].split(":")[-1].strip() if out else "?"
    commit = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    return {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "host": platform.node(), "nproc": os.cpu_count(), "cpu": cpu, "kernel": platform.release(),
            "load": loadavg(), "etcd": etcd, "tree": commit, "build": BUILD}


def print_facts(title):
    f = machine_facts()
    print(f"== {title} {f['date']} on {f['host']} (tree {f['tree']}, build {f['build']})")
    print(f"machine: nproc={f['nproc']} cpu='{f['cpu']}' kernel={f['kernel']} etcd={f['etcd']} load={f['load']}")
    return f


def new_token(tmp):
    path = os.path.join(tmp, "token")
    with open(path, "w") as f:
        f.write(os.urandom(16).hex() + "\n")
    os.chmod(path, 0o600)
    return path


def etcd_cluster_3():
    """A fresh 3-member etcd on loopback (temp dir, stopped by pid with .stop())."""
    return etcd_cluster.EtcdCluster(3, extra=ETCD_BENCH_FLAGS)


class Proc:
    """One process we start (own session), stopped by its pid: TERM, then KILL after 5 s."""

    def __init__(self, args, log_path, nice=0):
        self.args = args
        self.log_path = log_path
        with open(log_path, "a") as out:
            self.p = subprocess.Popen(args, stdout=out, stderr=out, stdin=subprocess.DEVNULL, start_new_session=True,
                                      preexec_fn=(lambda: os.nice(nice)) if nice else None)
        self.pid = self.p.pid

    def alive(self):
        return self.p.poll() is None

    def stop(self):
        if self.p.poll() is None:
            os.kill(self.pid, signal.SIGTERM)
            try:
                self.p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.p.wait(timeout=10)

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()


def start_registry(tmp, token, name, store_args, nice=0, extra=(), binary=None):
    """A skyport-registry (this build's, or `binary`) on 127.0.0.1:0; returns (Proc, 'host:port')."""
    port_file = os.path.join(tmp, f"{name}.port")
    if os.path.exists(port_file):
        os.unlink(port_file)
    args = [binary or tool("skyport-registry"), "--listen", "127.0.0.1:0", "--port-file", port_file, "--token-file", token,
            "--metrics-listen", "", "--log-level", "warn", *store_args, *extra]
    p = Proc(args, os.path.join(tmp, f"{name}.log"), nice)
    harness.wait_until(lambda: os.path.exists(port_file) and os.path.getsize(port_file) > 0 or not p.alive(), 15,
                       what=f"{name} port file")
    if not p.alive():
        raise SystemExit(f"{name} exited: {p.log()[-500:]}")
    with open(port_file) as f:
        return p, f"127.0.0.1:{int(f.read().split()[0])}"


def run_json(args, nice=0, timeout=600):
    """Runs a bench tool that prints one JSON line; its object (with "error" if it failed)."""
    r = subprocess.run(args, capture_output=True, text=True, timeout=timeout,
                       preexec_fn=(lambda: os.nice(nice)) if nice else None)
    for line in reversed(r.stdout.splitlines()):
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                break
    return {"error": f"exit {r.returncode}: {r.stderr.strip()[-400:]} {r.stdout.strip()[-200:]}"}


def write_jsonl(path, rows):
    """The raw runs, one JSON object a line (nothing without a path)."""
    if path:
        with open(path, "w") as f:
            for r in rows:
                f.write(json.dumps(r) + "\n")


def median(v):
    v = sorted(x for x in v if x is not None)
    if not v:
        return None
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def get(d, path):
    for k in path.split("."):
        if not isinstance(d, dict) or d.get(k) is None:
            return None
        d = d[k]
    return d


def git(work, *args):
    """git in the work tree `work` (its own HOME, a fixed author); stdout, or exits saying what failed."""
    e = {"HOME": work, "PATH": os.environ["PATH"], "GIT_TERMINAL_PROMPT": "0", "GIT_AUTHOR_NAME": "b",
         "GIT_AUTHOR_EMAIL": "b@example.com", "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@example.com"}
    r = subprocess.run(["git", *args], cwd=work, capture_output=True, text=True, env=e, timeout=60)
    if r.returncode != 0:
        raise SystemExit(f"git {' '.join(args)}: {r.stderr}")
    return r.stdout.strip()


def make_app(tmp):
    """A work tree under tmp with one commit of an app a drone can run (Python's http.server on $PORT);
    returns (work tree, full commit hash)."""
    work = os.path.join(tmp, "work")
    os.makedirs(work)
    git(work, "init", "-q", "-b", "master")
    with open(os.path.join(work, "Procfile"), "w") as f:
        f.write("web: exec python3 -m http.server $PORT --bind 127.0.0.1\n")
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "bench app")
    return work, git(work, "rev-parse", "HEAD")


def tmpdir(prefix):
    return tempfile.mkdtemp(prefix=prefix, dir=os.environ.get("TMPROOT", "/tmp"))
