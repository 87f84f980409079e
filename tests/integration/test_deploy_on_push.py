"""Deploy on push (issue 16): `skyport apps set APP --deploy-on-push BRANCH`.

A push that moves the branch deploys its new commit, and the real `git push`
shows the deploy's progress ("remote: ...", the side-band channel) and its
result; a failed deploy makes the push fail (the ref stays updated at the
hub). Bad inputs and a client without the token are refused.
"""
import json
import os
import subprocess
import urllib.request

from harness import DeployTest, wait_until
from test_deploy import APP


def get(port, path="/"):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
        return r.read().decode().strip()


class DeployOnPushTest(DeployTest):
    DRONES = ("d1",)
    HUB_EXTRA = ("--deploy-timeout", "20", "--metrics-listen", "127.0.0.1:0")

    def first_commit(self, greeting="beep boop"):
        return self.commit({"app.py": APP, "greeting.txt": greeting + "\n", "Procfile": "web: python3 app.py\n"})

    def push_verbose(self, ref="master"):
        """git push without -q: the remote's progress lines are on stderr."""
        return self.git("push", self.hub.git_url("webapp", self.token), ref, check=False)

    def hub_ref(self, ref="refs/heads/master"):
        repo = os.path.join(self.hub.data, "repos", "webapp.git")
        r = subprocess.run(["git", "--git-dir", repo, "rev-parse", ref], capture_output=True, text=True)
        return r.stdout.strip()

    def web_entries(self, commit):
        return [e for e in self.show("webapp").get(commit, {}).get("web", [])]

    def test_push_to_the_branch_deploys_with_progress_on_the_terminal(self):
        a = self.first_commit()
        self.push()  # the app exists at the hub once something is pushed
        r = self.cli("apps", "set", "webapp", "--deploy-on-push", "master")
        self.assertIn("a push to master deploys", r.stdout)
        self.assertEqual(self.cli_json("apps", "set", "webapp", "--json")["deploy_on_push"], "master")

        b = self.commit({"greeting.txt": "beepity boop!\n"}, "beepity")
        r = self.push_verbose()
        self.assertEqual(r.returncode, 0, r.stderr)
        # The deploy's progress and result, on the pushing terminal.
        self.assertIn(f"remote: skyport: deploying webapp {b[:12]}", r.stderr)
        self.assertRegex(r.stderr, r"remote: d1: registered")
        self.assertIn(f"remote: skyport: deployed webapp {b[:12]}", r.stderr)
        # Deployed for real: the new commit runs and answers.
        entries = self.web_entries(b)
        self.assertEqual(len(entries), 1, self.show("webapp"))
        self.assertTrue(get(entries[0]["port"]).startswith("beepity boop!"))
        self.assertNotIn(a, self.show("webapp"))  # the first commit was never deployed
        self.assertEqual(self.hub.metric("skyport_hub_git_deploys_on_push_total"), 1)
        releases = self.cli_json("releases", "webapp", "--json")["releases"]
        self.assertEqual((releases[-1]["commit"], releases[-1]["outcome"]), (b, "succeeded"), releases)

        # Another branch does not deploy.
        self.git("checkout", "-q", "-b", "dev")
        c = self.commit({"greeting.txt": "dev\n"}, "dev")
        r = self.push_verbose("dev")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("deploying", r.stderr)
        self.assertNotIn(c, self.show("webapp"))

        # Off again: a push to master only moves the ref.
        self.assertIn("off", self.cli("apps", "set", "webapp", "--deploy-on-push", "").stdout)
        self.git("checkout", "-q", "master")
        d = self.commit({"greeting.txt": "quiet\n"}, "quiet")
        r = self.push_verbose()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("deploying", r.stderr)
        self.assertEqual(self.hub_ref(), d)
        self.assertNotIn(d, self.show("webapp"))

    def test_failed_deploy_fails_the_push_but_the_ref_moves(self):
        self.first_commit()
        self.push()
        self.cli("apps", "set", "webapp", "--deploy-on-push", "master")
        # An app that exits at once: the deploy fails.
        bad = self.commit({"app.py": "import sys\nprint('boom', file=sys.stderr)\nsys.exit(7)\n"}, "broken")
        r = self.push_verbose()
        self.assertNotEqual(r.returncode, 0, r.stderr)
        self.assertIn("remote: skyport: deploy failed", r.stderr)
        self.assertRegex(r.stderr, r"\[remote rejected\] master -> master \(deploy failed")
        self.assertEqual(self.hub_ref(), bad)  # the ref stays updated
        self.assertEqual(self.hub.metric("skyport_hub_git_deploys_on_push_failed_total"), 1)
        # The release is recorded, marked failed.
        releases = self.cli_json("releases", "webapp", "--json")["releases"]
        self.assertEqual((releases[-1]["commit"], releases[-1]["outcome"]), (bad, "failed"), releases)
        # Nothing of the failed deploy is kept (reconcile does not retry it).
        wait_until(lambda: bad not in self.show("webapp"), 10, what="failed deploy cleaned up")

    def test_push_without_side_band_still_reports_the_deploy(self):
        # A client that does not ask for side-band-64k gets no progress, but the
        # result still decides the ref's status in the report.
        self.first_commit()
        self.push()
        self.cli("apps", "set", "webapp", "--deploy-on-push", "master")
        b = self.commit({"greeting.txt": "plain\n"}, "plain")
        # Build the request by hand: old/new ids, report-status only, then an empty pack is not
        # valid for a new commit; so use git's own pack of the commit.
        old = self.hub_ref()
        pack = subprocess.run(["git", "-C", self.work, "pack-objects", "--stdout", "--revs", "--thin", "-q"],
                              input=f"{b}\n^{old}\n".encode(), capture_output=True, check=True).stdout
        line = f"{old} {b} refs/heads/master\0report-status\n".encode()
        body = f"{len(line) + 4:04x}".encode() + line + b"0000" + pack
        import base64
        import http.client
        conn = http.client.HTTPConnection("127.0.0.1", self.hub.git_port, timeout=60)
        auth = base64.b64encode(f"x:{self.token}".encode()).decode()
        conn.request("POST", "/webapp.git/git-receive-pack", body=body,
                     headers={"Authorization": f"Basic {auth}",
                              "Content-Type": "application/x-git-receive-pack-request"})
        resp = conn.getresponse()
        text = resp.read().decode(errors="replace")
        self.assertEqual(resp.status, 200, text)
        self.assertIn("ok refs/heads/master", text)
        self.assertNotIn("\x02", text)  # no side band
        self.assertEqual(len(self.web_entries(b)), 1)

    def test_bad_inputs_and_no_token(self):
        self.first_commit()
        self.push()
        r = self.cli("apps", "set", "nosuchapp", "--deploy-on-push", "master", check=False)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("no app named nosuchapp", r.stderr)
        for bad in ("a..b", "-x", "x.lock", "a b", "x" * 201):
            r = self.cli("apps", "set", "webapp", "--deploy-on-push", bad, check=False)
            self.assertNotEqual(r.returncode, 0, bad)
            self.assertIn("branch", r.stderr, bad)
        r = self.cli("apps", "set", "Bad/Name", check=False)
        self.assertEqual(r.returncode, 2, r.stderr)
        # Nothing changed by the refusals.
        self.assertEqual(self.cli_json("apps", "set", "webapp", "--json")["deploy_on_push"], "")
        # No token: refused.
        wrong = os.path.join(self.tmp, "wrong-token")
        with open(wrong, "w") as f:
            f.write("0" * 32)
        r = self.cli("apps", "set", "webapp", "--deploy-on-push", "master", check=False, token_file=wrong)
        self.assertNotEqual(r.returncode, 0)
        self.assertEqual(self.cli_json("apps", "set", "webapp", "--json")["deploy_on_push"], "")

    def test_setting_survives_a_hub_restart(self):
        self.first_commit()
        self.push()
        self.cli("apps", "set", "webapp", "--deploy-on-push", "master")
        self.hub.kill()
        self.hub.start()
        wait_until(lambda: self.connected_drones() == {"d1"}, 15, what="drone back")
        self.assertEqual(self.cli_json("apps", "set", "webapp", "--json")["deploy_on_push"], "master")
        with open(os.path.join(self.hub.data, "deployments.json")) as f:
            self.assertEqual(json.load(f)["app_settings"]["webapp"]["deploy_on_push"], "master")
        b = self.commit({"greeting.txt": "after restart\n"}, "after")
        r = self.push_verbose()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(self.web_entries(b)), 1)


if __name__ == "__main__":
    import unittest
    unittest.main()
