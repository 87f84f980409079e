"""Each program reads its own environment variables (docs/operations.md, "Settings"): the CLI
SKYPORT_<FLAG>, a daemon SKYPORT_<DAEMON>_<FLAG>. A shell set up for the CLI (SKYPORT_HUB,
SKYPORT_TOKEN_FILE, ...) must not configure a daemon started from it; the daemon says which of
the CLI's variables it did not read (names only, never values)."""
import os
import re
import shutil
import subprocess
import tempfile
import unittest

from harness import ClusterTest, binary, read_port_file

DAEMONS = ("registry", "hub", "drone", "router")


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SKYPORT_")}
    env.update(extra)
    return env


class EnvNamesTest(ClusterTest):
    def daemon_args(self, daemon, tmp):
        """Enough flags for `daemon` to get past its start-up checks on loopback (no token given)."""
        return {
            "registry": ["--listen", "127.0.0.1:0", "--data", os.path.join(tmp, "reg"),
                         "--port-file", os.path.join(tmp, "registry.port")],
            "hub": ["--listen", "127.0.0.1:0", "--git-listen", "127.0.0.1:0", "--data", os.path.join(tmp, "hub"),
                    "--registry", self.registry.address(), "--metrics-listen", ""],
            "drone": ["--hub", "127.0.0.1:1", "--registry", self.registry.address(), "--name", "d1",
                      "--advertise", "127.0.0.1", "--data", os.path.join(tmp, "drone")],
            "router": ["--registry", self.registry.address(), "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"],
        }[daemon]

    def test_a_daemon_does_not_take_the_clis_token_and_says_so(self):
        for daemon in DAEMONS:
            with self.subTest(daemon=daemon), tempfile.TemporaryDirectory(dir=self.tmp) as tmp:
                # The CLI's variables hold the right token; the daemon must not use them.
                env = clean_env(SKYPORT_TOKEN_FILE=self.token_file, SKYPORT_TOKEN="s3cret-value-never-logged")
                r = subprocess.run([binary(f"skyport-{daemon}"), *self.daemon_args(daemon, tmp)], env=env,
                                   capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
                out = r.stdout + r.stderr
                self.assertNotEqual(r.returncode, 0, out)
                self.assertIn(f"set SKYPORT_{daemon.upper()}_TOKEN (or SKYPORT_{daemon.upper()}_TOKEN_FILE)", out)
                for name in ("SKYPORT_TOKEN_FILE", "SKYPORT_TOKEN"):
                    own = f"SKYPORT_{daemon.upper()}_{name[len('SKYPORT_'):]}"
                    self.assertRegex(out, rf"variable={name}\b.*instead={own}\b", out)
                self.assertNotIn("s3cret-value-never-logged", out)

    def test_a_daemon_reads_its_own_variables(self):
        # The registry from its own variables alone (token file, port file, data dir); the CLI's
        # SKYPORT_PORT_FILE points elsewhere and must stay untouched.
        port_file = os.path.join(self.tmp, "own.port")
        decoy = os.path.join(self.tmp, "decoy.port")
        env = clean_env(SKYPORT_REGISTRY_TOKEN_FILE=self.token_file, SKYPORT_REGISTRY_PORT_FILE=port_file,
                        SKYPORT_REGISTRY_DATA=os.path.join(self.tmp, "own-data"),
                        SKYPORT_REGISTRY_LISTEN="127.0.0.1:0", SKYPORT_REGISTRY_METRICS_LISTEN="127.0.0.1:0",
                        SKYPORT_PORT_FILE=decoy)
        p = subprocess.Popen([binary("skyport-registry")], env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
        self.procs.append(p)
        [port] = read_port_file(port_file, p, "registry from its own variables")
        self.assertFalse(os.path.exists(decoy))
        r = self.cli("--registry", f"127.0.0.1:{port}", "registry", "show", "--json")
        self.assertEqual(r.returncode, 0)

    def test_the_clis_flags_never_collide_with_a_daemons_variables(self):
        # SKYPORT_HUB_X is the hub's --x: the CLI must have no top-level flag named hub-x.
        r = subprocess.run([binary("skyport"), "--help"], capture_output=True, text=True, timeout=10,
                           env=clean_env(HOME=self.tmp))
        flags = re.findall(r"^\s+(?:-\w, )?--([a-z0-9-]+)", r.stdout, re.M)
        self.assertIn("hub", flags)
        for flag in flags:
            for daemon in DAEMONS:
                self.assertFalse(flag.startswith(daemon + "-"), f"skyport --{flag} would be a {daemon} variable")

    def test_migrate_says_the_generic_etcd_password_is_not_read(self):
        # skyport-registry migrate never reaches StartDaemon's warning: an old SKYPORT_ETCD_PASSWORD
        # must not end as a bare "needs a password".
        env = clean_env(SKYPORT_ETCD_PASSWORD="pw-value-never-printed")
        r = subprocess.run([binary("skyport-registry"), "migrate", "--from", f"sqlite:{self.tmp}/none",
                            "--to", "etcd:127.0.0.1:1", "--etcd-user", "skyport", "--etcd-dial-timeout", "300ms",
                            "--etcd-request-timeout", "500ms"],
                           env=env, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
        self.assertNotEqual(r.returncode, 0)
        self.assertRegex(r.stderr, r"SKYPORT_ETCD_PASSWORD is set.*not read; set SKYPORT_REGISTRY_ETCD_PASSWORD")
        self.assertNotIn("pw-value-never-printed", r.stdout + r.stderr)

    def test_each_daemons_help_names_its_own_variables(self):
        for daemon in DAEMONS:
            with self.subTest(daemon=daemon):
                r = subprocess.run([binary(f"skyport-{daemon}"), "--help"], capture_output=True, text=True,
                                   timeout=10, env=clean_env(HOME=self.tmp))
                head = r.stdout.split("Options:")[0]
                self.assertIn(f"read from SKYPORT_{daemon.upper()}_<FLAG>", head)

    def test_systemd_units_and_env_example_name_only_variables_someone_reads(self):
        # A unit's comment telling the operator to set SKYPORT_ADVERTISE (which no program reads
        # any more) leaves the drone advertising 127.0.0.1.
        r = subprocess.run([binary("skyport"), "--help"], capture_output=True, text=True, timeout=10,
                           env=clean_env(HOME=self.tmp))
        cli = {"SKYPORT_" + f.upper().replace("-", "_")
               for f in re.findall(r"^\s+(?:-\w, )?--([a-z0-9-]+)", r.stdout, re.M)}
        cli |= {"SKYPORT_TOKEN", "SKYPORT_CONFIG"}
        root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs", "systemd")
        for name in sorted(os.listdir(root)):
            with open(os.path.join(root, name)) as f:
                text = f.read()
            for var in sorted(set(re.findall(r"\bSKYPORT_[A-Z0-9_]+", text))):
                with self.subTest(file=name, variable=var):
                    self.assertTrue(var in cli or any(var.startswith(f"SKYPORT_{d.upper()}_") for d in DAEMONS),
                                    f"docs/systemd/{name} names {var}: neither the CLI's nor a daemon's")


class VersionTest(unittest.TestCase):
    def test_every_binary_prints_its_version_commit_and_build_day(self):
        for prog in ("skyport", *(f"skyport-{d}" for d in DAEMONS)):
            with self.subTest(prog=prog):
                # No other flag: a daemon's required ones (--data) must not stand in the way.
                r = subprocess.run([binary(prog), "--version"], capture_output=True, text=True, timeout=10,
                                   env=clean_env(HOME=tempfile.gettempdir()), stdin=subprocess.DEVNULL)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertRegex(r.stdout.strip(),
                                 rf"^{prog} \d+\.\d+\.\d+ \(commit ([0-9a-f]{{12}}(-dirty)?|unknown), "
                                 rf"built \d{{4}}-\d{{2}}-\d{{2}}\)$")
                self.assertIn("--version", subprocess.run([binary(prog), "--help"], capture_output=True, text=True,
                                                          timeout=10, env=clean_env(HOME=tempfile.gettempdir()),
                                                          stdin=subprocess.DEVNULL).stdout)


class CompletionTest(unittest.TestCase):
    def complete(self, shell, words):
        """What `skyport completion SHELL`, sourced, offers for the last of `words` (the words typed so far)."""
        script = subprocess.run([binary("skyport"), "completion", shell], capture_output=True, text=True, timeout=10,
                                env=clean_env(HOME=tempfile.gettempdir()), check=True).stdout
        prog = ("source /dev/stdin; COMP_WORDS=(" + " ".join(f"'{w}'" for w in words) + f"); COMP_CWORD={len(words) - 1}; "
                "_skyport; printf '%s\\n' \"${COMPREPLY[@]}\"")
        r = subprocess.run([shell, "-c", prog], input=script, capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, 0, r.stderr)
        return set(r.stdout.split())

    def test_bash_completes_commands_subcommands_and_options(self):
        self.assertEqual(self.complete("bash", ["skyport", "reg"]), {"registry"})
        self.assertEqual(self.complete("bash", ["skyport", "registry", "route", "s"]), {"set"})
        self.assertEqual(self.complete("bash", ["skyport", "--json", "registry", "q"]), {"query"})
        self.assertIn("--drones", self.complete("bash", ["skyport", "deploy", "webapp", "--dr"]))
        self.assertIn("--hub", self.complete("bash", ["skyport", "deploy", "--h"]), "global options everywhere")
        self.assertIn("completion", self.complete("bash", ["skyport", ""]))

    def test_zsh_script_loads_and_registers_the_completion(self):
        if not shutil.which("zsh"):
            self.skipTest("zsh is not installed (apt-get install zsh; scripts/setup.sh installs it)")
        with tempfile.TemporaryDirectory() as tmp:
            script = os.path.join(tmp, "_skyport")
            with open(script, "w") as f:
                f.write(subprocess.run([binary("skyport"), "completion", "zsh"], capture_output=True, text=True,
                                       timeout=10, env=clean_env(HOME=tmp), check=True).stdout)
            # zsh runs the bash function through bashcompinit, which the bash test above exercises.
            r = subprocess.run(["zsh", "-c", f"autoload -U compinit && compinit -u -d {tmp}/zcd; source {script}; "
                                "print -r -- ${_comps[skyport]}"], capture_output=True, text=True, timeout=20,
                               env=clean_env(HOME=tmp))
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout.strip(), "_bash_complete -F _skyport", r.stderr)

    def test_an_unknown_shell_is_a_usage_error(self):
        r = subprocess.run([binary("skyport"), "completion", "fish"], capture_output=True, text=True, timeout=10,
                           env=clean_env(HOME=tempfile.gettempdir()))
        self.assertEqual(r.returncode, 2)
        self.assertIn('shell: "fish" is not one of bash, zsh', r.stderr)


if __name__ == "__main__":
    unittest.main()
