#!/usr/bin/env python3
"""Registrations/s and Watch fan-out, side by side (issue 15, "Benchmarks"):

  sqlite    skyport-registry --store sqlite (--sync full, a temp dir on disk)
  etcd      skyport-registry --store etcd on a 3-member etcd cluster (loopback)
  raw etcd  etcd's own floor on the same cluster: bench/etcd_bench through Skyport's
            etcd client, one Put per "registration" and 100 raw watches

with the same load shapes (bench/registry_bench: N clients on their own connections
looping Allocate+Register, or Register alone on client-picked ports; 1 change -> W
watchers, one change at a time). Every measurement gets a fresh registry (the etcd
registry a fresh --etcd-prefix); one etcd cluster serves the whole run. Rounds
alternate the order of the systems; the report gives medians over rounds and
ratios (registry on etcd / raw etcd puts: goal >= 0.5; fan-out p99 goal < 10 ms).
A loop of `etcdctl put` is printed as a sanity line (process start dominates it).

Usage: BUILD=/work/build-bench python3 bench/run_control_plane_bench.py
  (needs skyport-registry, registry_bench, etcd_bench in BUILD; etcd and etcdctl)
Knobs (env): ROUNDS=3 SECONDS_PER_RUN=5 WARMUP=1 CONCURRENCY="1 8 64" WATCHERS=100
  CHANGES=200 NICE=0 ONLY="register fanout" OUT=<file for the raw runs (jsonl)>
  MEMBER=leader|follower|0|1|2: the etcd member every client (registry and raw etcd alike) talks
  to, put first in --etcd-endpoints (default leader: a follower forwards each write to the
  leader, one more hop for both; "follower" is one that was not leading at the start)
  RAW_TXN=1: also loop the registry's own one-trip Register Txn straight on etcd (etcd_bench txn)
  REPORT_FROM=<a file OUT wrote>: print the report of those runs again, run nothing
  BASELINE=<another build dir>: also the registry on etcd built there ("base", e.g. main), in
  the same rounds: a before/after under the same load. SQLITE=0 leaves the SQLite registry out.
"""
import json
import os
import subprocess
import sys
import time

import bench_env as env

ROUNDS = int(os.environ.get("ROUNDS", "3"))
SECONDS = os.environ.get("SECONDS_PER_RUN", "5")
WARMUP = os.environ.get("WARMUP", "1")
CONCURRENCY = [int(c) for c in os.environ.get("CONCURRENCY", "1 8 64").split()]
WATCHERS = os.environ.get("WATCHERS", "100")
CHANGES = os.environ.get("CHANGES", "200")
NICE = int(os.environ.get("NICE", "0"))
ONLY = os.environ.get("ONLY", "register fanout").split()
OUT = os.environ.get("OUT", "")
MEMBER = os.environ.get("MEMBER", "leader")
RAW_TXN = os.environ.get("RAW_TXN", "") == "1"
REPORT_FROM = os.environ.get("REPORT_FROM", "")
BASELINE = os.environ.get("BASELINE", "")
SYSTEMS = (("sqlite",) if os.environ.get("SQLITE", "1") != "0" else ()) + ("etcd",) + \
    (("base",) if BASELINE else ()) + ("raw",) + (("rawtxn",) if RAW_TXN else ())


def endpoints_first(cluster, member):
    """--etcd-endpoints with `member` first (the client uses the first until it fails)."""
    urls = cluster.endpoints().split(",")
    return ",".join([urls[member]] + [u for i, u in enumerate(urls) if i != member])


def metrics():
    m = []
    if "register" in ONLY:
        m += [f"register@{c}" for c in CONCURRENCY] + [f"register-only@{c}" for c in CONCURRENCY]
    if "fanout" in ONLY:
        m.append("fanout")
    return m


def registry_args(metric):
    if metric == "fanout":
        return ["fanout", "--watchers", WATCHERS, "--changes", CHANGES]
    kind, conc = metric.split("@")
    args = ["register", "--concurrency", conc, "--seconds", SECONDS, "--warmup", WARMUP]
    return args + (["--explicit-port"] if kind == "register-only" else [])


def measure(system, metric, endpoints, tmp, token, run_no):
    if system in ("raw", "rawtxn"):
        if metric.startswith("register-only") or (system == "rawtxn" and metric == "fanout"):
            return None  # one raw Put is already the floor of both registration kinds
        conc = metric.split("@")[1] if "@" in metric else None
        args = ["fanout", "--watchers", WATCHERS, "--changes", CHANGES] if metric == "fanout" else \
            ["put" if system == "raw" else "txn", "--concurrency", conc, "--seconds", SECONDS, "--warmup", WARMUP]
        return env.run_json([env.tool("etcd_bench"), "--etcd-endpoints", endpoints, *args], NICE)
    if system == "sqlite":
        store = ["--data", os.path.join(tmp, f"sqlite-{run_no}"), "--sync", "full"]
    else:
        store = ["--store", "etcd", "--etcd-endpoints", endpoints, "--etcd-prefix", f"/bench-{run_no}/"]
    binary = os.path.join(BASELINE, "registry", "skyport-registry") if system == "base" else None
    reg, addr = env.start_registry(tmp, token, f"registry-{system}-{run_no}", store, NICE, binary=binary)
    try:
        time.sleep(0.5)
        r = env.run_json([env.tool("registry_bench"), "--registry", addr, "--token-file", token,
                          *registry_args(metric)], NICE)
        if not reg.alive():
            r["error"] = f"registry died: {reg.log()[-300:]}"
        warnings = [l for l in reg.log().splitlines() if "warn" in l.lower() or "error" in l.lower()]
        r["server_log_warnings"] = len(warnings)
        if warnings:
            r["server_log_first_warning"] = warnings[0][:300]
        return r
    finally:
        reg.stop()


def short(r):
    if r is None:
        return "-"
    if "error" in r:
        return "ERROR " + str(r["error"])[:300]
    if "notify" in r:
        n = r["notify"]
        return (f"notify p50 {n.get('p50_ms', 0):.2f} p99 {n.get('p99_ms', 0):.2f} max {n.get('max_ms', 0):.2f} ms, "
                f"missing {r.get('missing')}, errors {env.get(r, 'errors.total')}")
    return f"{r['per_sec']:.0f}/s p99 {env.get(r, 'latency.p99_ms') or 0:.2f} ms, errors {env.get(r, 'errors.total')}"


def etcdctl_loop(cluster, n=50):
    """n `etcdctl put` processes in a row: puts/s per invocation (spawn + connect + put)."""
    t0 = time.monotonic()
    for i in range(n):
        cluster.etcdctl("put", f"/skyport-bench/etcdctl/{i}", "x" * 100)
    dt = time.monotonic() - t0
    cluster.etcdctl("del", "--prefix", "/skyport-bench/etcdctl/")
    return n / dt


def report(runs, ctl_rate, leader, member):
    def med(system, metric, path):
        return env.median([env.get(r, path) for r in runs if r["system"] == system and r["metric"] == metric
                           and "error" not in r])

    def f(v, ms=False):
        return "n/a" if v is None else (f"{v:.2f}" if ms else f"{v:,.0f}")

    print(f"\n== medians over {ROUNDS} round(s); etcd: 3 members on loopback, clients use member {member} "
          f"(the Raft leader was member {leader})")
    print(f"{'metric':<26}{'sqlite':>10}{'etcd':>10}{'raw etcd':>10}{'etcd/raw':>10}{'etcd/sqlite':>12}")
    for m in metrics():
        if m == "fanout":
            continue
        s, e = med("sqlite", m, "per_sec"), med("etcd", m, "per_sec")
        raw = med("raw", "register@" + m.split("@")[1], "per_sec")
        raw_rate = raw
        print(f"{m + ' /s':<26}{f(s):>10}{f(e):>10}{f(raw):>10}"
              f"{(f'{e / raw:.2f}' if e and raw else 'n/a'):>10}{(f'{e / s:.2f}' if e and s else 'n/a'):>12}")
        s, e, raw = (med(x, m if x != "raw" else "register@" + m.split("@")[1], "latency.p99_ms") for x in ("sqlite", "etcd", "raw"))
        print(f"{'  p99 ms':<26}{f(s, 1):>10}{f(e, 1):>10}{f(raw, 1):>10}")
        if BASELINE:
            b = med("base", m, "per_sec")
            print(f"{'  etcd, BASELINE build /s':<26}{'':>10}{f(b):>10}{'':>10}"
                  f"{(f'{b / raw_rate:.2f}' if b and raw_rate else 'n/a'):>10}")
        if RAW_TXN and m.startswith("register@"):
            t = med("rawtxn", m, "per_sec")
            print(f"{'  raw etcd, one-trip Txn /s':<36}{f(t):>10}"
                  f"{(f' ({t / raw_rate:.2f} of raw puts)' if t and raw_rate else '')}")
    if "fanout" in metrics():
        for path, lab in (("notify.p50_ms", "fan-out p50 ms"), ("notify.p99_ms", "fan-out p99 ms"),
                          ("notify.max_ms", "fan-out max ms"), ("all_notified.p99_ms", "last of W, p99 ms"),
                          ("write_rpc.p50_ms", "the write's RPC p50 ms")):
            s, e, raw = (med(x, "fanout", path) for x in ("sqlite", "etcd", "raw"))
            print(f"{lab:<26}{f(s, 1):>10}{f(e, 1):>10}{f(raw, 1):>10}"
                  f"{(f'{e / raw:.2f}' if e and raw else 'n/a'):>10}{(f'{e / s:.2f}' if e and s else 'n/a'):>12}")
    if ctl_rate is not None:
        print(f"\netcdctl sanity: a loop of `etcdctl put` (one process each): {ctl_rate:.0f} puts/s")
    goals = []
    if BASELINE:
        for c in CONCURRENCY:
            raw = med("raw", f"register@{c}", "per_sec")
            b1, b2 = med("base", f"register-only@{c}", "per_sec"), med("base", f"register@{c}", "per_sec")
            if b1 and raw:
                goals.append(f"BASELINE {c} clients: register-only {b1 / raw:.2f}, allocate+register {(b2 or 0) / raw:.2f}")
    for c in CONCURRENCY:
        e, raw = med("etcd", f"register-only@{c}", "per_sec"), med("raw", f"register@{c}", "per_sec")
        e2 = med("etcd", f"register@{c}", "per_sec")
        if e and raw:
            goals.append(f"{c} clients: register-only {e / raw:.2f}, allocate+register {(e2 or 0) / raw:.2f}")
    if goals:
        print("goal registry on etcd >= 0.5 x raw etcd puts: " + "; ".join(goals))
    p99 = med("etcd", "fanout", "notify.p99_ms")
    if p99 is not None:
        print(f"goal fan-out p99 < 10 ms (registry on etcd): {'MET' if p99 < 10 else 'MISSED'} ({p99:.2f} ms)")
    bad = [r for r in runs if "error" in r or (r.get("missing") or 0) > 0 or (env.get(r, "errors.total") or 0) > 0
           or r.get("server_log_warnings")]
    print("errors / missing notifications / server warnings: " + ("none" if not bad else ""))
    for r in bad:
        print(f"  {r['system']} {r['metric']} round {r['round']}: {short(r)} {r.get('server_log_first_warning', '')}")


def main():
    if REPORT_FROM:
        with open(REPORT_FROM) as f:
            runs = [json.loads(line) for line in f if line.strip()]
        report(runs, None, runs[0].get("leader", "?"), runs[0].get("member", "?"))
        return 0
    env.print_facts("control-plane bench: registry on sqlite vs on etcd vs raw etcd")
    print(f"runs: register {SECONDS}s (+{WARMUP}s warm-up) at {CONCURRENCY} clients; fan-out {WATCHERS} watchers x "
          f"{CHANGES} changes; {ROUNDS} rounds; nice {NICE}")
    tmp = env.tmpdir("skyport-cp-bench-")
    token = env.new_token(tmp)
    cluster = env.etcd_cluster_3()
    runs = []
    try:
        leader = cluster.leader()
        member = {"leader": leader, "follower": (leader + 1) % 3}.get(MEMBER)
        member = int(MEMBER) if member is None else member
        endpoints = endpoints_first(cluster, member)
        run_no = 0
        for rnd in range(1, ROUNDS + 1):
            order = SYSTEMS if rnd % 2 else tuple(reversed(SYSTEMS))
            for m in metrics():
                for system in order:
                    run_no += 1
                    r = measure(system, m, endpoints, tmp, token, run_no)
                    if r is None:
                        continue
                    r.update(system=system, metric=m, round=rnd, load=env.loadavg(), leader=leader, member=member)
                    runs.append(r)
                    env.log(f"round {rnd} {system:<6} {m:<18} {short(r)} (load {r['load']})")
        ctl = etcdctl_loop(cluster)
        leader_after = cluster.leader()
    finally:
        cluster.stop()
    env.write_jsonl(OUT, runs)
    report(runs, ctl, leader if leader == leader_after else f"{leader} then {leader_after}", member)
    print(f"load after: {env.loadavg()}")
    subprocess.run(["rm", "-rf", tmp])
    return 0


if __name__ == "__main__":
    sys.exit(main())
