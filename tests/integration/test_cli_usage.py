"""The skyport CLI's command line itself: the help listing, a mistyped or
missing command. No daemon is started: none of these dial anything."""
import os
import re
import subprocess
import unittest

import harness


def skyport(*args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SKYPORT_")}
    env["HOME"] = "/nonexistent"  # no ~/.config/skyport/config.toml
    return subprocess.run([harness.binary("skyport"), *args], capture_output=True, text=True, timeout=10, env=env)


class CliUsageTest(unittest.TestCase):
    def test_help_lists_every_command_with_its_line(self):
        r = skyport("--help")
        self.assertEqual(r.returncode, 0, r.stderr)
        for command, line in [
            ("registry show", "Print the port table"),
            ("registry register", "Register an entry, or run CMD and keep it registered"),
            ("registry route set", "Replace APP's RouteConfig from a JSON file"),
            ("deploy", "Deploy APP at COMMITISH and print each drone's progress"),
            ("stop", "Stop APP at COMMITISH"),
            ("ps", "List the processes the drones run"),
            ("drones", "List the drones the hub knows"),
            ("logs", "Print APP's process output"),
            ("stats", "Per-commit traffic of APP"),
            ("gate", "Judge a flight gate on APP"),
            ("split", "Split APP's traffic between commits"),
            ("flight start", "Validate FILE (JSON or YAML)"),
            ("flight log", "NAME's timeline"),
        ]:
            with self.subTest(command=command):
                self.assertRegex(r.stdout, rf"(?m)^  {re.escape(command)} +{re.escape(line)}")
        for flag in ("--registry", "--hub", "--token-file", "--timeout", "--json", "--config"):
            self.assertIn(flag, r.stdout)

    def test_unknown_command_gets_a_suggestion_and_exit_2(self):
        for args, message in [
            (["deplyo", "app", "main"], 'skyport: unknown command "deplyo"; did you mean "deploy"?'),
            (["--hub", "127.0.0.1:1", "lgos", "app"], 'skyport: unknown command "lgos"; did you mean "logs"?'),
            (["registry", "shwo"], 'skyport: unknown command "registry shwo"; did you mean "registry show"?'),
            (["flight", "stat", "f"], 'skyport: unknown command "flight stat"; did you mean "flight start"?'),
            (["kubectl"], 'skyport: unknown command "kubectl" (skyport --help lists the commands)'),
        ]:
            with self.subTest(args=args):
                r = skyport(*args)
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertEqual(r.stderr.strip(), message)
                self.assertEqual(r.stdout, "")
                self.assertNotIn("A subcommand is required", r.stderr)

    def test_missing_command_prints_the_usage_and_exit_2(self):
        r = skyport()
        self.assertEqual(r.returncode, 2)
        self.assertIn("Commands (skyport COMMAND --help for its options):", r.stderr)
        self.assertRegex(r.stderr, r"(?m)^  deploy +Deploy APP")
        r = skyport("--json", "registry", "route")
        self.assertEqual(r.returncode, 2)
        self.assertIn("Read or write an app's route config", r.stderr)
        self.assertRegex(r.stderr, r"(?m)^  get +Print APP's RouteConfig as JSON")
        self.assertNotIn("A subcommand is required", r.stderr)

    def test_other_usage_errors_are_cli11s_as_before(self):
        r = skyport("deploy", "app")
        self.assertEqual(r.returncode, 2)
        self.assertIn("commitish is required", r.stderr)
        r = skyport("ps", "--bogus")
        self.assertEqual(r.returncode, 2)
        self.assertIn("The following argument was not expected: --bogus", r.stderr)
        r = skyport("ps", "--", "sleep", "1")
        self.assertEqual(r.returncode, 2)

    def test_a_command_help_is_its_own(self):
        r = skyport("gate", "--help")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("Exit: 0 pass, 1 fail (or the data source did not answer), 3 wait for more data, 2 usage.",
                      r.stdout)
        self.assertIn("--max-increase", r.stdout)


if __name__ == "__main__":
    unittest.main()
