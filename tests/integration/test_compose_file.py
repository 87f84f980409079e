"""docker-compose.yml, docker/Dockerfile and docker/scenario.sh, without a Docker engine.

- ComposeFileTest: Debian's docker-compose (v1) parses the file (`config -q` needs no
  engine) and the resolved config describes the namespace rig's topology: registry, hub,
  router and drone-1..3 on one network, daemons listening on 0.0.0.0, drones advertising
  their own service name, the token as a secret, health checks, flags the binaries know.
  If docker-compose is missing it is installed with apt-get (root only; set
  SKYPORT_NO_APT=1 to forbid); if that is impossible these tests are SKIPPED, saying why.
- DockerfileTest: the build stage is Debian 12 with scripts/setup.sh's packages and builds
  with CMake + Ninja; the runtime stage gets only the binaries, python3, git and the Debian
  packages that hold the libraries the built binaries link (checked with readelf + dpkg
  when the binaries are built); hadolint-style rules.
- ScenarioOnLoopbackTest: docker/scenario.sh's client phases against real daemons on
  127.0.0.1 with three drones, the third killed (SIGKILL, its apps too, as `docker kill`
  does to a container) under the scenario's load loop, then started again.
The rig itself, run in containers: tests/compose/test_compose_rig.py (ctest compose.rig).
"""
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

import harness
from harness import Drone, Hub, Router

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
COMPOSE_FILE = os.path.join(ROOT, "docker-compose.yml")
DOCKERFILE = os.path.join(ROOT, "docker", "Dockerfile")
PREBUILT = os.path.join(ROOT, "docker", "Dockerfile.prebuilt")
SCENARIO = os.path.join(ROOT, "docker", "scenario.sh")

DAEMONS = {"registry": "skyport-registry", "hub": "skyport-hub", "router": "skyport-router",
           "drone-1": "skyport-drone", "drone-2": "skyport-drone", "drone-3": "skyport-drone"}
DRONES = ("drone-1", "drone-2", "drone-3")
BINARIES = ("skyport-registry", "skyport-hub", "skyport-drone", "skyport-router", "skyport")


# ---------------------------------------------------------------- helpers

def load_yaml(text):
    """PyYAML if this python has it, else Debian's python3-yaml (a docker-compose dependency)."""
    try:
        import yaml  # noqa: PLC0415
        return yaml.safe_load(text)
    except ImportError:
        pass
    for py in ("/usr/bin/python3",):
        if os.path.exists(py) and os.path.realpath(py) != os.path.realpath(sys.executable):
            r = subprocess.run([py, "-c", "import json,sys,yaml; print(json.dumps(yaml.safe_load(sys.stdin)))"],
                               input=text, capture_output=True, text=True, timeout=30)
            if r.returncode == 0:
                return json.loads(r.stdout)
    raise unittest.SkipTest("no YAML parser: install python3-yaml (it comes with docker-compose)")


_compose_skip_reason = None


def docker_compose():
    """Path of docker-compose v1, installing Debian's package if missing; SkipTest if impossible."""
    global _compose_skip_reason
    if _compose_skip_reason:
        raise unittest.SkipTest(_compose_skip_reason)
    path = shutil.which("docker-compose")
    if path:
        return path
    why = ""
    if os.environ.get("SKYPORT_NO_APT"):
        why = "SKYPORT_NO_APT is set"
    elif os.geteuid() != 0:
        why = "not root, so apt-get cannot install it"
    elif not shutil.which("apt-get"):
        why = "no apt-get on this machine"
    else:
        # Bounded so that ctest's 300 s TIMEOUT is never what ends it: a skip, not a failure.
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "-o", "DPkg::Lock::Timeout=60",
                   "docker-compose"]
        try:
            r = subprocess.run(install, capture_output=True, text=True, timeout=120, env=env)
            if r.returncode != 0:  # the package lists may be missing or stale
                subprocess.run(["apt-get", "update", "-qq"], capture_output=True, timeout=60, env=env)
                r = subprocess.run(install, capture_output=True, text=True, timeout=60, env=env)
            why = f"`apt-get install docker-compose` failed: {(r.stderr or r.stdout).strip()[-300:]}"
        except (OSError, subprocess.TimeoutExpired) as e:
            why = f"`apt-get install docker-compose` failed: {e}"
        path = shutil.which("docker-compose")
        if path:
            return path
    _compose_skip_reason = f"docker-compose (Debian package docker-compose) is not installed: {why}"
    raise unittest.SkipTest(_compose_skip_reason)


def compose(*args):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMPOSE_", "DOCKER_", "SKYPORT_"))}
    return subprocess.run([docker_compose(), "-f", COMPOSE_FILE, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env=env)


def flags_of(command):
    """['prog', '--a=1', '--b', '2', '--c'] -> {'--a': '1', '--b': '2', '--c': ''}."""
    out, i = {}, 1
    while i < len(command):
        arg = command[i]
        if not arg.startswith("--"):
            raise AssertionError(f"unexpected argument {arg!r} in {command}")
        if "=" in arg:
            k, v = arg.split("=", 1)
        elif i + 1 < len(command) and not command[i + 1].startswith("--"):
            k, v = arg, command[i + 1]
            i += 1
        else:
            k, v = arg, ""
        out[k] = v
        i += 1
    return out


def volumes_of(svc):
    """Mounts in short ("src:target[:mode]") or long syntax -> [{type, source, target}]."""
    out = []
    for v in svc.get("volumes", []):
        if isinstance(v, str):
            src, target = v.split(":")[:2]
            kind = "bind" if src.startswith(("/", ".", "~")) else "volume"
            v = {"type": kind, "source": src, "target": target}
        out.append(v)
    return out


def ports_of(svc):
    """Published ports in short ("[ip:]published:target[/proto]") or long syntax -> {target: (host_ip, published)}."""
    out = {}
    for p in svc.get("ports", []):
        if isinstance(p, str):
            parts = p.split("/")[0].split(":")
            ip = parts[0] if len(parts) == 3 else ""
            out[int(parts[-1])] = (ip, int(parts[-2]))
        else:
            out[int(p["target"])] = (p.get("host_ip", ""), int(p["published"]))
    return out


def host_port(addr):
    host, _, port = addr.rpartition(":")
    return host, int(port)


def built_binary(name):
    try:
        return harness.binary(name)
    except FileNotFoundError:
        return None


def dockerfile_args(path=DOCKERFILE):
    """{name: default} of the ARGs before the first FROM (the base images)."""
    out = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.upper().startswith("FROM "):
                break
            m = re.match(r"ARG\s+(\w+)=(\S+)$", line, re.I)
            if m:
                out[m.group(1)] = m.group(2)
    return out


def dockerfile_stages(path=DOCKERFILE):
    """[(from_image, name, [instruction lines])] with continuation lines joined; a FROM ${ARG}
    is resolved to the ARG's default."""
    with open(path) as f:
        text = f.read()
    args = dockerfile_args(path)
    text = re.sub(r"\\\n", " ", text)
    stages = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if not stages and line.upper().startswith("ARG "):
            continue
        if line.upper().startswith("FROM "):
            m = re.match(r"FROM\s+(\S+)(?:\s+AS\s+(\S+))?$", line, re.I)
            assert m, f"bad FROM: {line}"
            image = re.sub(r"\$\{(\w+)\}", lambda v: args[v.group(1)], m.group(1))
            stages.append((image, m.group(2), []))
        else:
            assert stages, f"instruction before FROM: {line}"
            stages[-1][2].append(line)
    return stages


def apt_packages(run_lines):
    """Packages named by `apt-get install` in RUN lines."""
    pkgs = []
    for line in run_lines:
        for cmd in re.split(r"&&|;", line[len("RUN"):]):
            words = shlex.split(cmd)
            if words[:2] == ["apt-get", "install"]:
                pkgs += [w for w in words[2:] if not w.startswith("-")]
    return pkgs


def setup_sh_packages():
    with open(os.path.join(ROOT, "scripts", "setup.sh")) as f:
        m = re.search(r"^PKGS=\((.*?)\)", f.read(), re.S | re.M)
    assert m, "no PKGS=(...) in scripts/setup.sh"
    return m.group(1).split()


# ---------------------------------------------------------------- compose

class ComposeFileTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        r = compose("config")
        if r.returncode != 0:
            raise AssertionError(f"docker-compose config failed:\n{r.stderr}")
        cls.config = load_yaml(r.stdout)
        with open(COMPOSE_FILE) as f:
            cls.raw = load_yaml(f.read())
        cls.services = cls.config["services"]

    def flags(self, service):
        return flags_of(self.services[service]["command"])

    def test_config_parses_quietly(self):
        r = compose("config", "-q")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr.strip(), "", "docker-compose warns about the file")

    def test_compose_spec_schema(self):
        """docker compose v2 reads the Compose Specification: the file validates against its schema
        (tests/compose/compose-spec.json: compose-spec/compose-spec, schema/compose-spec.json at
        170098ba07d9, Apache-2.0). v1 runs the rig itself (tests/compose/test_compose_rig.py)."""
        try:
            import jsonschema  # noqa: PLC0415
        except ImportError:
            self.skipTest("no jsonschema module (Debian: python3-jsonschema)")
        with open(os.path.join(ROOT, "tests", "compose", "compose-spec.json")) as f:
            validator = jsonschema.Draft7Validator(json.load(f))
        errors = [f"{'/'.join(map(str, e.path))}: {e.message[:200]}" for e in validator.iter_errors(self.raw)]
        self.assertEqual(errors, [])
        bad = json.loads(json.dumps(self.raw))
        bad["services"]["drone-1"]["cap_add"] = "SYS_PTRACE"  # a string, not a list
        bad["services"]["hub"]["no_such_key"] = 1
        self.assertEqual(len(list(validator.iter_errors(bad))), 2, "the schema catches nothing")

    def test_file_format_3x(self):
        self.assertRegex(str(self.raw.get("version")), r"^3\.\d+$")

    def test_topology(self):
        self.assertLessEqual(set(DAEMONS), set(self.services))
        self.assertLessEqual(set(self.services) - set(DAEMONS), {"client"})
        for name, svc in self.services.items():
            with self.subTest(service=name):
                self.assertEqual(list(svc["networks"]), ["skyport"], "every service on the one network")
                self.assertEqual(svc["image"], "skyport:local")
                self.assertEqual(os.path.realpath(svc["build"]["context"]), ROOT)
                self.assertEqual(os.path.realpath(os.path.join(ROOT, svc["build"]["dockerfile"])), DOCKERFILE)
                self.assertTrue(svc.get("init"), "init: true (signals forwarded, orphans reaped)")
        for name, prog in DAEMONS.items():
            with self.subTest(service=name):
                self.assertEqual(self.services[name]["command"][0], prog)
                self.assertEqual(self.services[name].get("hostname"), name)

    def test_servers_listen_on_all_interfaces(self):
        for svc, keys in {"registry": ["--listen"], "hub": ["--listen", "--git-listen"],
                          "router": ["--listen", "--admin"]}.items():
            for k in keys:
                with self.subTest(service=svc, flag=k):
                    self.assertEqual(host_port(self.flags(svc)[k])[0], "0.0.0.0")
        for svc in ("registry", "hub"):  # only the health check reads them: no token-less /metrics beyond loopback
            self.assertEqual(host_port(self.flags(svc)["--metrics-listen"])[0], "127.0.0.1")

    def test_clients_find_the_servers_by_service_name(self):
        registry_port = host_port(self.flags("registry")["--listen"])[1]
        hub_port = host_port(self.flags("hub")["--listen"])[1]
        self.assertEqual(self.flags("router")["--registry"], f"registry:{registry_port}")
        self.assertIn(self.flags("router").get("--role", "web"), ("web",))
        self.assertEqual(self.flags("router")["--advertise"], "router")
        for d in DRONES:
            with self.subTest(drone=d):
                f = self.flags(d)
                self.assertEqual(f["--hub"], f"hub:{hub_port}")
                self.assertEqual(f["--registry"], f"registry:{registry_port}")
                self.assertEqual(f["--name"], d)
                self.assertEqual(f["--advertise"], d, "a drone advertises its own address")
                self.assertEqual(f.get("--app-uids"), "30000-39999", "each app runs as a uid of its own, never the drone's")
                # The drone reads the fds of its apps (other uids) to tell their listeners from a stranger's.
                self.assertEqual(self.services[d].get("cap_add"), ["SYS_PTRACE"])
                self.assertEqual(f.get("--lease-ttl"), self.services["client"]["environment"]["SCENARIO_LEASE_TTL"])
                self.assertIn(self.services[d]["depends_on"], ({"hub": {"condition": "service_started"},
                                                               "registry": {"condition": "service_started"}},
                                                              ["hub", "registry"]))
        env = self.services["client"]["environment"]
        self.assertEqual(env["SKYPORT_REGISTRY"], f"registry:{registry_port}")
        self.assertEqual(env["SKYPORT_HUB"], f"hub:{hub_port}")

    def test_data_on_named_volumes(self):
        seen = set()
        for svc in ("registry", "hub", *DRONES):
            with self.subTest(service=svc):
                data = self.flags(svc)["--data"]
                mounts = {v["target"]: v for v in volumes_of(self.services[svc])}
                self.assertIn(data, mounts, f"--data {data} is not a volume")
                self.assertEqual(mounts[data]["type"], "volume")
                self.assertNotIn(mounts[data]["source"], seen, "each service its own volume")
                seen.add(mounts[data]["source"])
                self.assertIn(mounts[data]["source"], self.config["volumes"])

    def test_token_is_a_secret(self):
        secret = self.config["secrets"]["skyport_token"]
        self.assertEqual(os.path.realpath(secret["file"]), os.path.join(ROOT, "docker", "secrets", "token"))
        with open(COMPOSE_FILE) as f:
            text = f.read()
        self.assertNotRegex(text, r"--token(?!-file)|SKYPORT_TOKEN\s*[:=]", "no token in the file itself")
        for name, svc in self.services.items():
            with self.subTest(service=name):
                self.assertIn("skyport_token", [s["source"] for s in svc["secrets"]])
                self.assertEqual(svc["environment"]["SKYPORT_TOKEN_FILE"], "/run/secrets/skyport_token")
        r = subprocess.run(["git", "-C", ROOT, "ls-files", "docker/secrets"], capture_output=True, text=True)
        if r.returncode == 0:
            self.assertEqual(r.stdout.split(), [] if not r.stdout.strip() else ["docker/secrets/.gitignore"])
        r = subprocess.run(["git", "-C", ROOT, "check-ignore", "-q", "docker/secrets/token"])
        if r.returncode in (0, 1):
            self.assertEqual(r.returncode, 0, "docker/secrets/token must be git-ignored")

    def test_health_checks(self):
        expect = {"registry": f"http://127.0.0.1:{host_port(self.flags('registry')['--metrics-listen'])[1]}/healthz",
                  "hub": f"http://127.0.0.1:{host_port(self.flags('hub')['--metrics-listen'])[1]}/healthz",
                  "router": f"http://127.0.0.1:{host_port(self.flags('router')['--admin'])[1]}/healthz"}
        for d in DRONES:
            expect[d] = ["drone", d]
        for svc, want in expect.items():
            with self.subTest(service=svc):
                hc = self.services[svc]["healthcheck"]
                self.assertEqual(hc["test"][:2], ["CMD", "skyport-healthcheck"])
                self.assertEqual(hc["test"][2:], want if isinstance(want, list) else [want])
                for k in ("interval", "timeout", "retries"):
                    self.assertIn(k, hc)

    def test_published_ports(self):
        def published(svc):
            return ports_of(self.services[svc])
        router = published("router")
        self.assertEqual(router[host_port(self.flags("router")["--listen"])[1]], ("", 8080))
        hub = published("hub")
        self.assertEqual(hub[host_port(self.flags("hub")["--git-listen"])[1]][0], "127.0.0.1")
        for svc in (*DRONES, "client"):
            self.assertEqual(published(svc), {}, f"{svc}: app ports stay inside the network")

    def test_client_runs_the_scenario(self):
        client = self.services["client"]
        env = client["environment"]
        self.assertEqual(env["SCENARIO_DRONES"].split(),
                         [f'{self.flags(d)["--name"]}={self.flags(d)["--advertise"]}' for d in DRONES])
        self.assertEqual(env["SCENARIO_STOPPED_DRONE"], self.flags("drone-3")["--name"])
        self.assertEqual(env["SCENARIO_ROUTER"], f"http://router:{host_port(self.flags('router')['--listen'])[1]}")
        self.assertEqual(env["SCENARIO_ROUTER_ADMIN"], f"http://router:{host_port(self.flags('router')['--admin'])[1]}")
        self.assertEqual(env["SCENARIO_GIT"], f"http://hub:{host_port(self.flags('hub')['--git-listen'])[1]}")
        mounts = {os.path.realpath(v["source"]): v["target"] for v in volumes_of(client) if v["type"] == "bind"}
        self.assertEqual(mounts[os.path.join(ROOT, "docker")], "/opt/skyport/src/docker")
        self.assertEqual(mounts[os.path.join(ROOT, "examples")], env["SCENARIO_EXAMPLES"])
        with open(SCENARIO) as f:
            self.assertRegex(f.read(), r"exec -T [^\n]*client bash /opt/skyport/src/docker/scenario.sh client")

    def test_flags_are_known_to_the_binaries(self):
        for svc, prog in DAEMONS.items():
            path = built_binary(prog)
            if not path:
                self.skipTest(f"{prog} not built (SKYPORT_BIN={harness.BIN})")
            helptext = subprocess.run([path, "--help"], capture_output=True, text=True, timeout=10).stdout
            for flag in self.flags(svc):
                with self.subTest(service=svc, flag=flag):
                    self.assertRegex(helptext, rf"(^|[\s,]){re.escape(flag)}\b", f"{prog} --help lacks {flag}")


# ---------------------------------------------------------------- Dockerfile

class DockerfileTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.stages = dockerfile_stages()
        cls.by_name = {name: lines for _, name, lines in cls.stages}
        cls.froms = {name: image for image, name, _ in cls.stages}

    def runs(self, stage):
        return [line for line in self.by_name[stage] if line.upper().startswith("RUN ")]

    def test_stages(self):
        self.assertEqual([name for _, name, _ in self.stages], ["build", "runtime"])
        self.assertIn(self.froms["build"], ("debian:12", "debian:bookworm"))
        self.assertRegex(self.froms["runtime"], r"^debian:(12|bookworm)(-slim)?$")

    def test_base_images_are_build_arguments(self):
        """Docker Hub's images by default; scripts/debian-base-image.sh's where none is reachable."""
        self.assertEqual(dockerfile_args(), {"BASE": "debian:12", "RUNTIME_BASE": "debian:12-slim"})
        with open(DOCKERFILE) as f:
            froms = re.findall(r"(?m)^FROM\s+(\S+)", f.read())
        self.assertEqual(froms, ["${BASE}", "${RUNTIME_BASE}"])

    def test_prebuilt_is_the_runtime_stage_with_copied_binaries(self):
        """docker/Dockerfile.prebuilt (tests/compose/) makes the same image as the runtime stage,
        from binaries already built: same user, directories, scripts, ports, entrypoint."""
        stages = dockerfile_stages(PREBUILT)
        self.assertEqual(len(stages), 1)
        self.assertEqual(dockerfile_args(PREBUILT), {"BASE": "skyport-debian:12-runtime"})
        prebuilt = [line for line in stages[0][2] if not re.match(r"COPY (lib|bin)/ ", line)]
        runtime = [line for line in self.by_name["runtime"]
                   if not ("apt-get install" in line or "--from=build" in line or line.startswith("ARG "))]
        self.assertEqual(prebuilt, runtime)
        copies = [line for line in stages[0][2] if re.match(r"COPY (lib|bin)/ ", line)]
        self.assertEqual(copies, ["COPY lib/ /usr/lib/x86_64-linux-gnu/", "COPY bin/ /usr/local/bin/"])

    def test_build_stage_has_setup_sh_packages(self):
        self.assertEqual(sorted(apt_packages(self.runs("build"))), sorted(setup_sh_packages()))

    def test_build_stage_uses_cmake_and_ninja(self):
        text = " ".join(self.runs("build"))
        self.assertRegex(text, r"cmake -S \. -B (\S+) -G Ninja -DCMAKE_BUILD_TYPE=Release")
        for b in BINARIES:
            self.assertIn(b, text)

    def test_runtime_stage_is_small(self):
        pkgs = apt_packages(self.runs("runtime"))
        for p in ("python3", "git"):
            self.assertIn(p, pkgs)
        for p in pkgs:
            self.assertFalse(p.endswith("-dev") or p in ("build-essential", "cmake", "ninja-build", "ccache", "catch2"),
                             f"build-only package {p} in the runtime image")
        copies = [line for line in self.by_name["runtime"] if line.upper().startswith("COPY ")]
        from_build = [c for c in copies if "--from=build" in c]
        self.assertEqual(from_build, ["COPY --from=build /out/ /usr/local/bin/"])
        install = next(line for line in self.runs("build") if "install -s" in line)
        self.assertEqual(sorted(os.path.basename(w) for w in shlex.split(install.split("install -s", 1)[1])
                                if w.startswith("/build/")), sorted(BINARIES))

    def test_runtime_packages_hold_the_linked_libraries(self):
        paths = [built_binary(b) for b in BINARIES]
        if not all(paths):
            self.skipTest(f"binaries not built (SKYPORT_BIN={harness.BIN})")
        for tool in ("readelf", "dpkg", "dpkg-query", "ldconfig"):
            if not shutil.which(tool) and not os.path.exists(f"/sbin/{tool}"):
                self.skipTest(f"{tool} not available")
        listed = set(apt_packages(self.runs("runtime")))
        # What the listed packages pull in (their Depends, recursively, as installed here).
        have, todo = set(), list(listed) + ["libc6"]
        while todo:
            p = todo.pop()
            if p in have:
                continue
            have.add(p)
            r = subprocess.run(["dpkg-query", "-W", "-f=${Depends},${Pre-Depends}", p], capture_output=True, text=True)
            for alt in r.stdout.split(","):
                name = alt.split("|")[0].strip().split(" ")[0].split(":")[0]
                if name:
                    todo.append(name)
        ldconfig = shutil.which("ldconfig") or "/sbin/ldconfig"
        cache = subprocess.run([ldconfig, "-p"], capture_output=True, text=True).stdout
        for b in paths:
            dyn = subprocess.run(["readelf", "-d", b], capture_output=True, text=True).stdout
            for soname in re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]", dyn):
                with self.subTest(binary=os.path.basename(b), library=soname):
                    m = re.search(rf"^\s*{re.escape(soname)} \(.*?\) => (\S+)$", cache, re.M)
                    self.assertTrue(m, f"{soname} not in the ldconfig cache")
                    owner = subprocess.run(["dpkg", "-S", os.path.realpath(m.group(1))], capture_output=True, text=True)
                    if owner.returncode != 0:  # /lib vs /usr/lib (merged /usr)
                        owner = subprocess.run(["dpkg", "-S", m.group(1)], capture_output=True, text=True)
                    self.assertEqual(owner.returncode, 0, f"no package owns {m.group(1)}")
                    pkg = owner.stdout.split(":")[0]
                    self.assertTrue(pkg in have, f"{soname} is in {pkg}, which the runtime stage does not install")

    def test_hadolint_style(self):
        for image, name, lines in self.stages:
            self.assertNotRegex(image, r":latest$|^[^:]+$", "pin the base image's tag")
            for line in lines:
                with self.subTest(stage=name, line=line[:60]):
                    self.assertFalse(line.upper().startswith("ADD "), "COPY, not ADD")
                    self.assertNotRegex(line, r"\bsudo\b")
                    if line.upper().startswith("WORKDIR "):
                        self.assertTrue(line.split()[1].startswith("/"))
                    if line.upper().startswith(("ENTRYPOINT ", "CMD ")):
                        json.loads(line.split(None, 1)[1])  # exec form
                    if line.upper().startswith("RUN "):
                        self.assertNotRegex(line, r"(^|&&|;)\s*cd\s", "WORKDIR, not cd")
                        if "apt-get install" in line:
                            self.assertIn("apt-get update", line)
                            self.assertIn("--no-install-recommends", line)
                            self.assertRegex(line, r"apt-get install -y\b")
                            self.assertIn("rm -rf /var/lib/apt/lists/*", line)

    def test_build_context(self):
        # .dockerignore: everything out, then what the build reads back in; never the token.
        with open(os.path.join(ROOT, ".dockerignore")) as f:
            rules = [line.strip() for line in f if line.strip() and not line.startswith("#")]
        self.assertEqual(rules[0], "*")
        allowed = [r[1:].rstrip("/") for r in rules if r.startswith("!")]
        self.assertFalse([a for a in allowed if a.startswith("docker/secrets") or a == "docker"])
        for top in ("CMakeLists.txt", "cmake", "proto", "core", "contract", "registry", "hub", "drone", "router", "cli",
                    "bench", "examples"):
            self.assertIn(top, allowed, f"the build needs {top}")
        for _, _, lines in self.stages:
            for line in lines:
                if line.upper().startswith("COPY ") and "--from=" not in line:
                    for src in shlex.split(line)[1:-1]:
                        src = src.rstrip("/")
                        if src != ".":
                            self.assertTrue(any(src == a or src.startswith(a + "/") for a in allowed),
                                            f"{src} is not in the build context")

    def test_scripts(self):
        for script, shell in (("entrypoint.sh", "sh"), ("healthcheck.sh", "sh"), ("make-token.sh", "sh"),
                              ("scenario.sh", "bash")):
            path = os.path.join(ROOT, "docker", script)
            with self.subTest(script=script):
                self.assertTrue(os.access(path, os.X_OK), f"{script} is not executable")
                r = subprocess.run([shell, "-n", path], capture_output=True, text=True)
                self.assertEqual(r.returncode, 0, r.stderr)
                if shutil.which("shellcheck"):
                    r = subprocess.run(["shellcheck", path], capture_output=True, text=True)
                    self.assertEqual(r.returncode, 0, r.stdout)

    @unittest.skipUnless(os.geteuid() == 0 and shutil.which("unshare"),
                         "needs root and unshare(1) for a private mount namespace")
    def test_entrypoint_keeps_the_token_from_the_drones_apps(self):
        """docker/entrypoint.sh, run in a mount namespace of its own (tmpfs over /run and /var/lib):
        the drone stays root with the token readable by root only, its data dir only searchable by
        others (the app user reaches its checkouts); another daemon runs as `skyport`."""
        with tempfile.TemporaryDirectory() as tmp:
            secret = os.path.join(tmp, "secret")
            with open(secret, "w") as f:
                f.write("t0ken\n")
            os.chmod(secret, 0o600)
            fake = os.path.join(tmp, "skyport-drone")
            with open(fake, "w") as f:
                f.write('#!/bin/sh\nid -u; stat -c "%U %a" "$SKYPORT_TOKEN_FILE" /run/skyport '
                        '/var/lib/skyport /var/lib/skyport/drone; echo "$SKYPORT_DRONE_TOKEN_FILE"\n')
            os.chmod(fake, 0o755)
            script = ("set -e; mount -t tmpfs tmpfs /run; mount -t tmpfs tmpfs /var/lib; "
                      "mkdir -p /var/lib/skyport/drone; "
                      f"SKYPORT_TOKEN_FILE={secret} sh {os.path.join(ROOT, 'docker', 'entrypoint.sh')} {fake}")
            r = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script],
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout.split("\n")[:6], ["0", "root 600", "root 700", "root 711", "root 711",
                                                        "/run/skyport/token"], r.stdout)

    def test_entrypoint_as_another_user_points_the_daemons_own_variable_at_the_secret(self):
        """docker run --user: no copy, but a daemon reads only its own variable, so the entrypoint
        sets it from the compose file's SKYPORT_TOKEN_FILE (unless it is set already)."""
        with tempfile.TemporaryDirectory() as tmp:
            os.chmod(tmp, 0o755)
            for daemon in ("registry", "hub", "drone", "router"):
                fake = os.path.join(tmp, f"skyport-{daemon}")
                with open(fake, "w") as f:
                    f.write(f'#!/bin/sh\necho "${{SKYPORT_{daemon.upper()}_TOKEN_FILE:-unset}}"\n')
                os.chmod(fake, 0o755)
            entry = os.path.join(ROOT, "docker", "entrypoint.sh")
            for shell in ("sh", "dash"):
                if not shutil.which(shell):
                    continue
                for daemon in ("registry", "hub", "drone", "router"):
                    with self.subTest(shell=shell, daemon=daemon):
                        env = {"PATH": os.environ["PATH"], "SKYPORT_TOKEN_FILE": "/run/secrets/skyport_token"}
                        cmd = [shell, entry, os.path.join(tmp, f"skyport-{daemon}")]
                        if os.geteuid() == 0:
                            cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *cmd]
                        r = subprocess.run(cmd, capture_output=True, text=True, timeout=30, env=env)
                        self.assertEqual(r.returncode, 0, r.stderr)
                        self.assertEqual(r.stdout.strip(), "/run/secrets/skyport_token")
                        env[f"SKYPORT_{daemon.upper()}_TOKEN_FILE"] = "/own"
                        r = subprocess.run(cmd, capture_output=True, text=True, timeout=30, env=env)
                        self.assertEqual(r.stdout.strip(), "/own", r.stderr)

    def test_make_token(self):
        with tempfile.TemporaryDirectory() as tmp:
            os.makedirs(os.path.join(tmp, "docker"))
            shutil.copy(os.path.join(ROOT, "docker", "make-token.sh"), os.path.join(tmp, "docker"))
            script = os.path.join(tmp, "docker", "make-token.sh")
            subprocess.run([script], check=True, capture_output=True)
            token_file = os.path.join(tmp, "docker", "secrets", "token")
            with open(token_file) as f:
                token = f.read()
            self.assertRegex(token, r"^[0-9a-f]{32}$")
            self.assertEqual(os.stat(token_file).st_mode & 0o777, 0o600)
            subprocess.run([script], check=True, capture_output=True)  # kept, not replaced
            with open(token_file) as f:
                self.assertEqual(f.read(), token)


# ---------------------------------------------------------------- systemd units

class SystemdUnitsTest(unittest.TestCase):
    UNITS = {"registry": "skyport-registry", "hub": "skyport-hub", "drone": "skyport-drone", "router": "skyport-router"}
    DIR = os.path.join(ROOT, "docs", "systemd")

    def unit(self, daemon):
        """{section: [(key, value)]} (keys may repeat, as systemd allows)."""
        out, section = {}, None
        with open(os.path.join(self.DIR, f"skyport-{daemon}.service")) as f:
            for line in f:
                line = line.strip()
                if not line or line.startswith(("#", ";")):
                    continue
                if line.startswith("["):
                    section = line.strip("[]")
                    out.setdefault(section, [])
                else:
                    k, v = line.split("=", 1)
                    out[section].append((k.strip(), v.strip()))
        return out

    def test_units(self):
        for daemon, prog in self.UNITS.items():
            with self.subTest(unit=daemon):
                u = self.unit(daemon)
                svc = dict(u["Service"])
                if daemon == "drone":
                    # Root, to run the apps as a user that cannot read the token, in cgroups of their own.
                    self.assertNotIn("User", svc)
                    self.assertIn("--app-uids 30000-39999", svc["ExecStart"])
                    self.assertEqual(svc["Delegate"], "yes")
                else:
                    self.assertEqual(svc["User"], "skyport")
                self.assertEqual(svc["Restart"], "always")
                env_files = [v for k, v in u["Service"] if k == "EnvironmentFile"]
                self.assertEqual(env_files, ["/etc/skyport/env", f"-/etc/skyport/{daemon}.env"])
                self.assertEqual(dict(u["Install"])["WantedBy"], "multi-user.target")
                self.assertIn("network-online.target", dict(u["Unit"])["After"])
                argv = shlex.split(svc["ExecStart"])
                self.assertEqual(argv[0], f"/usr/local/bin/{prog}")
                self.assertNotIn("--token", " ".join(argv), "the token comes from SKYPORT_<DAEMON>_TOKEN_FILE in /etc/skyport/env")
                if daemon != "router":
                    self.assertEqual(svc["StateDirectory"], f"skyport/{daemon}")
                    self.assertIn(f"--data /var/lib/skyport/{daemon}", svc["ExecStart"])
                path = built_binary(prog)
                if path:
                    helptext = subprocess.run([path, "--help"], capture_output=True, text=True, timeout=10).stdout
                    for flag in (a for a in argv if a.startswith("--")):
                        self.assertRegex(helptext, rf"(^|[\s,]){re.escape(flag)}\b", f"{prog} --help lacks {flag}")
        self.assertEqual(dict(self.unit("drone")["Service"])["KillMode"], "mixed")  # the drone stops its apps itself
        with open(os.path.join(self.DIR, "env.example")) as f:
            example = f.read()
        # Each daemon reads only its own variables (docs/operations.md, "Settings"); the CLI the short ones.
        for daemon in self.UNITS:
            self.assertIn(f"SKYPORT_{daemon.upper()}_TOKEN_FILE=/etc/skyport/token\n", example)
        self.assertIn("SKYPORT_TOKEN_FILE=/etc/skyport/token\n", example)
        for reader, flag in (("drone", "hub"), ("drone", "registry"), ("router", "registry"), ("hub", "registry")):
            self.assertRegex(example, rf"(?m)^SKYPORT_{reader.upper()}_{flag.upper()}=")

    def test_systemd_analyze_verify(self):
        tool = shutil.which("systemd-analyze")
        if not tool:
            self.skipTest("no systemd-analyze")
        for daemon in self.UNITS:
            with self.subTest(unit=daemon):
                r = subprocess.run([tool, "verify", "--man=no", os.path.join(self.DIR, f"skyport-{daemon}.service")],
                                   capture_output=True, text=True, timeout=60)
                # The binaries are not installed here; anything else it says is a real problem.
                problems = [line for line in (r.stdout + r.stderr).splitlines()
                            if line.strip() and "is not executable" not in line and "/usr/local/bin/" not in line]
                self.assertEqual(problems, [])


# ---------------------------------------------------------------- scenario on loopback

class ScenarioOnLoopbackTest(harness.ClusterTest):
    """docker/scenario.sh's client phases on 127.0.0.1: drones drone-1..3 (all advertising
    127.0.0.1, so the registry hands out distinct ports), a hub and a router."""

    DRONE_NAMES = ("drone-1", "drone-2", "drone-3")

    def setUp(self):
        for b in BINARIES:
            if not built_binary(b):
                self.skipTest(f"{b} not built (SKYPORT_BIN={harness.BIN})")
        if not shutil.which("git") or not shutil.which("curl"):
            self.skipTest("needs git and curl")
        super().setUp()
        self.hub = Hub(self.tmp, self.token_file, self.registry).start()
        self.router = Router(self.tmp, self.token_file, registry=self.registry).start()
        self.drones = {n: Drone(self.tmp, self.token_file, n, self.hub, self.registry).start() for n in self.DRONE_NAMES}
        self.addCleanup(self._stop_all)

    def _stop_all(self):
        for d in self.drones.values():
            d.kill(signal.SIGTERM)  # they stop their apps
            d.kill_orphaned_apps()
        self.router.kill()
        self.hub.kill()

    def scenario(self, phase, **extra):
        env = self.scenario_env(**extra)
        r = subprocess.run(["bash", SCENARIO, "client", phase], capture_output=True, text=True, env=env, timeout=240,
                           stdin=subprocess.DEVNULL)
        if r.returncode != 0:
            logs = ""
            for name in ("hub", "router-r1", "drone-drone-1", "drone-drone-2", "drone-drone-3"):
                try:
                    with open(os.path.join(self.tmp, f"{name}.log")) as f:
                        logs += f"\n--- {name}.log (tail)\n" + "".join(f.readlines()[-15:])
                except OSError:
                    pass
            self.fail(f"scenario {phase} exited {r.returncode}\n{r.stdout[-4000:]}\n{r.stderr[-3000:]}{logs}")
        if os.environ.get("SCENARIO_VERBOSE"):
            print(r.stdout, r.stderr, sep="\n")
        return r.stdout

    def scenario_env(self, **extra):
        env = self.env()
        env.update({
            "SKYPORT_HUB": self.hub.address(),
            "PATH": os.pathsep.join([os.path.dirname(harness.binary("skyport")), os.environ.get("PATH", "")]),
            "SCENARIO_ROUTER": f"http://{self.router.address()}",
            "SCENARIO_ROUTER_ADMIN": f"http://{self.router.admin_address()}",
            "SCENARIO_GIT": f"http://127.0.0.1:{self.hub.git_port}",
            "SCENARIO_DRONES": " ".join(f"{n}=127.0.0.1" for n in self.DRONE_NAMES),
            "SCENARIO_STOPPED_DRONE": "drone-3",
            "SCENARIO_EXAMPLES": os.path.join(ROOT, "examples"),
            "SCENARIO_STATE": os.path.join(self.tmp, "scenario"),
            "GIT_CONFIG_NOSYSTEM": "1",
        })
        env.update(extra)
        return env

    def test_scenario(self):
        out = self.scenario("deploy")
        self.assertIn("registry lists", out)
        self.assertIn("each user (cookie) stays on one commit", out)
        load = subprocess.Popen(["bash", SCENARIO, "client", "load"], env=self.scenario_env(), stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(lambda: load.poll() is None and (load.kill(), load.wait()))
        self.scenario("load-wait")
        # What `docker kill` does to the container: the drone and its apps die at once.
        self.drones["drone-3"].kill(signal.SIGKILL)
        self.drones["drone-3"].kill_orphaned_apps()
        out = self.scenario("drone-gone", SCENARIO_KILLED_AT=f"{time.time():.3f}", SCENARIO_LEASE_TTL="2")
        self.assertEqual(load.wait(15), 0)
        self.assertRegex(out, r"load loop: \d+ ok, 0 failed")
        self.assertIn("no request went to drone-3", out)
        self.drones["drone-3"].start()  # same name and data dir, as `docker compose start`
        out = self.scenario("drone-back")
        self.assertIn("A and B on drone-1=127.0.0.1 drone-2=127.0.0.1 drone-3=127.0.0.1 again", out)


if __name__ == "__main__":
    unittest.main()
