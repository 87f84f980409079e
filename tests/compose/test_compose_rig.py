"""The docker-compose rig, for real: images built, the cluster run in containers, seed 003 checked.

1. Base image: scripts/debian-base-image.sh (debootstrap bookworm from the archive apt uses,
   cached in /var/cache/skyport-docker; cold about 2-3 min, then instant).
2. A Docker engine of this run's own in a network namespace (docker_netns.py).
3. skyport:local from the binaries this build made (scripts/prebuilt-image-context.sh +
   docker/Dockerfile.prebuilt; the from-source docker/Dockerfile is documented and was run once:
   docs/operations.md). Checked: the cluster token is in no layer, no history line, no config;
   the size of each layer is printed.
4. `docker-compose up -d` (Debian's v1) with docker-compose.yml and an override that only points
   the secret at this run's token; every daemon healthy (polled, with a deadline); the daemons
   other than the drones run as a non-root user; the router answers on its published port inside
   the namespace, and the compose network's addresses are nowhere in the host's namespace.
5. docker/scenario.sh: push from the client container, deploy two commits to three drones,
   `registry show` with each drone's own address, a split through the router, stickiness, then
   `docker kill` of drone-3 under a load loop: its entries leave within the lease TTL and the
   load loop sees no failed request; drone-3 started again gets both commits back.
6. `docker-compose down -v`: no container, volume or network left; then the engine, the
   namespace and the temp dir go (also on failure, Ctrl-C, SIGTERM, SIGHUP and the watchdog).

Skips with exit 77 (ctest: SKIP_RETURN_CODE) and the reason when not root, when a tool is
missing, when dockerd cannot start, or when debootstrap cannot reach the archive.
Timings of every step are printed at the end.
"""
import json
import os
import re
import signal
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
import docker_netns  # noqa: E402
from docker_netns import DockerInNetns, Unavailable, run, skip_reason  # noqa: E402

SKIP_CODE = 77
WATCHDOG_S = 840  # before ctest's TIMEOUT (tests/CMakeLists.txt: 900)
BIN = os.path.abspath(os.environ.get("SKYPORT_BIN", os.path.join(REPO, "build")))
PROGRAMS = ("registry/skyport-registry", "hub/skyport-hub", "drone/skyport-drone", "router/skyport-router",
            "cli/skyport")
DAEMONS = ("registry", "hub", "router", "drone-1", "drone-2", "drone-3")
NON_ROOT = {"registry": "skyport-registry", "hub": "skyport-hub", "router": "skyport-router"}
# A regression guard, not the goal: the debootstrapped base (Debian essentials + python3 + git) is
# ~93 MB before our 36 MB of binaries and libraries (129 MB in all on 2026-12-07).
MAX_IMAGE_MB = 140


class Interrupted(BaseException):
    """SIGTERM, SIGHUP or the watchdog: unwinds through the finally blocks like Ctrl-C."""


def _raise(signum, _frame):
    raise Interrupted(f"signal {signum}" if signum != signal.SIGALRM else f"watchdog: {WATCHDOG_S}s")


class ComposeRigTest(unittest.TestCase):
    def setUp(self):
        why = skip_reason()
        if why:
            self.skipTest(why)
        missing = [p for p in PROGRAMS if not os.access(os.path.join(BIN, p), os.X_OK)]
        if missing:
            self.skipTest(f"not built in SKYPORT_BIN={BIN}: {', '.join(missing)}")
        self.timings = []
        self.project = f"skyc{os.getpid()}"

    def step(self, what):
        self.timings.append((what, time.monotonic()))
        print(f"[{time.strftime('%H:%M:%S')}] {what}", flush=True)

    def report_timings(self):
        ends = [t for _, t in self.timings[1:]] + [time.monotonic()]
        total = ends[-1] - self.timings[0][1] if self.timings else 0
        print("timings: " + "; ".join(f"{w} {e - t:.1f}s" for (w, t), e in zip(self.timings, ends))
              + f"; total {total:.1f}s", flush=True)

    def test_rig(self):
        for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGALRM):
            signal.signal(s, _raise)
        signal.alarm(WATCHDOG_S)
        engine = DockerInNetns()
        self.engine = engine
        try:
            self.step("base image (debootstrap once, then cached)")
            r = run([os.path.join(REPO, "scripts", "debian-base-image.sh")], check=False, timeout=1200)
            if r.returncode in (3, 4):
                self.skipTest(f"no Debian base image: {r.stderr.strip().splitlines()[-1]}")
            self.assertEqual(r.returncode, 0, r.stderr)
            base_tar = r.stdout.split()[1]  # the runtime one
            self.step("dockerd in a network namespace")
            try:
                engine.start()
            except Unavailable as e:
                self.skipTest(f"dockerd cannot run here: {e}")
            self.rig(engine, base_tar)
        finally:
            signal.alarm(0)
            self.step("teardown")
            try:
                self.teardown_compose(engine)
            finally:
                engine.stop()
                self.report_timings()

    # ------------------------------------------------------------ the rig

    def rig(self, engine, base_tar):
        tmp = engine.tmp
        token_file = os.path.join(tmp, "token")
        with open(os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
            token = os.urandom(16).hex()
            f.write(token)
        self.token = token
        override = os.path.join(tmp, "compose.override.yml")
        with open(override, "w") as f:
            f.write(f'version: "3.8"\nsecrets:\n  skyport_token:\n    file: {token_file}\n')
        self.compose_env = engine.env(COMPOSE_FILE=f"{os.path.join(REPO, 'docker-compose.yml')}:{override}",
                                      COMPOSE_PROJECT_NAME=self.project, COMPOSE="docker-compose")

        self.step("import the base image")
        run([os.path.join(REPO, "scripts", "debian-base-image.sh"), "--import-runtime"], env=engine.env(),
            timeout=300)

        self.step("build skyport:local from the built binaries")
        ctx = os.path.join(tmp, "ctx")
        run([os.path.join(REPO, "scripts", "prebuilt-image-context.sh"), BIN, ctx, base_tar], timeout=300)
        engine.docker("build", "-q", "-f", os.path.join(ctx, "docker", "Dockerfile.prebuilt"),
                      "--build-arg", "BASE=skyport-debian:12-runtime", "-t", "skyport:local", ctx, timeout=600)
        self.check_image(engine)

        self.step("docker-compose up -d, wait for health")
        self.compose("up", "-d", "--no-build", timeout=300)
        self.wait_healthy(engine)
        self.check_users(engine)
        self.check_network(engine)

        self.step("docker/scenario.sh")
        log = os.path.join(tmp, "scenario.log")
        with open(log, "w") as out:
            p = subprocess.run(["bash", os.path.join(REPO, "docker", "scenario.sh")], stdout=out,
                               stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=self.compose_env, timeout=600)
        with open(log) as f:
            text = f.read()
        if p.returncode != 0:
            self.fail(f"docker/scenario.sh exited {p.returncode}:\n{text[-6000:]}\n--- compose logs (tail)\n"
                      f"{self.compose('logs', '--no-color', '--tail=15', check=False).stdout[-6000:]}")
        print("\n".join(line for line in text.splitlines() if line.startswith(("==", "scenario:"))), flush=True)
        self.assertIn("load loop: ", text)
        self.assertRegex(text, r"load loop: \d+ ok, 0 failed")
        self.assertIn("scenario: all steps passed", text)

    def compose(self, *args, check=True, timeout=120):
        r = subprocess.run(["docker-compose", *args], capture_output=True, text=True, cwd=REPO,
                           env=self.compose_env, timeout=timeout, stdin=subprocess.DEVNULL)
        if check and r.returncode != 0:
            raise AssertionError(f"docker-compose {' '.join(args)} exited {r.returncode}:\n{r.stderr[-3000:]}")
        return r

    def container(self, service):
        cid = self.compose("ps", "-q", service).stdout.strip()
        self.assertTrue(cid, f"no container for {service}")
        return cid

    # ------------------------------------------------------------ checks

    def check_image(self, engine):
        """The token is in no layer, no history line and no config; per-layer sizes are printed."""
        hist = engine.docker("history", "--no-trunc", "--format", "{{.Size}}\t{{.CreatedBy}}", "skyport:local").stdout
        print("docker history skyport:local (size, created by):")
        for line in hist.splitlines():
            size, created = line.split("\t", 1)
            print(f"  {size:>9}  {created[:110]}")
        size_mb = int(engine.docker("image", "inspect", "--format", "{{.Size}}", "skyport:local").stdout) / 1e6
        print(f"skyport:local: {size_mb:.1f} MB", flush=True)
        self.assertLessEqual(size_mb, MAX_IMAGE_MB)
        inspect = engine.docker("image", "inspect", "skyport:local").stdout
        self.assertNotIn(self.token, hist + inspect, "the token in the image's history or config")
        # Every file of the image (one flattened file system), searched for the token's bytes.
        cid = engine.docker("create", "skyport:local").stdout.strip()
        try:
            exp = subprocess.Popen(["docker", "export", cid], stdout=subprocess.PIPE, env=engine.env())
            found, total, tail, needle = False, 0, b"", self.token.encode()
            while chunk := exp.stdout.read(1 << 20):
                total += len(chunk)
                found = found or needle in tail + chunk
                tail = chunk[-len(needle):]
            exp.stdout.close()
            self.assertEqual(exp.wait(60), 0)
        finally:
            engine.docker("rm", "-f", cid, check=False)
        self.assertGreater(total, 10_000_000, "docker export gave (almost) nothing")
        self.assertFalse(found, "the token's value is in the image's file system")

    def wait_healthy(self, engine, timeout=120):
        ids = {s: self.container(s) for s in DAEMONS}
        deadline = time.monotonic() + timeout
        while True:
            states = {}
            for s, cid in ids.items():
                st = json.loads(engine.docker("inspect", "--format", "{{json .State}}", cid).stdout)
                states[s] = st.get("Health", {}).get("Status") if st.get("Running") else f"exited {st.get('ExitCode')}"
            if all(v == "healthy" for v in states.values()):
                print(f"healthy: {', '.join(ids)}", flush=True)
                return
            bad = {s: v for s, v in states.items() if v not in ("healthy", "starting")}
            if bad or time.monotonic() > deadline:
                logs = self.compose("logs", "--no-color", "--tail=20", check=False).stdout
                self.fail(f"not healthy ({'bad' if bad else f'after {timeout}s'}): {states}\n{logs[-6000:]}")
            time.sleep(0.5)

    def check_users(self, engine):
        """registry, hub and router run as the image's `skyport` user; the drone as root by design
        (it runs each app as a uid of its own: docs/security.md)."""
        script = ('for p in /proc/[0-9]*; do [ "$(cat $p/comm 2>/dev/null)" = "$1" ] && '
                  'awk \'/^Uid:/ { print $2 }\' $p/status; done; id -u skyport')
        for service, comm in NON_ROOT.items():
            # (comm is the program's name cut to 15 bytes)
            out = engine.docker("exec", self.container(service), "sh", "-c", script, "sh", comm[:15]).stdout.split()
            self.assertEqual(len(out), 2, f"{service}: {comm} not found once: {out}")
            self.assertNotEqual(out[0], "0", f"{service} runs as root")
            self.assertEqual(out[0], out[1], f"{service} runs as uid {out[0]}, not skyport's")

    def check_network(self, engine):
        """The router's published port answers inside the namespace; the compose network's subnet
        is nowhere in the host's own namespace."""
        r = run(engine.in_ns(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5",
                              "http://127.0.0.1:8080/_skyport/healthz"]), check=False)
        self.assertNotEqual(r.stdout, "000", f"the router's published port inside the namespace: {r.stderr}")
        net = engine.docker("network", "inspect", "--format", "{{range .IPAM.Config}}{{.Subnet}} {{end}}",
                            f"{self.project}_skyport").stdout.split()
        self.assertTrue(net)
        host = run(["ip", "-o", "addr"]).stdout + run(["ip", "route"]).stdout
        for subnet in net:
            prefix = ".".join(subnet.split(".")[:3]) + "."
            self.assertNotIn(prefix, host, f"the compose network {subnet} shows in the host's namespace")

    def teardown_compose(self, engine):
        if engine.dockerd is None or engine.dockerd.poll() is not None or not hasattr(self, "compose_env"):
            return
        self.compose("down", "-v", "--timeout", "10", timeout=180)
        left = {what: engine.docker(*args, check=False).stdout.split() for what, args in (
            ("containers", ("ps", "-aq")), ("volumes", ("volume", "ls", "-q")),
            ("networks", ("network", "ls", "--format", "{{.Name}}")))}
        left["networks"] = [n for n in left["networks"] if n not in ("bridge", "host", "none")]
        self.assertEqual({k: v for k, v in left.items() if v}, {}, "left behind by docker-compose down -v")


class CleanupTest(unittest.TestCase):
    """Attacks on the plumbing: an engine with a running container whose owner gets SIGTERM
    (it cleans up itself) or SIGKILL (the next run's remove_leftovers does)."""

    def setUp(self):
        why = skip_reason()
        if why:
            self.skipTest(why)
        r = run([os.path.join(REPO, "scripts", "debian-base-image.sh")], check=False, timeout=1200)
        if r.returncode in (3, 4):
            self.skipTest(f"no Debian base image: {r.stderr.strip().splitlines()[-1]}")
        self.base_tar = r.stdout.split()[1]

    def hold(self):
        p = subprocess.Popen([sys.executable, os.path.join(HERE, "docker_netns.py"), "hold", self.base_tar],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)

        def reap():
            if p.poll() is None:
                p.kill()
                p.wait()
            p.stdout.close()
            p.stderr.close()
        self.addCleanup(reap)
        line = p.stdout.readline().split()
        if not line:
            self.fail(f"holder exited {p.wait()}: {p.stderr.read()[-2000:]}")
        self.assertEqual(line[0], "ready")
        ns, tmp = line[1], line[2]
        shims = self.shims(ns)
        self.assertTrue(shims, "no container shim of the held engine")
        return p, ns, tmp

    @staticmethod
    def shims(ns):
        return [pid for pid, (_, cmd) in docker_netns._processes().items()
                if "containerd-shim" in cmd and f"-namespace {ns} " in cmd + " "]

    def assert_gone(self, ns, tmp):
        self.assertFalse(os.path.exists(f"/var/run/netns/{ns}"), f"namespace {ns} left")
        self.assertFalse(os.path.exists(tmp), f"{tmp} left")
        self.assertEqual(self.shims(ns), [], "container shims left")
        with open("/proc/self/mounts") as f:
            self.assertNotIn(tmp, f.read(), "mounts left under the temp dir")

    def test_sigterm_cleans_up(self):
        p, ns, tmp = self.hold()
        p.terminate()
        self.assertEqual(p.wait(60), 128 + signal.SIGTERM, p.stderr.read()[-2000:])
        self.assert_gone(ns, tmp)

    def test_sigkill_leftovers_go_with_the_next_run(self):
        p, ns, tmp = self.hold()
        p.kill()
        p.wait(10)
        self.assertTrue(os.path.exists(f"/var/run/netns/{ns}"), "nothing left to clean: the attack did not bite")
        self.assertTrue(self.shims(ns))
        docker_netns.remove_leftovers()
        self.assert_gone(ns, tmp)
        self.assertFalse(os.path.exists(os.path.join(docker_netns.STATE_DIR, f"{p.pid}.json")))


def main():
    prog = unittest.main(exit=False, verbosity=2)
    res = prog.result
    if res.wasSuccessful() and res.skipped and len(res.skipped) >= res.testsRun:
        print(f"SKIPPED: {res.skipped[0][1]}", file=sys.stderr)
        sys.exit(SKIP_CODE)
    sys.exit(0 if res.wasSuccessful() else 1)


if __name__ == "__main__":
    main()
