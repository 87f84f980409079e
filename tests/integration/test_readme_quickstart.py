"""The README's "Quickstart by hand", run exactly as written (issue 16).

The ```sh block under that heading is taken from README.md at test time and run
with `bash -e -x`, from the repository, as root, in namespaces the test makes:
a network namespace (its own loopback, so the quickstart's fixed ports 6000-6003
and 8080 clash with nothing), and a PID namespace whose init is the script's
shell (so every daemon and app it starts dies with it, however the test ends).
HOME is a temp dir: the token, the data dirs and ~/my-app land there. Only git's
author identity is given through the environment, as a user's git config would.
"""
import os
import re
import shutil
import subprocess
import tempfile
import unittest

from harness import BIN

REPO = os.path.realpath(os.path.join(os.path.dirname(__file__), "..", ".."))


def quickstart_block():
    with open(os.path.join(REPO, "README.md")) as f:
        text = f.read()
    m = re.search(r"^## Quickstart by hand\n.*?^```sh\n(.*?)^```", text, re.S | re.M)
    if not m:
        raise AssertionError("README.md has no ```sh block under '## Quickstart by hand'")
    return m.group(1)


class ReadmeQuickstartTest(unittest.TestCase):
    def setUp(self):
        if os.geteuid() != 0:
            self.skipTest("the quickstart runs as root (it writes under ~ and needs namespaces): run as root")
        if shutil.which("unshare") is None:
            self.skipTest("unshare (util-linux) is not installed")
        if os.path.realpath(BIN) != os.path.join(REPO, "build"):
            self.skipTest(f"the quickstart builds into ./build; SKYPORT_BIN is {BIN}")
        probe = subprocess.run(["unshare", "--net", "--pid", "--fork", "--mount-proc", "true"],
                               capture_output=True, text=True)
        if probe.returncode != 0:
            self.skipTest(f"cannot make namespaces here: {probe.stderr.strip()}")
        self._tmp = tempfile.TemporaryDirectory(prefix="skyport-quickstart-")
        self.addCleanup(self._tmp.cleanup)
        self.home = self._tmp.name

    def test_readme_quickstart_runs_as_written(self):
        block = quickstart_block()
        # What the README promises the block does: a guard against an empty or gutted block.
        for needed in ("skyport-registry", "skyport-hub", "skyport-drone", "skyport-router", "git init",
                       "git push", "skyport deploy", "skyport split"):
            self.assertIn(needed, block)
        script = os.path.join(self.home, "quickstart.sh")
        with open(script, "w") as f:
            f.write(block)
        env = {"HOME": self.home, "PATH": os.environ["PATH"], "LANG": "C.UTF-8",
               "GIT_AUTHOR_NAME": "Quick Start", "GIT_AUTHOR_EMAIL": "quick@example.com",
               "GIT_COMMITTER_NAME": "Quick Start", "GIT_COMMITTER_EMAIL": "quick@example.com",
               "GIT_CONFIG_NOSYSTEM": "1"}
        # The build's own settings, so that setup.sh finds the build as it is and changes nothing.
        for keep in ("CCACHE_DIR", "CCACHE_BASEDIR", "SKYPORT_FUZZ", "SKYPORT_BUILD_TYPE", "SKYPORT_BUILD_DIR",
                     "SKYPORT_FUZZ_BUILD_DIR"):
            if keep in os.environ:
                env[keep] = os.environ[keep]
        # --kill-child: if the test's timeout kills unshare, the namespace's init (the shell) gets
        # SIGKILL, and with it every process of the PID namespace.
        cmd = ["unshare", "--net", "--pid", "--fork", "--mount-proc", "--kill-child",
               "bash", "-c", 'ip link set lo up && exec bash -e -x "$0"', script]
        log_path = os.path.join(self.home, "quickstart.log")
        with open(log_path, "w") as log:
            try:
                r = subprocess.run(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=240)
                rc = r.returncode
            except subprocess.TimeoutExpired:
                rc = "timeout (240 s)"
        with open(log_path, errors="replace") as f:
            out = f.read()
        self.assertEqual(rc, 0, f"the quickstart failed ({rc}); its output (end):\n{out[-6000:]}")
        # The app answered through the router: first the newest commit alone, then the split.
        answers = re.findall(r"^hello from (v\d)$", out, re.M)
        self.assertIn("v2", answers, out[-3000:])
        self.assertGreaterEqual(len(answers), 11, out[-3000:])
        self.assertTrue(set(answers) <= {"v1", "v2"}, answers)
        # Every command's output is there: the port table, the processes, the stats.
        self.assertIn("my-app", out)
        self.assertNotIn("command not found", out)


if __name__ == "__main__":
    unittest.main()
