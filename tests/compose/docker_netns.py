"""A Docker engine of the test's own, inside a network namespace the test makes
(tests/compose/test_compose_rig.py). Build notes §10.

    ip netns add skycompose<PID>
    nsenter --net=/var/run/netns/skycompose<PID> dockerd --data-root TMP/root -H unix://TMP/docker.sock
        --exec-root TMP/exec --pidfile TMP/docker.pid --containerd-namespace skycompose<PID> ...

`ip netns exec` does not work for dockerd (it remounts /sys: "Devices cgroup isn't mounted").
The bridge, the iptables rules and every container address exist only in the namespace; the
CLI talks to the engine over its unix socket (DOCKER_HOST), and container addresses are reached
with `nsenter --net=...` only. The containerd namespace is the run's own, so a system containerd
(if dockerd finds one) never mixes two runs' containers.

Teardown (DockerInNetns.stop, also reached on SIGINT/SIGTERM/SIGHUP through the caller's
finally): SIGTERM to dockerd by its pid and a wait, then SIGKILL to whatever of the run is
left, found by pid: dockerd's descendants, the container shims that carry the run's containerd
namespace and theirs; then the mounts under the run's temp dir, the temp dir, the namespace
and the owner record. A run killed outright (SIGKILL) leaves them behind: the next run removes
leftovers whose owner (pid + start time in /run/skyport-compose-rig/PID.json) is gone.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

NS_PREFIX = "skycompose"
STATE_DIR = "/run/skyport-compose-rig"
TMP_PREFIX = "skyport-compose-"


class Unavailable(Exception):
    """The engine cannot run here (the test turns it into a skip, exit 77)."""


def run(args, check=True, timeout=60, **kw):
    r = subprocess.run(args, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL, **kw)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(args)} exited {r.returncode}\nstdout: {r.stdout[-3000:]}\n"
                             f"stderr: {r.stderr[-3000:]}")
    return r


def start_time(pid):
    """Start time of pid in clock ticks since boot (/proc/PID/stat field 22), or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().split(") ", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def _processes():
    """{pid: (ppid, cmdline)} of every process."""
    out = {}
    for e in os.listdir("/proc"):
        if not e.isdigit():
            continue
        try:
            with open(f"/proc/{e}/stat") as f:
                ppid = int(f.read().split(") ", 1)[1].split()[1])
            with open(f"/proc/{e}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode("utf-8", "replace")
        except (OSError, ValueError, IndexError):
            continue
        out[int(e)] = (ppid, cmd)
    return out


def _run_processes(roots, namespace):
    """Pids of the run: `roots` (pid, start time) that are still those processes, every shim
    whose command line names containerd namespace `namespace`, and all their descendants."""
    procs = _processes()
    mine = {p for p, st in roots if p in procs and start_time(p) == st}
    mine |= {p for p, (_, cmd) in procs.items() if "containerd-shim" in cmd and f"-namespace {namespace} " in cmd + " "}
    todo = list(mine)
    children = {}
    for p, (pp, _) in procs.items():
        children.setdefault(pp, []).append(p)
    while todo:
        for c in children.get(todo.pop(), []):
            if c not in mine:
                mine.add(c)
                todo.append(c)
    return mine


def _kill_all(pids):
    for p in pids:
        try:
            fd = os.pidfd_open(p)
        except OSError:
            continue
        try:
            signal.pidfd_send_signal(fd, signal.SIGKILL)
        except OSError:
            pass
        finally:
            os.close(fd)


def _unmount_under(path):
    """Lazily unmounts every mount point below `path` (overlays and shm of a killed engine)."""
    with open("/proc/self/mounts") as f:
        points = [line.split()[1].replace("\\040", " ") for line in f]
    for m in sorted((m for m in points if m.startswith(path.rstrip("/") + "/")), key=len, reverse=True):
        subprocess.run(["umount", "-l", m], capture_output=True, timeout=30)


def skip_reason():
    if os.geteuid() != 0:
        return "the compose rig needs root (network namespace, dockerd); run the suite as root to include it"
    for tool, pkg in (("dockerd", "docker.io"), ("docker", "docker.io"), ("docker-compose", "docker-compose"),
                      ("debootstrap", "debootstrap"), ("ip", "iproute2"), ("nsenter", "util-linux")):
        if shutil.which(tool) is None:
            return f"the compose rig needs {tool} (Debian package {pkg}; scripts/setup.sh installs it)"
    return None


class DockerInNetns:
    def __init__(self):
        self.pid = os.getpid()
        self.ns = f"{NS_PREFIX}{self.pid}"
        self.netns_path = f"/var/run/netns/{self.ns}"
        self.tmp = None
        self.dockerd = None
        self.roots = []  # (pid, start time) of what we started

    @property
    def host(self):
        return f"unix://{self.tmp}/docker.sock"

    def env(self, **extra):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKER_", "COMPOSE_"))}
        env.update(DOCKER_HOST=self.host, **extra)
        return env

    def docker(self, *args, check=True, timeout=120, **kw):
        return run(["docker", *args], check=check, timeout=timeout, env=self.env(), **kw)

    def in_ns(self, args):
        """args run in the namespace (nsenter, not `ip netns exec`)."""
        return ["nsenter", f"--net={self.netns_path}", *args]

    def _record(self):
        os.makedirs(STATE_DIR, exist_ok=True)
        rec = {"pid": self.pid, "start_time": start_time(self.pid), "ns": self.ns, "tmp": self.tmp,
               "roots": self.roots}
        with open(os.path.join(STATE_DIR, f"{self.pid}.json.new"), "w") as f:
            json.dump(rec, f)
        os.replace(os.path.join(STATE_DIR, f"{self.pid}.json.new"), os.path.join(STATE_DIR, f"{self.pid}.json"))

    def start(self, timeout=60):
        remove_leftovers()
        self.tmp = tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{self.pid}-")
        os.chmod(self.tmp, 0o755)  # containers' non-root users read the bind-mounted sources below
        self._record()
        r = run(["ip", "netns", "add", self.ns], check=False)
        if r.returncode != 0:
            raise Unavailable(f"cannot make a network namespace: {r.stderr.strip()}")
        run(["ip", "-n", self.ns, "link", "set", "lo", "up"])
        log = open(os.path.join(self.tmp, "dockerd.log"), "w")
        self.dockerd = subprocess.Popen(
            self.in_ns(["dockerd", "--data-root", f"{self.tmp}/root", "-H", self.host, "--exec-root",
                        f"{self.tmp}/exec", "--pidfile", f"{self.tmp}/docker.pid",
                        "--containerd-namespace", self.ns, "--containerd-plugins-namespace", f"{self.ns}-plugins"]),
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        self.roots.append((self.dockerd.pid, start_time(self.dockerd.pid)))
        self._record()
        deadline = time.monotonic() + timeout
        while True:
            if self.dockerd.poll() is not None:
                raise Unavailable(f"dockerd exited with {self.dockerd.returncode}:\n{self.log_tail()}")
            if self.docker("version", "--format", "{{.Server.Version}}", check=False, timeout=10).returncode == 0:
                return self
            if time.monotonic() > deadline:
                raise Unavailable(f"dockerd did not answer within {timeout}s:\n{self.log_tail()}")
            time.sleep(0.2)

    def log_tail(self, n=20):
        try:
            with open(os.path.join(self.tmp, "dockerd.log")) as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def stop(self, timeout=30):
        """Stops the engine and removes the namespace and the temp dir. Containers are expected to
        be gone already (docker-compose down -v); whatever is left is killed by pid."""
        if self.dockerd is not None and self.dockerd.poll() is None:
            self.dockerd.terminate()
            try:
                self.dockerd.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        _cleanup(self.roots, self.ns, self.tmp)
        if self.dockerd is not None and self.dockerd.poll() is None:
            self.dockerd.wait(10)
        try:
            os.unlink(os.path.join(STATE_DIR, f"{self.pid}.json"))
        except OSError:
            pass


def _cleanup(roots, ns, tmp):
    deadline = time.monotonic() + 20
    while True:
        pids = _run_processes(roots, ns)
        if not pids:
            break
        _kill_all(pids)
        if time.monotonic() > deadline:
            raise AssertionError(f"processes of {ns} still alive after 20s: {sorted(pids)}")
        time.sleep(0.05)
    if os.path.exists(f"/var/run/netns/{ns}"):
        run(["ip", "netns", "del", ns], check=False)
    if tmp and os.path.isdir(tmp):
        _unmount_under(tmp)
        shutil.rmtree(tmp, ignore_errors=True)


def remove_leftovers():
    """Removes what runs killed outright left: their owner record names a pid that is gone
    (or reused: another start time). A live run's things are left alone."""
    try:
        names = os.listdir(STATE_DIR)
    except OSError:
        return
    for name in names:
        if not name.endswith(".json"):
            continue
        path = os.path.join(STATE_DIR, name)
        try:
            with open(path) as f:
                rec = json.load(f)
        except (OSError, ValueError):
            continue
        if start_time(rec["pid"]) == rec.get("start_time"):
            continue  # alive
        tmp = rec.get("tmp") or ""
        if not (os.path.basename(tmp).startswith(TMP_PREFIX) and rec.get("ns", "").startswith(NS_PREFIX)):
            continue  # not a record of ours
        _cleanup([tuple(r) for r in rec.get("roots", [])], rec["ns"], tmp)
        os.unlink(path)


def _hold(base_tar):
    """`python3 docker_netns.py hold BASE_TAR` (test_compose_rig.py's attacks): an engine with one
    running container, "ready NS TMP" on stdout, then waits for a signal; SIGTERM cleans up."""
    def stop(signum, _frame):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, stop)
    engine = DockerInNetns()
    try:
        engine.start()
        engine.docker("import", base_tar, "skyport-hold:1")
        engine.docker("run", "-d", "--name", "held", "skyport-hold:1", "sleep", "600")
        print(f"ready {engine.ns} {engine.tmp}", flush=True)
        signal.pause()
    finally:
        engine.stop()


if __name__ == "__main__":
    if sys.argv[1:2] == ["hold"] and len(sys.argv) == 3:
        _hold(sys.argv[2])
    else:
        sys.exit("usage: docker_netns.py hold BASE_ROOTFS_TAR")
