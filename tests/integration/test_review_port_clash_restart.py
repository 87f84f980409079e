"""Hostile-app review (issue 13): a port clash outside a deploy.

A deploy re-allocates an instance's port when a stranger holds it
(drone/agent.cc MoveOffClash), but only while the deploy waits
(AwaitReady). When a running instance crashes and a local process takes the
port before the restart (any process may bind a free port; with one shared
--app-user, a co-tenant app can also kill the victim first), the restart
fails to bind, the supervisor marks the instance failed with a port clash,
and nothing moves it: the app stays down until someone redeploys.
Expected: the instance is started again on another port.
"""
import json
import os
import socket
import time
import unittest
import urllib.request

from harness import DeployTest, wait_until, http_app

APP = http_app()


class ClashAfterCrashTest(DeployTest):
    DRONES = ("d1",)

    def test_a_crashed_instance_whose_port_was_taken_restarts_on_another_port(self):
        commit = self.commit({"app.py": APP, "Procfile": "web: exec python3 app.py\n"})
        self.push()
        self.cli("deploy", "webapp", "master", timeout=60)
        [entry] = self.show("webapp")[commit]["web"]
        port = entry["port"]
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/crash", timeout=5)
        except Exception:  # noqa: BLE001 - the app dies mid-request
            pass
        squatter = socket.socket()
        self.addCleanup(squatter.close)
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        deadline = time.monotonic() + 5
        while True:
            try:
                squatter.bind(("127.0.0.1", port))
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.001)
        squatter.listen(8)

        seen = {}

        def moved():
            seen["ps"] = [p for p in json.loads(self.cli("ps", "--json").stdout) if p["app"] == "webapp"]
            seen["registry"] = self.show("webapp").get(commit, {}).get("web", [])
            procs, entries = seen["ps"], seen["registry"]
            return (len(procs) == 1 and procs[0]["state"] == "running" and len(entries) == 1
                    and entries[0]["port"] != port)
        try:
            wait_until(moved, 20, what="the instance to run again on another port")
        except AssertionError as e:
            raise AssertionError(f"{e}; ps: {seen.get('ps')}; registry: {seen.get('registry')}") from None


if __name__ == "__main__":
    unittest.main()
