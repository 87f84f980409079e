"""Apps cannot hurt the cluster (issue 13, drone side): each case deploys a
small misbehaving app from the test's own repository.

- an app reads its environment: no cluster token, nothing of the drone's
  but what the operator passes by name;
- with --app-user (as root) the app cannot read the token file, and the
  drone refuses a token file the app user could read;
- Procfile / skyport.json that are symlinks (to /etc/passwd, /dev/zero) or
  too big fail the deploy cleanly, without host content in the error;
- a double-forked setsid daemon dies with `skyport stop` and with a drone
  restart (cgroup per instance, and the /proc fallback with --cgroups off);
- rlimits from skyport.json and the lower priority are in effect.
"""
import json
import os
import re
import pwd
import resource
import signal
import subprocess
import unittest
import urllib.request

from harness import DeployTest, Drone, pid_alive, wait_until, http_app

ENV_APP = http_app(r'''import http.server, os
env = open("/proc/self/environ", "rb").read()
print("ENVIRON " + env.replace(b"\0", b" ").decode(errors="replace"), flush=True)

def token_file():
    try:
        open(os.environ["TOKEN_PATH"]).read()
        return "readable"
    except PermissionError:
        return "denied"
    except OSError as e:
        return "error " + type(e).__name__
''',
                   body='''{"/env": lambda: env, "/token": lambda: token_file().encode(),
             "/uid": lambda: str(os.getuid()).encode()}[self.path]()''')

# Daemonizes the classic way (fork, setsid, fork); the daemon beats into
# BEAT_FILE and writes its pid beside it; the app itself serves on PORT.
DAEMON_APP = http_app(r'''import http.server, os, time
beat = os.environ["BEAT_FILE"]
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        with open(beat + ".pid.tmp", "w") as f:
            f.write(str(os.getpid()))
        os.replace(beat + ".pid.tmp", beat + ".pid")
        n = 0
        while True:
            n += 1
            with open(beat + ".tmp", "w") as f:
                f.write(str(n))
            os.replace(beat + ".tmp", beat)
            time.sleep(0.05)
    os._exit(0)
os.wait()
''')

# Opens files until it cannot; reports the count, its rlimit and nice value.
LIMITS_APP = http_app(r'''import http.server, json, os, resource
held = []
try:
    while len(held) < 100000:
        held.append(open("/dev/null"))
except OSError as e:
    err = e.errno
n = len(held)
for f in held:
    f.close()
report = json.dumps({"opened": n, "errno": err, "nofile": resource.getrlimit(resource.RLIMIT_NOFILE),
                     "nice": os.getpriority(os.PRIO_PROCESS, 0)}).encode()
''', body='report')


def get(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
        return r.read()


def drone_metric(drone, name):
    """A counter of the drone's /metrics (it was started with --metrics-listen 127.0.0.1:0)."""
    port = int(re.findall(r"metrics_port=(\d+)", drone.log())[-1])
    for line in get(port, "/metrics").decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"no {name} in the drone's /metrics")


def read(path):
    with open(path) as f:
        return f.read().strip()


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class AppTest(DeployTest):
    DRONES = ("d1",)

    def deploy(self, files, *args, check=True):
        commit = self.commit(files)
        self.push()
        r = self.cli("deploy", "webapp", "master", *args, check=check, timeout=60)
        return commit, r

    def port_of(self, commit, role="web"):
        [entry] = self.show("webapp")[commit][role]
        return entry["port"]

    def kill_at_cleanup(self, pid):
        def kill():
            if pid_alive(pid):
                os.kill(pid, signal.SIGKILL)
        self.addCleanup(kill)


class EnvironmentTest(AppTest):
    DRONES = ()

    def test_app_environment_has_no_token_and_only_passed_names(self):
        env = dict(os.environ)
        env.update({"SKYPORT_TOKEN": self.token, "SKYPORT_TOKEN_FILE": self.token_file,
                    "SKYPORT_DRONE_TOKEN": self.token, "SKYPORT_DRONE_TOKEN_FILE": self.token_file,
                    "TZ": "Pacific/Auckland", "DRONE_PRIVATE_SETTING": "drone-only-value"})
        self.drones["d1"] = Drone(self.tmp, self.token_file, "d1", self.hub, self.registry,
                                  extra=["--app-env-pass", "TZ"], env=env).start()
        wait_until(lambda: self.connected_drones() == {"d1"}, 15, what="drone attached")
        commit, _ = self.deploy({"app.py": ENV_APP, "Procfile": "web: python3 app.py\n"},
                                "--env", f"TOKEN_PATH={self.token_file}", "--env", "GREETING=hi")
        seen = get(self.port_of(commit), "/env").split(b"\0")
        names = {kv.split(b"=", 1)[0].decode() for kv in seen if kv}
        self.assertNotIn(self.token.encode(), b"\0".join(seen))
        # PWD: /bin/sh exports it.
        self.assertEqual(names, {"PATH", "HOME", "LANG", "PORT", "TZ", "GREETING", "TOKEN_PATH", "SKYPORT_APP",
                                 "SKYPORT_COMMIT", "SKYPORT_ROLE", "SKYPORT_INSTANCE", "SKYPORT_DRONE", "PWD"})
        self.assertIn(b"TZ=Pacific/Auckland", seen)
        self.assertIn(f"SKYPORT_COMMIT={commit}".encode(), seen)
        self.assertNotIn(b"drone-only-value", b"\0".join(seen))
        # Nor in what it logged.
        logs = self.cli("logs", "webapp").stdout
        self.assertIn("ENVIRON", logs)
        self.assertNotIn(self.token, logs)


@unittest.skipUnless(os.geteuid() == 0, "--app-user needs the drone to run as root; this test is not root")
class AppUserTest(AppTest):
    DRONES = ()

    def setUp(self):
        super().setUp()
        try:
            self.nobody = pwd.getpwnam("nobody")
        except KeyError:
            self.skipTest("no user `nobody` on this machine")
        # The app user must reach its checkout under the drone's data dir.
        os.chmod(self.tmp, 0o711)

    def start_drone(self):
        d = Drone(self.tmp, self.token_file, "d1", self.hub, self.registry, extra=["--app-user", "nobody"])
        self.drones["d1"] = d.start()
        return d

    def test_the_app_runs_as_the_app_user_and_cannot_read_the_token_file(self):
        self.start_drone()
        wait_until(lambda: self.connected_drones() == {"d1"}, 15, what="drone attached")
        commit, _ = self.deploy({"app.py": ENV_APP, "Procfile": "release: touch built\nweb: python3 app.py\n"},
                                "--env", f"TOKEN_PATH={self.token_file}")
        port = self.port_of(commit)
        self.assertEqual(get(port, "/uid"), str(self.nobody.pw_uid).encode())
        self.assertEqual(get(port, "/token"), b"denied")
        # The release step ran as the app user in its own checkout.
        built = os.path.join(self.drones["d1"].data, "deploy", "webapp", commit, "built")
        self.assertEqual(os.stat(built).st_uid, self.nobody.pw_uid)

    def test_the_drone_refuses_a_token_file_the_app_user_can_read(self):
        os.chmod(self.token_file, 0o644)
        d = self.start_drone()
        d.proc.wait(timeout=15)
        self.assertNotEqual(d.proc.returncode, 0)
        self.assertIn("readable by the app user nobody", d.log())


class CheckoutFilesTest(AppTest):
    DRONE_EXTRA = ("--metrics-listen", "127.0.0.1:0")
    def assert_fails_cleanly(self, files, links, want):
        for name, target in links.items():
            path = os.path.join(self.work, name)
            if os.path.lexists(path):
                os.unlink(path)
            os.symlink(target, path)
        drone_pid = self.drones["d1"].proc.pid
        before = rss_kb(drone_pid)
        _, r = self.deploy(files, check=False)
        out = r.stdout + r.stderr
        self.assertNotEqual(r.returncode, 0, out)
        self.assertIn(want, out)
        with open("/etc/passwd") as f:
            for line in f:
                for field in line.strip().split(":"):
                    if len(field) >= 6:  # user names, homes, shells
                        self.assertNotIn(field, out.replace(self.tmp, ""), f"host content in: {out}")
        self.assertIsNone(self.drones["d1"].proc.poll(), "the drone died")
        self.assertLess(rss_kb(drone_pid) - before, 64 * 1024, "the drone grew")
        # Nothing was left behind or started.
        self.assertEqual(json.loads(self.cli("ps", "--json").stdout), [])

    def test_procfile_symlink_to_etc_passwd(self):
        self.assert_fails_cleanly({"app.py": "print(1)\n"}, {"Procfile": "/etc/passwd"}, "Procfile: is a symbolic link")
        self.assertEqual(drone_metric(self.drones["d1"], 'skyport_drone_checkout_files_rejected_total{reason="symlink"}'), 1)

    def test_procfile_symlink_to_dev_zero(self):
        self.assert_fails_cleanly({"app.py": "print(1)\n"}, {"Procfile": "/dev/zero"}, "Procfile: is a symbolic link")

    def test_skyport_json_symlinks(self):
        files = {"Procfile": "web: python3 -m http.server $PORT\n"}
        self.assert_fails_cleanly(files, {"skyport.json": "/etc/passwd"}, "skyport.json: is a symbolic link")
        self.assert_fails_cleanly(files, {"skyport.json": "/dev/zero"}, "skyport.json: is a symbolic link")

    def test_a_huge_procfile_names_the_cap(self):
        self.assert_fails_cleanly({"Procfile": "# padding\n" * 20000}, {}, "Procfile: larger than the 65536 byte limit")
        self.assertEqual(drone_metric(self.drones["d1"], 'skyport_drone_checkout_files_rejected_total{reason="too_big"}'), 1)


class EscapeTest(AppTest):
    """Default drone: cgroups where it can make them (root), else /proc."""

    def deploy_daemon(self):
        beat = os.path.join(self.tmp, "beat")
        commit, _ = self.deploy({"app.py": DAEMON_APP, "Procfile": "web: python3 app.py\n"},
                                "--env", f"BEAT_FILE={beat}")
        pid = int(wait_until(lambda: read(beat + ".pid"), 10, what="daemon pid"))
        self.kill_at_cleanup(pid)
        self.assertTrue(pid_alive(pid))
        [proc] = json.loads(self.cli("ps", "--json").stdout)
        with open(f"/proc/{pid}/stat") as f:
            self.assertNotEqual(int(f.read().split(") ", 1)[1].split()[2]), proc["pid"], "daemon left the group")
        return commit, pid

    def test_stop_stops_a_double_forked_setsid_daemon(self):
        commit, pid = self.deploy_daemon()
        self.cli("stop", "webapp", commit)
        wait_until(lambda: not pid_alive(pid), 10, what="the escaped daemon to be gone after stop")

    def test_a_restarted_drone_stops_what_escaped_before_its_crash(self):
        _, pid = self.deploy_daemon()
        self.wait_recorded(pid)
        d = self.drones["d1"]
        d.kill(signal.SIGKILL)
        self.assertTrue(pid_alive(pid))  # apps outlive a crashed drone, until it is back
        d.start()
        wait_until(lambda: not pid_alive(pid), 15, what="the escaped daemon to be gone after the drone restart")

    def wait_recorded(self, pid):
        """In cgroup mode the cgroup holds it; else it is in the state file once adopted."""
        if "--cgroups" not in self.DRONE_EXTRA and "apps run in cgroups" in self.drones["d1"].log():
            return

        def recorded():
            with open(os.path.join(self.drones["d1"].data, "processes.json")) as f:
                return any(o[0] == pid for e in json.load(f)["processes"] for o in e.get("others", []))
        wait_until(recorded, 10, what="the escaped daemon in the state file")


class EscapeWithoutCgroupsTest(EscapeTest):
    DRONE_EXTRA = ("--cgroups", "off", "--metrics-listen", "127.0.0.1:0")

    def test_stop_stops_a_double_forked_setsid_daemon(self):
        super().test_stop_stops_a_double_forked_setsid_daemon()
        self.assertGreaterEqual(drone_metric(self.drones["d1"], "skyport_drone_escaped_processes_total"), 1)


class LimitsTest(AppTest):
    def test_nofile_limit_and_lower_priority(self):
        commit, _ = self.deploy({"app.py": LIMITS_APP, "Procfile": "web: python3 app.py\n",
                                 "skyport.json": json.dumps({"limits": {"nofile": 64}})})
        report = json.loads(get(self.port_of(commit), "/"))
        self.assertEqual(report["nofile"], [64, 64])
        self.assertEqual(report["errno"], 24)  # EMFILE
        self.assertLess(report["opened"], 64)
        want_nice = min(19, os.getpriority(os.PRIO_PROCESS, self.drones["d1"].proc.pid) + 5)
        self.assertEqual(report["nice"], want_nice)
        [proc] = json.loads(self.cli("ps", "--json").stdout)
        with open(f"/proc/{proc['pid']}/stat") as f:
            self.assertEqual(int(f.read().split(") ", 1)[1].split()[16]), want_nice)

    def test_the_drone_default_applies_without_skyport_json(self):
        commit, _ = self.deploy({"app.py": LIMITS_APP, "Procfile": "web: python3 app.py\n"})
        report = json.loads(get(self.port_of(commit), "/"))
        self.assertEqual(report["nofile"], [16384, 16384])


class CgroupLimitsTest(AppTest):
    DRONES = ()

    def test_memory_and_cpu_limits_in_the_instance_cgroup(self):
        mount = None
        with open("/proc/self/mountinfo") as f:
            for line in f:
                if " - cgroup2 " in line:
                    mount = line.split()[4]
        if os.geteuid() != 0 or mount is None:
            self.skipTest("needs root and a cgroup v2 mount")
        with open(os.path.join(mount, "cgroup.controllers")) as f:
            controllers = f.read().split()
        if "memory" not in controllers or "cpu" not in controllers:
            self.skipTest(f"cgroup v2 at {mount} has no cpu/memory controllers here ({controllers}); "
                          "the drone logs that cpu/memory_mb are not enforced")
        self.drones["d1"] = Drone(self.tmp, self.token_file, "d1", self.hub, self.registry).start()
        wait_until(lambda: self.connected_drones() == {"d1"}, 15, what="drone attached")
        commit, _ = self.deploy({"app.py": LIMITS_APP, "Procfile": "web: python3 app.py\n",
                                 "skyport.json": json.dumps({"cpu": 0.5, "memory_mb": 128})})
        [proc] = json.loads(self.cli("ps", "--json").stdout)
        with open(f"/proc/{proc['pid']}/cgroup") as f:
            rel = [l.split("::", 1)[1].strip() for l in f if l.startswith("0::")][0]
        with open(os.path.join(mount, rel.lstrip("/"), "memory.max")) as f:
            self.assertEqual(int(f.read()), 128 << 20)
        with open(os.path.join(mount, rel.lstrip("/"), "cpu.max")) as f:
            self.assertEqual(f.read().split(), ["50000", "100000"])


if __name__ == "__main__":
    unittest.main()
