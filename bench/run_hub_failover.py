#!/usr/bin/env python3
"""Hub fail-over time (issue 15, "Benchmarks"): leader kill -9 -> the first successful
`skyport deploy` through the hub list, answered by the new leader; REPEAT times.

Setup (loopback, temp dir, everything stopped by pid): a 3-member etcd cluster, a
skyport-registry (SQLite), three skyport-hub --store etcd (--leader-ttl LEADER_TTL),
one real skyport-drone given the three hubs, an app pushed to the leader and deployed.
Each repetition: find the leader (its skyport_hub_is_leader metric), kill -9 it, then
run `skyport deploy webapp COMMIT --json` with SKYPORT_HUB = the three hubs every
POLL_S until one exits 0 saying it was answered by another hub; the time from the kill
to that CLI's exit is the fail-over time (it includes the election, the drone's
re-attach to the new leader and the deploy itself: the drone already runs the commit,
so the deploy is the control plane's round trip, not an app start). The killed hub is
restarted on its ports and data and must come back as a standby before the next round.

Usage: BUILD=/work/build-bench python3 bench/run_hub_failover.py
  (needs skyport-registry, skyport-hub, skyport-drone, skyport in BUILD; etcd, git)
Knobs (env): REPEAT=10 LEADER_TTL=2s POLL_S=0.05 OUT=<jsonl of the rounds, with every attempt>
  CLI_TIMEOUT=<seconds: the CLI's global --timeout (before the command: deploy has a --timeout of its
  own, for the whole deploy), which bounds connecting; default the CLI's own, 10>
  VERBOSE=1 (print every attempt: its time, exit code, hub, last stderr line)
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import bench_env as env
from bench_env import harness

REPEAT = int(os.environ.get("REPEAT", "10"))
LEADER_TTL = os.environ.get("LEADER_TTL", "2s")
POLL_S = float(os.environ.get("POLL_S", "0.05"))
OUT = os.environ.get("OUT", "")
VERBOSE = os.environ.get("VERBOSE", "0") == "1"
CLI_FLAGS = ["--timeout", os.environ["CLI_TIMEOUT"]] if os.environ.get("CLI_TIMEOUT") else []
GOAL_S = 3.0

class HubList:
    """The drone's --hub: all three hubs."""

    def __init__(self, hubs):
        self.hubs = hubs

    def address(self):
        return ",".join(h.address() for h in self.hubs)


def cli(tmp, token, registry, hubs, *args, timeout=20):
    e = {k: v for k, v in os.environ.items() if not k.startswith("SKYPORT_")}
    e.update(SKYPORT_REGISTRY=registry.address(), SKYPORT_TOKEN_FILE=token, HOME=tmp,
             SKYPORT_HUB=",".join(h.address() for h in hubs))
    return subprocess.run([env.tool("skyport"), *args], capture_output=True, text=True, env=e, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def answered_by(r):
    """The hub that served a --json command: deploy says it in each JSON line, others on stderr."""
    for line in r.stdout.splitlines():
        try:
            by = json.loads(line).get("answered_by")
        except (ValueError, AttributeError):
            continue
        if by:
            return by
    for line in r.stderr.splitlines():
        if line.startswith("skyport: answered by "):
            return line.split()[-1]
    return None


def leaders(hubs):
    out = []
    for h in hubs:
        try:
            if h.proc.poll() is None and h.metric("skyport_hub_is_leader") == 1:
                out.append(h)
        except (OSError, ValueError, TypeError):
            pass
    return out


def one_leader(hubs):
    return harness.wait_until(lambda: (lambda l: l[0] if len(l) == 1 else None)(leaders(hubs)), 20,
                              what="exactly one hub leading")


def watch_election(hubs, out):
    """Sets out["s"]: seconds from out["t0"] until one of `hubs` reports leading (polled every 20 ms)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if leaders(hubs):
            out["s"] = time.monotonic() - out["t0"]
            return
        time.sleep(0.02)


def seed_repos(leader, hubs):
    """Copies the leader's repositories to the hubs that lack them (no replication between hubs in the
    tree, or not yet): a new leader must find the app's commit. Returns how many hubs got a copy."""
    src = os.path.join(leader.data, "repos")
    n = 0
    for h in hubs:
        if h is leader:
            continue
        for name in os.listdir(src):
            dst = os.path.join(h.data, "repos", name)
            if not os.path.exists(dst):
                shutil.copytree(os.path.join(src, name), dst)
                n += 1
    return n


def main():
    env.print_facts("hub fail-over bench")
    print(f"runs: {REPEAT} x (kill -9 the leading hub -> first `skyport deploy` answered by another hub), "
          f"--leader-ttl {LEADER_TTL}, a deploy attempt every {POLL_S}s, CLI flags {CLI_FLAGS or 'default'}")
    tmp = env.tmpdir("skyport-failover-bench-")
    token = env.new_token(tmp)
    with open(token) as f:
        secret = f.read().strip()
    cluster = env.etcd_cluster_3()
    registry = hubs = drone = None
    rounds = []
    try:
        registry = harness.Registry(tmp, token).start()
        hubs = [harness.Hub(tmp, token, registry, name=f"hub{i}", store="etcd", etcd=cluster.endpoints(),
                            extra=["--metrics-listen", "127.0.0.1:0", "--leader-ttl", LEADER_TTL]).start()
                for i in range(3)]
        drone = harness.Drone(tmp, token, "d1", HubList(hubs), registry).start()
        leader = one_leader(hubs)
        work, commit = env.make_app(tmp)
        env.git(work, "push", "-q", leader.git_url("webapp", secret), "master")
        seeded = seed_repos(leader, hubs)
        if seeded:
            print(f"repos: the push reached only the leader; its repository was copied to {seeded} standby "
                  "hub(s) (this tree does not replicate pushes between hubs)")
        harness.wait_until(lambda: cli(tmp, token, registry, hubs, "deploy", "webapp", commit).returncode == 0, 60,
                           interval=0.5, what="the first deploy")
        for n in range(1, REPEAT + 1):
            leader = one_leader(hubs)
            old = leader.address()
            others = [h for h in hubs if h is not leader]
            elected = {}
            watcher = threading.Thread(target=watch_election, args=(others, elected), daemon=True)
            leader.kill(signal.SIGKILL)
            t0 = time.monotonic()
            elected["t0"] = t0
            watcher.start()
            attempts = 0
            tries = []
            while True:
                attempts += 1
                ta = time.monotonic()
                r = cli(tmp, token, registry, hubs, *CLI_FLAGS, "deploy", "webapp", commit, "--json", timeout=30)
                by = answered_by(r)
                tries.append({"s": round(time.monotonic() - ta, 3), "exit": r.returncode, "by": by,
                              "why": r.stderr.strip()[-1500:] if VERBOSE else (r.stderr.strip().splitlines() or [""])[-1][:200]})
                if r.returncode == 0 and by not in (None, old):
                    break
                if time.monotonic() - t0 > 60:
                    raise SystemExit(f"round {n}: no successful deploy 60 s after the kill: exit {r.returncode}, "
                                     f"answered by {by}: {r.stderr[-400:]} {r.stdout[-400:]}")
                time.sleep(POLL_S)
            took = time.monotonic() - t0
            call = time.monotonic() - ta
            watcher.join(timeout=30)
            new = one_leader(others)
            rounds.append({"round": n, "failover_s": took, "elected_s": elected.get("s"), "last_call_s": call,
                           "attempts": attempts, "old": old, "new": by, "new_is_leader": new.address() == by,
                           "tries": tries, "load": env.loadavg()})
            if VERBOSE:
                env.log(f"round {n} attempts: {tries}")
            env.log(f"round {n}: {took:.2f} s (a new leader after {elected.get('s', -1):.2f} s; the successful "
                    f"deploy call took {call:.2f} s; attempts {attempts}, {old} -> {by}, load {env.loadavg()})")
            leader.start()  # same ports and data: must rejoin as a standby
            harness.wait_until(lambda: leader.metric("skyport_hub_is_leader") == 0 and len(leaders(hubs)) == 1, 20,
                               what="the old leader back as a standby")
    finally:
        if drone:
            drone.kill(signal.SIGTERM)
            drone.kill_orphaned_apps()
        for h in hubs or []:
            h.kill()
        if registry:
            registry.kill()
        cluster.stop()
    env.write_jsonl(OUT, rounds)
    t = sorted(r["failover_s"] for r in rounds)
    if t:
        med = env.median(t)
        print(f"\nfail-over (kill -9 -> first successful deploy via the new leader) over {len(t)} rounds: "
              f"median {med:.2f} s, min {t[0]:.2f} s, max {t[-1]:.2f} s")
        print("per round: " + ", ".join(f"{x['failover_s']:.2f}" for x in rounds))
        el = [x["elected_s"] for x in rounds if x["elected_s"] is not None]
        if el:
            print(f"of which until a standby leads (its metric, polled every 20 ms): median {env.median(el):.2f} s, "
                  f"max {max(el):.2f} s; the successful deploy call itself: median "
                  f"{env.median([x['last_call_s'] for x in rounds]):.2f} s")
        print(f"goal < {GOAL_S:g} s: {'MET' if t[-1] < GOAL_S else ('MET by the median, MISSED by the max' if med < GOAL_S else 'MISSED')}")
        print(f"deploy answered by the hub that leads afterwards: {sum(r['new_is_leader'] for r in rounds)}/{len(rounds)}")
    print(f"load after: {env.loadavg()}")
    subprocess.run(["rm", "-rf", tmp])
    return 0


if __name__ == "__main__":
    sys.exit(main())
