"""The plumbing of the multi-host rigs (tests/cluster/test_netns_rig*.py): "machines"
that are network namespaces made by the test itself, as root.

Every machine has loopback up and one veth into a "switch" namespace holding the
bridge, so the host's own namespace gets no address, link or route: the only
host-side traces are the namespace names under /run/netns and an owner record
under /run/skyport-netns-rig/, and both go at teardown. The /24 is 10.213.X with X
derived from the pid and checked against the host's addresses and routes.
Namespaces are `skyrig<PID>-<machine>`, interfaces `skr<PID>br`, `skr<PID>s<K>`
(switch side), `skr<PID>m<K>` (machine side).

Cleanup (rig_case.RigTestCase.run_rig): a try/finally around the whole scenario (also
reached on Ctrl-C, SIGTERM, SIGHUP and the built-in watchdog, which fires before
ctest's TIMEOUT) kills every process in the rig's namespaces (by pid, checked to be
in the namespace through a pidfd), deletes the veths, the bridge and the
namespaces, and removes the owner record. A run killed outright (SIGKILL) leaves
them behind; the next run of either rig removes leftovers that carry the prefix and
whose recorded owner is dead (pid gone, or reused: start time differs).

Needs root (network namespaces); otherwise, or where namespaces cannot be made, a
rig says why and main() exits 77, which ctest reports as skipped (SKIP_RETURN_CODE).
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from harness import pid_alive, read_port_file  # noqa: E402

REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
CLIENT = os.path.join(HERE, "client.py")
SKIP_CODE = 77
NS_PREFIX = "skyrig"          # namespaces: skyrig<PID>-<machine>
IF_PREFIX = "skr"             # interfaces: skr<PID>br / skr<PID>s<K> / skr<PID>m<K> (<= 15 chars)
TMP_PREFIX = "skyport-rig-"
STATE_DIR = "/run/skyport-netns-rig"  # owner records: <PID>.json
NS_RE = re.compile(rf"^{NS_PREFIX}(\d+)-[a-z0-9]+$")
IF_RE = re.compile(rf"^{IF_PREFIX}(\d+)(br|[sm]\d+)$")


class Interrupted(BaseException):
    """SIGTERM / SIGHUP: unwind through the finally blocks like Ctrl-C does."""


def skip_reason():
    if os.geteuid() != 0:
        return ("the multi-host rig needs root to make network namespaces "
                "(CI runs it as root); run the test suite as root to include it")
    if shutil.which("ip") is None:
        return "the multi-host rig needs iproute2 (`ip`)"
    return None


def run(args, check=True, timeout=30, **kw):
    r = subprocess.run(args, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL, **kw)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(args)} exited {r.returncode}\nstdout: {r.stdout}\nstderr: {r.stderr}")
    return r


def start_time(pid):
    """The process's start time in clock ticks since boot (/proc/PID/stat field 22), or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().split(") ", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def ns_ident(ns):
    try:
        st = os.stat(f"/run/netns/{ns}")
        return st.st_dev, st.st_ino
    except OSError:
        return None


def pids_in_ns(ident):
    """Pids whose network namespace is `ident` (what `ip netns pids` does)."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            st = os.stat(f"/proc/{entry}/ns/net")
        except OSError:
            continue
        if (st.st_dev, st.st_ino) == ident:
            out.append(int(entry))
    return out


def kill_ns_processes(ns, timeout=15):
    """SIGKILLs every process in namespace `ns` until none is left. Each pid is
    pinned with a pidfd and checked to still be in the namespace before the
    signal, so a pid reused by an unrelated process is never hit."""
    ident = ns_ident(ns)
    if ident is None:
        return
    deadline = time.monotonic() + timeout
    while True:
        pids = pids_in_ns(ident)
        if not pids:
            return
        for pid in pids:
            try:
                fd = os.pidfd_open(pid)
            except OSError:
                continue
            try:
                st = os.stat(f"/proc/{pid}/ns/net")
                if (st.st_dev, st.st_ino) == ident:
                    signal.pidfd_send_signal(fd, signal.SIGKILL)
            except OSError:
                pass
            finally:
                os.close(fd)
        if time.monotonic() >= deadline:
            raise AssertionError(f"processes still in {ns} after {timeout}s: {pids}")
        time.sleep(0.02)


def owner_alive(pid):
    """True unless the run with this pid is known to be gone: its pid is dead, or
    its owner record names a start time the live pid does not have (pid reused)."""
    if not pid_alive(pid):
        return False
    try:
        with open(os.path.join(STATE_DIR, f"{pid}.json")) as f:
            rec = json.load(f)
    except (OSError, ValueError):
        return True  # no record to compare with: assume it is a live run and leave it alone
    return rec.get("start_time") is None or rec.get("start_time") == start_time(pid)


def clean_leftovers():
    """Removes what a crashed earlier run of this rig left: namespaces and root-namespace
    links with the rig's prefix, owner records and temp dirs, only where the owner is dead."""
    me = os.getpid()
    nss = {}
    for line in run(["ip", "netns", "list"], check=False).stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        m = NS_RE.match(name)
        if m:
            nss.setdefault(int(m.group(1)), []).append(name)
    links = {}
    for line in run(["ip", "-o", "link", "show"], check=False).stdout.splitlines():
        parts = line.split(":", 2)
        if len(parts) < 2:
            continue
        name = parts[1].strip().split("@")[0]
        m = IF_RE.match(name)
        if m:
            links.setdefault(int(m.group(1)), []).append(name)
    records = {}
    if os.path.isdir(STATE_DIR):
        for f in os.listdir(STATE_DIR):
            if f.endswith(".json") and f[:-5].isdigit():
                records[int(f[:-5])] = os.path.join(STATE_DIR, f)
    cleaned = []
    for pid in sorted(set(nss) | set(links) | set(records)):
        if pid == me or owner_alive(pid):
            continue
        tmp = None
        try:
            with open(records[pid]) as f:
                tmp = json.load(f).get("tmp")
        except (KeyError, OSError, ValueError):
            pass
        for ns in nss.get(pid, []):
            kill_ns_processes(ns)
        for link in links.get(pid, []):
            run(["ip", "link", "del", link], check=False)
        for ns in nss.get(pid, []):
            run(["ip", "netns", "del", ns], check=False)
        if tmp and os.path.basename(tmp).startswith(TMP_PREFIX) and \
                os.path.dirname(os.path.abspath(tmp)) == os.path.abspath(tempfile.gettempdir()):
            shutil.rmtree(tmp, ignore_errors=True)
        if pid in records:
            os.unlink(records[pid])
        cleaned.append(pid)
    if cleaned:
        print(f"cluster rig: removed leftovers of dead runs {cleaned}", file=sys.stderr)


def pick_subnet(pid):
    """10.213.X.0/24 with X from the pid, skipping any X the host already uses."""
    used = run(["ip", "-o", "addr"], check=False).stdout + run(["ip", "route"], check=False).stdout
    for k in range(254):
        x = (pid + k) % 254 + 1
        if f"10.213.{x}." not in used:
            return f"10.213.{x}"
    raise AssertionError("no free 10.213.X.0/24 on this host")


class CannotMakeNamespaces(Exception):
    pass


class Rig:
    """The namespaces, links and processes of one run; teardown() undoes all of it.
    `machines` maps each machine's name (lower-case letters and digits) to the last
    byte of its address in the rig's /24 (at most 10 machines: interface names stay
    within 15 characters); `cluster_env` is what every command and daemon the rig
    starts gets on top of the test's own environment (its SKYPORT_* removed)."""

    def __init__(self, machines):
        if not 0 < len(machines) <= 10 or not all(re.fullmatch(r"[a-z0-9]+", m) for m in machines):
            raise ValueError(f"rig machines: 1 to 10 names of lower-case letters and digits: {list(machines)}")
        self.machines = dict(machines)
        self.cluster_env = {}  # e.g. SKYPORT_HUB and SKYPORT_REGISTRY, set by the scenario
        self.pid = os.getpid()
        self.tmp = tempfile.mkdtemp(prefix=TMP_PREFIX)
        self.subnet = pick_subnet(self.pid)
        self.switch = f"{NS_PREFIX}{self.pid}-sw"
        self.ns = {m: f"{NS_PREFIX}{self.pid}-{m}" for m in self.machines}
        self.ip = {m: f"{self.subnet}.{n}" for m, n in self.machines.items()}
        self.bridge = f"{IF_PREFIX}{self.pid}br"
        self.veth = {m: (f"{IF_PREFIX}{self.pid}s{k}", f"{IF_PREFIX}{self.pid}m{k}")
                     for k, m in enumerate(self.machines)}
        self.namespaces = []  # created (in order)
        self.links = []       # (namespace, name) of created veths and the bridge, deleted first
        self.procs = []       # (machine, Popen) of everything started with `ip netns exec`
        self.torn_down = False
        self.tearing_down = False
        self.record = os.path.join(STATE_DIR, f"{self.pid}.json")
        self.token_file = os.path.join(self.tmp, "token")
        with open(self.token_file, "w") as f:
            f.write(os.urandom(16).hex() + "\n")
        os.chmod(self.token_file, 0o600)
        with open(self.token_file) as f:
            self.token = f.read().strip()

    # -------------------------------------------------------------- network

    def _write_record(self):
        os.makedirs(STATE_DIR, mode=0o700, exist_ok=True)
        tmp = self.record + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"pid": self.pid, "start_time": start_time(self.pid), "tmp": self.tmp,
                       "namespaces": self.namespaces, "links": self.links}, f)
        os.replace(tmp, self.record)

    def _add_ns(self, ns):
        self.namespaces.append(ns)  # recorded first: teardown tolerates what was never made
        self._write_record()
        r = run(["ip", "netns", "add", ns], check=False)
        if r.returncode != 0:
            if "permitted" in r.stderr or "denied" in r.stderr:
                raise CannotMakeNamespaces(r.stderr.strip())
            raise AssertionError(f"ip netns add {ns}: {r.stderr}")
        run(["ip", "-n", ns, "link", "set", "lo", "up"])

    def create(self):
        self._add_ns(self.switch)
        self.links.append((self.switch, self.bridge))
        self._write_record()
        run(["ip", "-n", self.switch, "link", "add", self.bridge, "type", "bridge"])
        run(["ip", "-n", self.switch, "link", "set", self.bridge, "up"])
        for m in self.machines:
            ns = self.ns[m]
            sw_end, m_end = self.veth[m]
            self._add_ns(ns)
            self.links.insert(0, (self.switch, sw_end))  # deleting one end deletes the pair
            self._write_record()
            run(["ip", "-n", self.switch, "link", "add", sw_end, "type", "veth", "peer", "name", m_end, "netns", ns])
            run(["ip", "-n", self.switch, "link", "set", sw_end, "master", self.bridge, "up"])
            run(["ip", "-n", ns, "addr", "add", f"{self.ip[m]}/24", "dev", m_end])
            run(["ip", "-n", ns, "link", "set", m_end, "up"])

    def unplug(self, machine):
        """Takes a machine off the network: deletes its veth pair."""
        link = (self.switch, self.veth[machine][0])
        run(["ip", "-n", self.switch, "link", "del", link[1]])
        self.links.remove(link)
        self._write_record()

    # ------------------------------------------------------------ processes

    def env(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("SKYPORT_")}
        env.update(HOME=self.tmp, SKYPORT_TOKEN_FILE=self.token_file, GIT_TERMINAL_PROMPT="0")
        env.update(self.cluster_env)
        return env

    def spawn(self, machine, name, args, **kw):
        """Starts a long-running process on `machine`, logging to TMP/NAME.log; in its own
        session, so a Ctrl-C reaches only the test, which then stops it."""
        log = open(os.path.join(self.tmp, f"{name}.log"), "a")
        kw.setdefault("stdin", subprocess.DEVNULL)
        p = subprocess.Popen(["ip", "netns", "exec", self.ns[machine], *args], stdout=log, stderr=subprocess.STDOUT,
                             env=self.env(), start_new_session=True, **kw)
        log.close()
        self.procs.append((machine, p))
        return p

    def exec(self, machine, args, check=True, timeout=30, **kw):
        """Runs a command to completion on `machine`."""
        kw.setdefault("env", self.env())
        return run(["ip", "netns", "exec", self.ns[machine], *args], check=check, timeout=timeout, **kw)

    def kill_machine(self, machine):
        """kill -9 of every process on the machine (the daemons the test started and the
        apps they started), then reaps the ones the test started."""
        kill_ns_processes(self.ns[machine])
        for m, p in self.procs:
            if m == machine:
                p.wait(timeout=10)

    def wait_port_file(self, path, proc, what, timeout=20):
        try:
            read_port_file(path, proc, what, timeout)
        except AssertionError as e:
            raise AssertionError(f"{e}:\n{self.log(what)}") from None

    def log(self, name):
        try:
            with open(os.path.join(self.tmp, f"{name}.log")) as f:
                return f.read()
        except OSError:
            return ""

    def dump_logs(self):
        for f in sorted(os.listdir(self.tmp)):
            if f.endswith(".log"):
                text = self.log(f[:-4])
                print(f"----- {f} (last 40 lines)\n" + "\n".join(text.splitlines()[-40:]), file=sys.stderr)

    # ------------------------------------------------------------- teardown

    def teardown(self, keep_logs_on_failure=False):
        if self.torn_down:
            return
        self.tearing_down = True
        errors = []
        for ns in self.namespaces:
            try:
                kill_ns_processes(ns)
            except Exception as e:  # noqa: BLE001 - keep tearing down, report at the end
                errors.append(repr(e))
        for _, p in self.procs:
            try:
                if p.poll() is None:
                    p.kill()  # `ip netns exec` that never got to exec (the kill above got the rest)
                p.wait(timeout=10)
            except Exception as e:  # noqa: BLE001
                errors.append(repr(e))
        for ns, link in list(self.links):
            if ns_ident(ns) is not None:
                r = run(["ip", "-n", ns, "link", "del", link], check=False)
                if r.returncode != 0 and "Cannot find device" not in r.stderr:
                    errors.append(f"ip -n {ns} link del {link}: {r.stderr.strip()}")
        for ns in reversed(self.namespaces):
            if ns_ident(ns) is not None:
                r = run(["ip", "netns", "del", ns], check=False)
                if r.returncode != 0:
                    errors.append(f"ip netns del {ns}: {r.stderr.strip()}")
        left = [line for line in run(["ip", "netns", "list"], check=False).stdout.splitlines()
                if line.startswith(f"{NS_PREFIX}{self.pid}-")]
        if left:
            errors.append(f"namespaces left: {left}")
        if not errors:
            try:
                os.unlink(self.record)
            except FileNotFoundError:
                pass
            shutil.rmtree(self.tmp, ignore_errors=True)
        self.torn_down = True
        if errors:
            raise AssertionError("cluster rig teardown: " + "; ".join(errors) + f" (logs in {self.tmp})")
