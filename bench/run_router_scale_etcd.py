#!/usr/bin/env python3
"""bench/run_router_scale.sh against a registry on etcd: a 3-member etcd cluster and one
skyport-registry --store etcd on loopback (temp dirs, stopped by pid), then the shell
script with REGISTRY=<that registry> (it starts a fresh router per size and revokes each
fill afterwards, so the sizes do not add up).

Usage: BUILD=/work/build-bench SIZES="1000 10000" python3 bench/run_router_scale_etcd.py
  (needs what run_router_scale.sh needs; etcd and etcdctl). Other knobs pass through
  (CHANGES, FILL_CONCURRENCY, NICE, OUT).
"""
import os
import subprocess
import sys

import bench_env as env


def main():
    env.print_facts("router scale with the registry on etcd (3 members)")
    tmp = env.tmpdir("skyport-router-scale-etcd-")
    token = env.new_token(tmp)
    cluster = env.etcd_cluster_3()
    reg = None
    try:
        reg, addr = env.start_registry(tmp, token, "registry-etcd",
                                       ["--store", "etcd", "--etcd-endpoints", cluster.endpoints()])
        e = {**os.environ, "REGISTRY": addr, "TOKEN_FILE": token, "BUILD": env.BUILD}
        e.setdefault("SIZES", "1000 10000")
        rc = subprocess.run(["bash", os.path.join(env.HERE, "run_router_scale.sh")], env=e).returncode
        if not reg.alive():
            print(f"the registry died: {reg.log()[-500:]}")
            rc = rc or 1
    finally:
        if reg:
            reg.stop()
        cluster.stop()
        subprocess.run(["rm", "-rf", tmp])
    return rc


if __name__ == "__main__":
    sys.exit(main())
