"""Config vars (skyport config): stored at the hub per app, versioned, masked unless
--reveal, persisted with the desired state, handed to apps as environment, and a
change restarts the app's running instances rolling: zero failed requests under
wrk through the router.

All on 127.0.0.1 with the real registry, hub, drones and router. The app is
examples/envecho: it answers `GREETING=<value> ...`. The load test (20 changes under wrk)
is test_config_load.py.
"""
import json
import os
import signal
import unittest
import subprocess

from harness import ClusterTest, DeployTest, Drone, Hub, Router, binary, wait_until
from test_router import get

HERE = os.path.dirname(os.path.abspath(__file__))
ENVECHO = os.path.join(HERE, "..", "..", "examples", "envecho")
HOST = "webapp.localhost"
# A value that must never show up masked, in a log or in an error message.
SECRET = "s3cr3t-" + os.urandom(6).hex()
CHANGES = int(os.environ.get("SKYPORT_CONFIG_CHANGES", "20"))


class ConfigBase(DeployTest):
    def push_envecho(self):
        files = {}
        for name in ("app.py", "Procfile"):
            with open(os.path.join(ENVECHO, name)) as f:
                files[name] = f.read()
        commit = self.commit(files, "envecho")
        self.push()
        return commit

    def config(self, *args, check=False, timeout=90):
        return self.cli("config", *args, check=check, timeout=timeout)

    def config_json(self, app="webapp", reveal=False):
        r = self.cli("config", app, "--json", *(["--reveal"] if reveal else []))
        return json.loads(r.stdout)

    def logs_text(self):
        text = ""
        for path in [self.hub.log_path, *[d.log_path for d in self.drones.values()]]:
            with open(path, errors="replace") as f:
                text += f.read()
        return text


class ConfigCommandsTest(ConfigBase):
    HUB_EXTRA = ("--metrics-listen", "127.0.0.1:0")

    def test_set_unset_show_reveal_json(self):
        self.push_envecho()
        doc = self.config_json()
        self.assertEqual((doc["app"], doc["version"], doc["vars"]), ("webapp", 0, {}))
        r = self.config("webapp")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("no config vars", r.stdout)

        r = self.config("set", "webapp", "GREETING=hello", f"DB_URL=postgres://u:{SECRET}@h/db?x=1", "EMPTY=")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("config v1 saved (set DB_URL, EMPTY, GREETING)", r.stdout)
        self.assertNotIn(SECRET, r.stdout + r.stderr)

        masked = self.config("webapp")
        self.assertEqual(masked.returncode, 0, masked.stderr)
        self.assertIn("config v1, 3 vars (values masked", masked.stdout)
        self.assertIn("DB_URL=********", masked.stdout)
        self.assertNotIn(SECRET, masked.stdout)
        self.assertNotIn("hello", masked.stdout)
        doc = self.config_json()
        self.assertTrue(doc["masked"])
        self.assertEqual(doc["vars"], {"DB_URL": "********", "EMPTY": "********", "GREETING": "********"})

        revealed = self.config_json(reveal=True)
        self.assertFalse(revealed["masked"])
        self.assertEqual(revealed["vars"], {"GREETING": "hello", "DB_URL": f"postgres://u:{SECRET}@h/db?x=1",
                                            "EMPTY": ""})
        text = self.config("webapp", "--reveal")
        self.assertIn("GREETING=hello\n", text.stdout)

        r = self.config("unset", "webapp", "EMPTY", "NEVER_SET")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("config v2 saved (unset EMPTY, NEVER_SET)", r.stdout)
        self.assertEqual(self.config_json(reveal=True)["vars"],
                         {"GREETING": "hello", "DB_URL": f"postgres://u:{SECRET}@h/db?x=1"})
        # --json of a change: one object per line.
        r = self.config("set", "webapp", "GREETING=hi", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        first = json.loads(r.stdout.splitlines()[0])
        self.assertEqual(first["saved"]["version"], 3)
        self.assertEqual(first["saved"]["vars"]["DB_URL"], "********")
        self.assertNotIn(SECRET, r.stdout)
        self.assertNotIn(SECRET, self.logs_text())

    def test_values_from_stdin_stay_off_the_command_line(self):
        self.push_envecho()
        env_file = f"# from a vault\nDB_URL=postgres://u:{SECRET}@h/db?x=1\r\n\nGREETING=hello there\n"
        r = subprocess.run([binary("skyport"), "config", "set", "webapp", "--stdin", "EXTRA=1"], input=env_file,
                           capture_output=True, text=True, timeout=90, env=self.env())
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("config v1 saved (set DB_URL, EXTRA, GREETING)", r.stdout)
        self.assertNotIn(SECRET, r.stdout + r.stderr)
        self.assertEqual(self.config_json(reveal=True)["vars"],
                         {"DB_URL": f"postgres://u:{SECRET}@h/db?x=1", "GREETING": "hello there", "EXTRA": "1"})
        # A bad line is named by number, its value never shown; nothing is saved.
        r = subprocess.run([binary("skyport"), "config", "set", "webapp", "--stdin"], input=f"A=1\n{SECRET}\n",
                           capture_output=True, text=True, timeout=30, env=self.env())
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn("line 2 is not KEY=VALUE", r.stderr)
        self.assertNotIn(SECRET, r.stdout + r.stderr)
        # Endless input is cut at the bound, not read into memory.
        with open("/dev/zero") as zero:
            r = subprocess.run([binary("skyport"), "config", "set", "webapp", "--stdin"], stdin=zero,
                               capture_output=True, text=True, timeout=30, env=self.env())
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn("bytes of input", r.stderr)
        self.assertEqual(self.config_json()["version"], 1)
        self.assertNotIn(SECRET, self.logs_text())

    def test_bad_inputs_exit_2_and_name_no_value(self):
        self.push_envecho()
        for args, says in [
            (["set", "webapp", SECRET], "argument 1 is not KEY=VALUE"),
            (["set", "webapp", "A=1", SECRET], "argument 2 is not KEY=VALUE"),
            (["set", "webapp", f"PORT={SECRET}"], "reserved"),
            (["set", "webapp", f"PATH={SECRET}"], "reserved"),
            (["set", "webapp", f"SKYPORT_TOKEN={SECRET}"], "reserved"),
            (["set", "webapp", f"1BAD={SECRET}"], "not a variable name"),
            (["set", "webapp", f"A-B={SECRET}"], "not a variable name"),
            (["set", "webapp", f"=={SECRET}"], "empty name"),
            (["set", "webapp", "BIG=" + "x" * (32 * 1024 + 1)], "longer than 32768 bytes"),
            (["set", "webapp", f"A={SECRET}", "A=2"], "given twice"),
            (["unset", "webapp", f"A={SECRET}"], "not KEY=VALUE"),
            (["unset", "webapp", "HOME"], "reserved"),
            (["set", "Bad_App", "A=1"], "app"),
            (["set", "webapp"], "give KEY=VALUE arguments, or --stdin"),
            ([], "give an APP"),
        ]:
            with self.subTest(args=[a[:40] for a in args]):
                r = self.config(*args)
                self.assertEqual(r.returncode, 2, f"{r.stdout}{r.stderr}")
                self.assertIn(says, r.stderr)
                self.assertNotIn(SECRET, r.stdout + r.stderr)
        # The hub's bounds too: at most 200 vars per app (each change below is within the CLI's).
        many = [f"K{i}=v" for i in range(150)]
        self.assertEqual(self.config("set", "webapp", *many).returncode, 0)
        r = self.config("set", "webapp", *[f"L{i}=v" for i in range(60)])
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn("at most 200", r.stderr)
        self.assertEqual(self.config_json()["version"], 1)  # nothing saved by the refused change
        self.assertEqual(self.hub.metric("skyport_hub_config_refused_total"), 1)
        self.assertEqual(self.hub.metric("skyport_hub_config_changes_total"), 1)
        self.assertNotIn(SECRET, self.logs_text())

    def test_all_config_together_is_bounded(self):
        # Five apps with 248 KiB of config each: the desired state would pass 1 MiB at the fifth.
        self.push_envecho()
        for app in ("app1", "app2", "app3", "app4", "app5"):
            self.push(app=app)
        values = [f"V{i}=" + "x" * (31 * 1024) for i in range(8)]
        for app in ("app1", "app2", "app3", "app4"):
            r = self.config("set", app, *values)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr[-500:])
        r = self.config("set", "app5", *values)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr[-500:])
        self.assertIn("above its bound of 1048576", r.stderr)
        self.assertNotIn("xxxx", r.stderr)
        self.assertEqual(self.config_json("app5")["version"], 0)  # nothing saved
        # Freeing room makes it fit.
        self.assertEqual(self.config("unset", "app1", *[f"V{i}" for i in range(8)]).returncode, 0)
        self.assertEqual(self.config("set", "app5", *values).returncode, 0)

    def test_unknown_app_exits_1(self):
        for args in (["nosuch"], ["nosuch", "--json"], ["set", "nosuch", "A=1"], ["unset", "nosuch", "A"]):
            with self.subTest(args=args):
                r = self.config(*args)
                self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
                self.assertIn("no app named nosuch", r.stderr)

    def test_no_token_or_a_wrong_one_is_refused(self):
        self.push_envecho()
        self.assertEqual(self.config("set", "webapp", f"A={SECRET}").returncode, 0)
        wrong = os.path.join(self.tmp, "wrong-token")
        with open(wrong, "w") as f:
            f.write("not-the-token\n")
        os.chmod(wrong, 0o600)
        for args in (["webapp", "--reveal"], ["set", "webapp", "A=evil"], ["unset", "webapp", "A"]):
            with self.subTest(args=args):
                r = self.cli("config", *args, check=False, token_file=wrong)
                self.assertNotEqual(r.returncode, 0)
                self.assertIn("token", (r.stdout + r.stderr).lower())
                self.assertNotIn(SECRET, r.stdout + r.stderr)
                env = self.env()
                del env["SKYPORT_TOKEN_FILE"]
                r = self.cli("config", *args, check=False, env=env)
                self.assertNotEqual(r.returncode, 0)
                self.assertNotIn(SECRET, r.stdout + r.stderr)
        self.assertEqual(self.config_json(reveal=True)["vars"], {"A": SECRET})  # unchanged
        self.assertEqual(self.config_json()["version"], 1)

    def test_config_survives_a_hub_restart(self):
        self.push_envecho()
        self.assertEqual(self.config("set", "webapp", f"A={SECRET}", "B=2").returncode, 0)
        self.assertEqual(self.config("unset", "webapp", "B").returncode, 0)
        before = self.config_json(reveal=True)
        self.hub.kill(signal.SIGKILL)
        self.hub.start()  # the same data dir and ports
        after = self.config_json(reveal=True)
        self.assertEqual((after["version"], after["vars"]), (2, {"A": SECRET}))
        self.assertEqual(after["updated_unix_ms"], before["updated_unix_ms"])
        # deployments.json holds the values: readable by the hub's user only.
        self.assertEqual(os.stat(os.path.join(self.hub.data, "deployments.json")).st_mode & 0o077, 0)


RELEASE_CHECK = """import os, sys
# A migration would need DATABASE_URL: the release step gets the config vars, never the drone's token.
bad = [k for k in os.environ if k.startswith("SKYPORT_") and "TOKEN" in k]
sys.exit(0 if os.environ.get("DATABASE_URL") == open("expected.txt").read() and not bad else 3)
"""


class ReleaseStepConfigTest(ConfigBase):
    DRONES = ("d1",)

    def test_the_release_step_gets_the_config_vars_and_the_deploys_env(self):
        files = {}
        for name in ("app.py", "Procfile"):
            with open(os.path.join(ENVECHO, name)) as f:
                files[name] = f.read()
        files["check.py"] = RELEASE_CHECK
        files["expected.txt"] = f"postgres://{SECRET}"
        files["Procfile"] = "release: python3 check.py\n" + files["Procfile"]
        commit = self.commit(files, "release needs DATABASE_URL")
        self.push()
        self.assertEqual(self.config("set", "webapp", f"DATABASE_URL=postgres://{SECRET}").returncode, 0)
        r = self.cli("deploy", "webapp", commit[:10], check=False, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        # The deploy's own --env wins there too, as for the instances: a wrong one fails the step.
        other = self.commit({"label.txt": "2"}, "2")
        self.push()
        r = self.cli("deploy", "webapp", other[:10], "--env", "DATABASE_URL=wrong", check=False, timeout=60)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("exited with 3", r.stderr)
        self.assertNotIn(SECRET, self.logs_text())


class RouterBase(ConfigBase):
    """A router in registry mode in front of the drones' instances."""

    def setUp(self):
        super().setUp()
        self.router = Router(self.tmp, self.token_file, registry=self.registry,
                             extra=["--new-users-address-burst", "1000000000",
                                    "--new-users-address-rate", "1000000000"]).start()
        self.addCleanup(self.router.kill)

    def answers(self, n=8):
        seen = set()
        for _ in range(n):
            status, _, body = get(self.router.port, host=HOST)
            if status != 200:
                return {f"status {status}"}
            seen.add(body.decode().split()[0])
        return seen

    def instances(self, commit):
        """(drone, instance) of every running process of COMMIT, as the hub sees them."""
        ps = self.cli_json("ps", "webapp", "--json")
        return sorted((p["drone"], p["instance"]) for p in ps if p["commit"] == commit and p["state"] == "running")

    def registered(self, commit):
        """How many of COMMIT's instances the registry holds."""
        return len(self.show("webapp").get(commit, {}).get("web", []))


class ConfigAppTest(RouterBase):
    def test_app_sees_its_config_and_a_change_rolls(self):
        commit = self.push_envecho()
        self.assertEqual(self.config("set", "webapp", "GREETING=hello").returncode, 0)
        r = self.cli("deploy", "webapp", commit, "--env", "DEPLOY_ONLY=1", timeout=60)
        wait_until(lambda: self.answers() == {"GREETING=hello"}, 15, what="the app seeing GREETING=hello")
        self.assertEqual(self.instances(commit), [("d1", 0), ("d2", 0)])  # one per drone
        self.assertEqual(self.registered(commit), 2)

        r = self.config("set", "webapp", "GREETING=bonjour")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn(f"restarting {commit[:12]} rolling", r.stdout)
        self.assertIn("replacing", r.stdout)
        # When the command returns, every instance runs the new config.
        self.assertEqual(self.answers(16), {"GREETING=bonjour"})
        # Replaced, not added to: one instance per drone, under new numbers.
        self.assertEqual(self.instances(commit), [("d1", 1), ("d2", 1)])
        self.assertEqual(self.registered(commit), 2)

        # A deploy's own --env wins over the config for its keys.
        self.cli("deploy", "webapp", commit, "--env", "GREETING=from-deploy", timeout=60)
        wait_until(lambda: self.answers() == {"GREETING=from-deploy"}, 15, what="the deploy's --env winning")
        self.assertEqual(self.config("set", "webapp", "GREETING=config-again").returncode, 0)
        self.assertEqual(self.answers(), {"GREETING=from-deploy"})
        self.assertEqual(self.config_json()["version"], 3)

        # Unset: the app no longer has it (after the redeploy without the --env).
        self.cli("deploy", "webapp", commit, timeout=60)
        self.assertEqual(self.config("unset", "webapp", "GREETING").returncode, 0)
        self.assertEqual(self.answers(), {"GREETING=(unset)"})

    def test_a_drone_that_missed_a_change_catches_up_when_it_attaches(self):
        commit = self.push_envecho()
        self.cli("deploy", "webapp", commit, timeout=60)
        self.assertEqual(self.config("set", "webapp", "GREETING=v1").returncode, 0)
        self.assertEqual(self.answers(), {"GREETING=v1"})
        # A change the drones never heard of (their streams were down when it was made): written into
        # the hub's state while it is down. Reattached, the drones report instances at config v1 and
        # the hub's reconcile rolls them to v2.
        self.hub.kill(signal.SIGKILL)
        path = os.path.join(self.hub.data, "deployments.json")
        with open(path) as f:
            state = json.load(f)
        state["config"]["webapp"]["version"] = 2
        state["config"]["webapp"]["vars"]["GREETING"] = "missed"
        with open(path, "w") as f:
            json.dump(state, f)
        self.hub.start()
        wait_until(lambda: self.answers(16) == {"GREETING=missed"}, 30, what="the drones rolled to v2 on attach")
        wait_until(lambda: len(self.instances(commit)) == 2 and self.registered(commit) == 2, 15,
                   what="one instance per drone again")

    def test_a_failed_roll_keeps_the_old_instances_serving(self):
        commit = self.push_envecho()
        self.cli("deploy", "webapp", commit, timeout=60)
        wait_until(lambda: self.answers() == {"GREETING=(unset)"}, 15, what="the app serving")
        before = self.instances(commit)
        # A config that makes the app fail to start: python refuses a bad PYTHONHOME.
        r = self.config("set", "webapp", "PYTHONHOME=/nonexistent", "GREETING=broken", timeout=120)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("config v1 of webapp is saved, but its rolling restart failed", r.stderr)
        self.assertEqual(self.instances(commit), before)
        self.assertEqual(self.registered(commit), 2)
        self.assertEqual(self.answers(16), {"GREETING=(unset)"})
        # Fixing the config rolls again.
        r = self.config("unset", "webapp", "PYTHONHOME", timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(self.answers(16), {"GREETING=broken"})


# envecho, but an instance whose number is in FAIL_INSTANCES exits at once (a roll failing at its
# second step).
PICKY_APP = """import os, sys
if os.environ["SKYPORT_INSTANCE"] in os.environ.get("FAIL_INSTANCES", "").split(","):
    sys.exit("refusing to start as instance " + os.environ["SKYPORT_INSTANCE"])
exec(open("app.py").read())
"""


class ConfigRollbackTest(RouterBase):
    """A release is its commit and its config: a rollback to a release of another config version
    restores that version's vars (as a new version) and rolls the commit onto them."""

    def releases(self):
        return self.cli_json("releases", "webapp", "--json")["releases"]

    def test_rollback_restores_the_config_of_the_release(self):
        commit = self.push_envecho()
        self.assertEqual(self.config("set", "webapp", "GREETING=hello").returncode, 0)
        self.cli("deploy", "webapp", commit, timeout=60)
        wait_until(lambda: self.answers() == {"GREETING=hello"}, 15, what="GREETING=hello")
        self.assertEqual(self.config("set", "webapp", "GREETING=bonjour").returncode, 0)
        self.assertEqual(self.answers(16), {"GREETING=bonjour"})
        self.assertEqual(self.config_json()["version"], 2)
        # Put the app's traffic on the commit (a rollback moves it).
        self.cli("split", "webapp", f"{commit}=100")

        r = self.cli("rollback", "webapp", "--grace", "0s", "--json", check=False, timeout=90)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        doc = json.loads(r.stdout)
        self.assertTrue(doc["deployed"], doc)  # same commit, other config: it rolled
        # The restored config is the release's, as a new version; the app answers with it.
        self.assertEqual(self.config_json(reveal=True)["vars"], {"GREETING": "hello"})
        self.assertEqual(self.config_json()["version"], 3)
        self.assertEqual(self.answers(16), {"GREETING=hello"})
        self.assertEqual(self.releases()[-1]["config_version"], 3)
        # Rolling back again undoes it: bonjour comes back (version 4).
        r = self.cli("rollback", "webapp", "--grace", "0s", "--json", check=False, timeout=90)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(self.config_json(reveal=True)["vars"], {"GREETING": "bonjour"})
        self.assertEqual(self.answers(16), {"GREETING=bonjour"})


class ConfigPartialRollTest(RouterBase):
    DRONES = ("d1",)

    def test_a_roll_failing_at_its_second_step_keeps_the_first_replacement(self):
        files = {}
        for name in ("app.py",):
            with open(os.path.join(ENVECHO, name)) as f:
                files[name] = f.read()
        files["picky.py"] = PICKY_APP
        files["Procfile"] = "web: python3 picky.py\n"
        commit = self.commit(files, "picky")
        self.push()
        self.cli("deploy", "webapp", commit, "--instances", "2", timeout=60)
        wait_until(lambda: self.instances(commit) == [("d1", 0), ("d1", 1)], 15, what="instances 0 and 1")
        # Steps: 2 replaces 0, then 3 replaces 1; instance 3 refuses to start.
        r = self.config("set", "webapp", "GREETING=new", "FAIL_INSTANCES=3", timeout=120)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("refusing to start as instance 3", r.stderr)
        # The first step's replacement stays, the old instance 1 keeps running: still two instances.
        self.assertEqual(self.instances(commit), [("d1", 1), ("d1", 2)])
        self.assertEqual(self.registered(commit), 2)
        self.assertEqual(self.answers(16), {"GREETING=new", "GREETING=(unset)"})
        # Fixed: the next change rolls both (the numbers free now are 0 and 3).
        r = self.config("set", "webapp", "FAIL_INSTANCES=", timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(self.instances(commit), [("d1", 0), ("d1", 3)])
        self.assertEqual(self.answers(16), {"GREETING=new"})


class ConfigHaTest(ConfigBase):
    """Three hubs on etcd (--store etcd): the config rides the desired state in etcd, so a new
    leader after kill -9 of the old one has it, and a change through it rolls the app."""
    DRONES = ("d1",)

    def setUp(self):
        from etcd_cluster import EtcdCluster
        from test_address_lists import Listed
        ClusterTest.setUp(self)
        with open(self.token_file) as f:
            self.token = f.read().strip()
        self.etcd = EtcdCluster(3)
        self.addCleanup(self.etcd.stop)
        self.hubs = [Hub(self.tmp, self.token_file, self.registry, name=f"hub{i}", store="etcd",
                         etcd=self.etcd.endpoints(), extra=["--metrics-listen", "127.0.0.1:0"]).start()
                     for i in range(3)]
        self.hub = Listed(*self.hubs)
        self.drones = {"d1": Drone(self.tmp, self.token_file, "d1", self.hub, self.registry).start()}
        self.addCleanup(self._stop_cluster)
        self.work = os.path.join(self.tmp, "work")
        os.makedirs(self.work)
        self.git("init", "-q", "-b", "master")

    def _stop_cluster(self):
        for d in self.drones.values():
            d.kill(signal.SIGTERM)
            d.kill_orphaned_apps()
        for h in self.hubs:
            h.kill()

    def leader(self, hubs):
        found = {}

        def exactly_one():
            found["leaders"] = [h for h in hubs if h.proc.poll() is None and h.metric("skyport_hub_is_leader") == 1]
            return len(found["leaders"]) == 1
        wait_until(exactly_one, 15, what="exactly one hub leading")
        return found["leaders"][0]

    def logs_text(self):
        text = ""
        for path in [*[h.log_path for h in self.hubs], *[d.log_path for d in self.drones.values()]]:
            with open(path, errors="replace") as f:
                text += f.read()
        return text

    def app_answers(self):
        ps = self.cli_json("ps", "webapp", "--json")
        out = set()
        for p in ps:
            if p["state"] == "running":
                status, _, body = get(p["port"], host="x")
                out.add(body.decode().split()[0] if status == 200 else f"status {status}")
        return out

    def test_config_survives_a_leader_failover(self):
        leader = self.leader(self.hubs)
        wait_until(lambda: self.connected_drones() == {"d1"}, 15, what="the drone attached to the leader")
        files = {}
        for name in ("app.py", "Procfile"):
            with open(os.path.join(ENVECHO, name)) as f:
                files[name] = f.read()
        commit = self.commit(files, "envecho")
        self.git("push", "-q", leader.git_url("webapp", self.token), "master")
        self.cli("deploy", "webapp", commit, timeout=60)
        r = self.config("set", "webapp", f"GREETING={SECRET}")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(self.app_answers(), {f"GREETING={SECRET}"})

        leader.kill(signal.SIGKILL)
        self.leader([h for h in self.hubs if h is not leader])
        wait_until(lambda: self.config("webapp", "--json").returncode == 0, 15, what="the new leader answering")
        doc = self.config_json(reveal=True)
        self.assertEqual((doc["version"], doc["vars"]), (1, {"GREETING": SECRET}))
        wait_until(lambda: self.connected_drones() == {"d1"}, 15, what="the drone attached to the new leader")
        r = self.config("set", "webapp", "GREETING=after-failover")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(self.app_answers(), {"GREETING=after-failover"})
        self.assertEqual(self.config_json()["version"], 2)
        self.assertNotIn(SECRET, self.logs_text())


if __name__ == "__main__":
    unittest.main()
