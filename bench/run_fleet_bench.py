#!/usr/bin/env python3
"""A simulated fleet (issue 15, "Scale"): N fake drones (bench/fleet_bench: one
lightweight Attach stream each, answering as a drone does, spawning nothing) on one
skyport-hub, then one `skyport deploy` of a commit to all of them.

For each size in SIZES: a fresh hub (SQLite store, its own data dir; a skyport-registry
beside it, as a hub needs one), a one-file app pushed to it, fleet_bench run against it.
Reported per size: the time from the deploy call (the CLI spawned) until every fake
drone had its command, and until the CLI exited (the deploy reported done); the hub's
RSS, threads and CPU time before the attach, after it, and over the fan-out (from /proc
of the hub's pid). Goal: the fan-out to 1,000 drones under 2 s.

Usage: BUILD=/work/build-bench python3 bench/run_fleet_bench.py
  (needs skyport-registry, skyport-hub, skyport, fleet_bench in BUILD; git)
Knobs (env): SIZES="100 1000" PER_CONNECTION=1 (Attach streams per TCP connection) NICE=0
  OUT=<jsonl of the runs>
"""
import os
import resource
import subprocess
import sys

import bench_env as env
from bench_env import harness

SIZES = [int(s) for s in os.environ.get("SIZES", "100 1000").split()]
PER_CONNECTION = os.environ.get("PER_CONNECTION", "1")
NICE = int(os.environ.get("NICE", "0"))
OUT = os.environ.get("OUT", "")
GOAL_MS = 2000


def one_size(n, tmp, token, secret, registry, work, commit):
    hub = harness.Hub(tmp, token, registry, name=f"hub-{n}").start()
    try:
        env.git(work, "push", "-q", hub.git_url("webapp", secret), "master")
        r = env.run_json([env.tool("fleet_bench"), "--hub", hub.address(), "--token-file", token,
                          "--drones", str(n), "--per-connection", PER_CONNECTION, "--prefix", f"fake{n}",
                          "--cli", env.tool("skyport"), "--app", "webapp", "--commit", commit,
                          "--cli-output", os.path.join(tmp, f"deploy-{n}.out"), "--hub-pid", str(hub.proc.pid)],
                         NICE)
        if hub.proc.poll() is not None:
            r["error"] = f"the hub died (exit {hub.proc.returncode})"
        with open(hub.log_path, errors="replace") as f:
            warnings = [l for l in f if (" warn " in l or " error " in l) and "drone detached" not in l]
        r["hub_log_warnings"] = len(warnings)  # but "drone detached": the fleet ends by cancelling its streams
        if warnings:
            r["hub_log_first_warning"] = warnings[0].strip()[:300]
        r["load"] = env.loadavg()
        return r
    finally:
        hub.kill()


def report(runs):
    def f(v, fmt="{:.0f}"):
        return "n/a" if v is None else fmt.format(v)

    def mib(kb):
        return None if kb is None or kb < 0 else kb / 1024

    print(f"\n{'fake drones':<44}" + "".join(f"{r['drones']:>12,}" for r in runs))
    rows = [
        ("attach: all listed by the hub (s)", lambda r: f(r.get("attach_s"), "{:.2f}")),
        ("deploy -> command received, p50 (ms)", lambda r: f(env.get(r, "command_received.p50_ms"), "{:.1f}")),
        ("deploy -> every drone has its command (ms)", lambda r: f(r.get("all_received_ms"), "{:.1f}")),
        ("deploy -> the CLI reports done (ms)", lambda r: f(r.get("deploy_done_ms"), "{:.1f}")),
        ("hub RSS before attach (MiB)", lambda r: f(mib(env.get(r, "hub_before_attach.rss_kb")), "{:.1f}")),
        ("hub RSS after attach (MiB)", lambda r: f(mib(env.get(r, "hub_after_attach.rss_kb")), "{:.1f}")),
        ("hub RSS peak during the fan-out (MiB)", lambda r: f(mib(r.get("hub_fanout_peak_rss_kb")), "{:.1f}")),
        ("hub RSS per drone (KiB)", lambda r: f(r.get("hub_rss_per_drone_kb"), "{:.1f}")),
        ("hub threads before / after attach", lambda r: f"{env.get(r, 'hub_before_attach.threads')} / "
                                                        f"{env.get(r, 'hub_after_attach.threads')}"),
        ("hub CPU for the attach, per drone (ms)", lambda r: f(r.get("hub_attach_cpu_ms_per_drone"), "{:.2f}")),
        ("hub CPU over the fan-out (ms)", lambda r: f(r.get("hub_fanout_cpu_ms"))),
        ("hub CPU over the fan-out, per drone (ms)", lambda r: f(r.get("hub_fanout_cpu_ms_per_drone"), "{:.2f}")),
        ("load average at the end", lambda r: r.get("load", "?").split()[0]),
    ]
    for label, fn in rows:
        print(f"{label:<44}" + "".join(f"{fn(r):>12}" for r in runs))
    for r in runs:
        if r["drones"] >= 1000 and r.get("all_received_ms") is not None:
            got = r["all_received_ms"]
            print(f"goal: {r['drones']} drones have the deploy in < {GOAL_MS} ms: "
                  f"{'MET' if 0 <= got < GOAL_MS else 'MISSED'} ({got:.0f} ms; done reported after "
                  f"{r.get('deploy_done_ms', -1):.0f} ms)")
    for r in runs:
        if "error" in r or r.get("hub_log_warnings") or r.get("stream_error"):
            print(f"  {r['drones']}: error={r.get('error')} stream_error={r.get('stream_error')!r} "
                  f"hub log warnings={r.get('hub_log_warnings')} {r.get('hub_log_first_warning', '')}")


def main():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, 4 * max(SIZES) + 1024))  # the hub and the tool hold a socket per drone
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    env.print_facts("fleet bench: fake drones on one hub, one deploy to all")
    print(f"runs: {SIZES} fake drones, {PER_CONNECTION} Attach stream(s) per connection, nice {NICE}, "
          f"open files {want}")
    tmp = env.tmpdir("skyport-fleet-bench-")
    token = env.new_token(tmp)
    with open(token) as f:
        secret = f.read().strip()
    registry = harness.Registry(tmp, token).start()
    runs = []
    try:
        work, commit = env.make_app(tmp)
        for n in SIZES:
            r = one_size(n, tmp, token, secret, registry, work, commit)
            runs.append(r)
            env.log(f"{n} drones: all received {r.get('all_received_ms')} ms, done {r.get('deploy_done_ms')} ms, "
                    f"error {r.get('error')} (load {r['load']})")
    finally:
        registry.kill()
    env.write_jsonl(OUT, runs)
    report(runs)
    print(f"load after: {env.loadavg()}")
    subprocess.run(["rm", "-rf", tmp])
    return 0


if __name__ == "__main__":
    sys.exit(main())
