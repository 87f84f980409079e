"""A loopback cluster for the console's browser tests and its benchmark.

A registry, a hub with its console on 127.0.0.1 (port 0), two drones and a
registry-mode router with --hub; webapp pushed in two commits (control A,
treatment B) and both deployed, split 50/50; users visit through the router
and some post a `purchase`, so `skyport stats --json` has experiment data.
Everything is started by the test (tests/integration/harness.py) and stopped
by pid.
"""
import http.client
import json
import os
import resource
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

from harness import DeployTest, Router, wait_until  # noqa: E402
from test_router import cookie_pair, get  # noqa: E402

from test_console_api import APP, HOST  # noqa: E402  (the commit-echo app, one copy)
LINUX = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"


def python_with_selenium():
    """Another interpreter that has Selenium when this one has not (a pyenv python3 first on
    PATH does not see Debian's python3-selenium; /usr/bin/python3 does), or None."""
    try:
        import selenium  # noqa: F401
        return None
    except ImportError:
        pass
    for py in ("/usr/bin/python3",):
        if (os.path.exists(py) and os.path.realpath(py) != os.path.realpath(sys.executable)
                and subprocess.run([py, "-c", "import selenium"], capture_output=True).returncode == 0):
            return py
    return None


def browser_missing():
    """Why a real browser cannot run here, or None."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return (f"Selenium is not importable from {sys.executable} (apt-get install python3-selenium; "
                "run the test with /usr/bin/python3)")
    if not (shutil.which("chromium") or shutil.which("chromium-browser")):
        return "chromium is not installed (apt-get install chromium)"
    if not shutil.which("chromedriver"):
        return "chromedriver is not installed (apt-get install chromium-driver)"
    # Chromium reserves far more address space than it uses: under `ulimit -v` it dies at start (SIGTRAP).
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if soft != resource.RLIM_INFINITY:
        if hard == resource.RLIM_INFINITY:
            resource.setrlimit(resource.RLIMIT_AS, (hard, hard))
        else:
            return f"the address space is limited (ulimit -v {hard // 1024}): Chromium needs it unlimited"
    return None


def new_browser(width=1280, height=900):
    from selenium import webdriver
    o = webdriver.ChromeOptions()
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              f"--window-size={width},{height}", "--force-device-scale-factor=1"):
        o.add_argument(a)
    o.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=o)


def console_port(hub):
    """The hub's console port (harness Hub.console_port(): its "listening" log line)."""
    return wait_until(lambda: hub.console_port(), 10, what="the console's port in the hub's log")


def artifact_dir(name="console"):
    base = os.environ.get("SKYPORT_ARTIFACTS") or os.path.join(
        os.environ.get("SKYPORT_BIN", os.path.join(HERE, "..", "..", "build")), "test-artifacts")
    d = os.path.abspath(os.path.join(base, name))
    os.makedirs(d, exist_ok=True)
    return d


class ConsoleCluster(DeployTest):
    """DeployTest whose hub serves the console on a free loopback port."""

    HUB_EXTRA = ("--console-listen", "127.0.0.1:0", "--gate-interval-ms", "300")

    def setUp(self):
        super().setUp()
        self.console = f"http://127.0.0.1:{console_port(self.hub)}"

    def start_webapp(self, users=120, buy_every=3):
        """Two commits of webapp deployed, a router, a 50/50 split, `users` first visits
        and a purchase from every `buy_every`-th user; waits until the hub has them all."""
        self.a = self.commit({"app.py": APP, "Procfile": "web: python3 app.py\n"}, "control")
        self.push()
        self.cli("deploy", "webapp", self.a[:8])
        self.b = self.commit({"app.py": APP + "# treatment\n"}, "treatment")
        self.push()
        self.cli("deploy", "webapp", self.b[:8])
        self.router = Router(self.tmp, self.token_file, registry=self.registry,
                             extra=["--hub", self.hub.address(), "--new-users-address-burst", "100000"]).start()
        self.addCleanup(self.router.kill)
        self.cli("split", "webapp", f"{self.a}=50", f"{self.b}=50")
        self.wait_router_follows()
        bought = 0
        for i in range(users):
            status, h, _ = get(self.router.port, host=HOST, headers={"User-Agent": LINUX})
            assert status == 200, status
            if i % buy_every == 0:
                body = json.dumps({"event": "purchase", "value": 5 + i % 11}).encode()
                conn = http.client.HTTPConnection("127.0.0.1", self.router.port, timeout=10)
                conn.request("POST", "/_skyport/events", body=body,
                             headers={"Host": HOST, "Content-Type": "application/json",
                                      "Cookie": cookie_pair(h["set-cookie"])})
                r = conn.getresponse()
                r.read()
                conn.close()
                assert r.status == 202, r.status
                bought += 1

        def all_at_hub():
            doc = self.cli_json("stats", "webapp", "--event", "purchase", "--json")
            arms = [a for b in doc["experiment"]["buckets"] for a in b["arms"]]
            return sum(a["events"] for a in arms) == bought and sum(a["users"] for a in arms) >= users
        wait_until(all_at_hub, 30, interval=0.3, what="every visit and purchase at the hub")
        return bought

    def route_weights(self):
        return {k: int(v) for k, v in self.cli_json("registry", "route", "get", "webapp")["weights"].items()}

    def wait_router_follows(self, timeout=15):
        """The router's table is at the route's revision (it serves the new weights)."""
        rev = int(self.cli_json("registry", "route", "get", "webapp")["revision"])
        wait_until(lambda: self.router.metric("skyport_router_table_revision", default=-1) >= rev, timeout,
                   what=f"router at route revision {rev}")
        return rev
