"""HTTP client for tests/cluster/test_netns_rig.py, run inside one of the rig's
network namespaces (`ip netns exec NS python3 client.py ...`). Standard library only.

  client.py get URL [--header 'K: V']...
      one GET; prints {"status", "headers", "body"} as JSON (a failed request: {"error"}).
  client.py burst HOST:PORT --host H --count N [--conns C]
      N cookie-less GETs / over C keep-alive connections in parallel; prints
      {"ok", "failures", "commits": {commit: n}, "instances": {host:port: n}, "bodies": {commit: body}}.
  client.py sticky HOST:PORT --host H --users U --count N
      U users: each sends a first request without a cookie, takes the Set-Cookie,
      then N more requests with it; prints {"users": [{"cookie", "commits": [...]}], "failures"}.
  client.py load HOST:PORT --host H --out FILE
      sends requests until its stdin closes (or says "stop"): one thread on a
      keep-alive connection, one opening a new connection per request. Appends a
      line per outcome to FILE ("ok T INSTANCE COMMIT" / "fail T WHAT", T = CLOCK_MONOTONIC,
      which every process on the machine shares), flushed at once.
"""
import argparse
import http.client
import json
import sys
import threading
import time
from urllib.parse import urlsplit


def split_addr(addr):
    host, port = addr.rsplit(":", 1)
    return host, int(port)


def cmd_get(a):
    u = urlsplit(a.url)
    headers = dict(h.split(":", 1) for h in a.header)
    headers = {k.strip(): v.strip() for k, v in headers.items()}
    conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=a.timeout)
    try:
        conn.request("GET", u.path or "/", headers=headers)
        r = conn.getresponse()
        body = r.read().decode("utf-8", "replace")
        print(json.dumps({"status": r.status, "headers": {k.lower(): v for k, v in r.getheaders()}, "body": body}))
    except Exception as e:  # noqa: BLE001 - reported to the caller
        print(json.dumps({"error": repr(e)}))
    finally:
        conn.close()


def cmd_burst(a):
    host, port = split_addr(a.addr)
    lock = threading.Lock()
    out = {"ok": 0, "failures": [], "commits": {}, "instances": {}, "bodies": {}}

    def worker(k):
        conn = None
        for _ in range(k, a.count, a.conns):
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(host, port, timeout=10)
                conn.request("GET", "/", headers={"Host": a.host})
                r = conn.getresponse()
                body = r.read().decode("utf-8", "replace")
                if r.status != 200:
                    raise RuntimeError(f"HTTP {r.status}: {body[:200]!r}")
                if r.getheader("Set-Cookie") is None:
                    raise RuntimeError("a cookie-less request got no Set-Cookie")
                commit, inst = r.getheader("X-Skyport-Commit", ""), r.getheader("X-Skyport-Instance", "")
                with lock:
                    out["ok"] += 1
                    out["commits"][commit] = out["commits"].get(commit, 0) + 1
                    out["instances"][inst] = out["instances"].get(inst, 0) + 1
                    out["bodies"].setdefault(commit, body)
            except Exception as e:  # noqa: BLE001 - every failure counts
                with lock:
                    out["failures"].append(repr(e))
                if conn:
                    conn.close()
                conn = None
        if conn:
            conn.close()

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(a.conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps(out))


def cmd_sticky(a):
    host, port = split_addr(a.addr)
    out = {"users": [], "failures": []}
    for _ in range(a.users):
        conn = http.client.HTTPConnection(host, port, timeout=10)
        user = {"cookie": None, "commits": []}
        try:
            for i in range(a.count + 1):
                headers = {"Host": a.host}
                if user["cookie"]:
                    headers["Cookie"] = user["cookie"]
                conn.request("GET", "/", headers=headers)
                r = conn.getresponse()
                r.read()
                if r.status != 200:
                    raise RuntimeError(f"HTTP {r.status}")
                if i == 0:
                    sc = r.getheader("Set-Cookie")
                    if not sc:
                        raise RuntimeError("first request got no Set-Cookie")
                    user["cookie"] = sc.split(";", 1)[0].strip()
                elif r.getheader("Set-Cookie"):
                    raise RuntimeError(f"a request with cookie {user['cookie']} got a new one: {r.getheader('Set-Cookie')}")
                user["commits"].append(r.getheader("X-Skyport-Commit", ""))
        except Exception as e:  # noqa: BLE001 - every failure counts
            out["failures"].append(repr(e))
        finally:
            conn.close()
        out["users"].append(user)
    print(json.dumps(out))


def cmd_load(a):
    host, port = split_addr(a.addr)
    stop = threading.Event()
    out = open(a.out, "a", buffering=1)  # line-buffered: the test reads it while we run
    lock = threading.Lock()

    def record(line):
        with lock:
            out.write(line + "\n")

    def run(keep_alive):
        conn = None
        while not stop.is_set():
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(host, port, timeout=a.timeout)
                conn.request("GET", "/", headers={"Host": a.host})
                r = conn.getresponse()
                body = r.read()
                if r.status != 200:
                    raise RuntimeError(f"HTTP {r.status}: {body[:200]!r}")
                record(f"ok {time.monotonic():.6f} {r.getheader('X-Skyport-Instance', '-')} "
                       f"{r.getheader('X-Skyport-Commit', '-')}")
            except Exception as e:  # noqa: BLE001 - every failure counts
                record(f"fail {time.monotonic():.6f} {e!r}".replace("\n", " "))
                if conn:
                    conn.close()
                conn = None
            if not keep_alive and conn is not None:
                conn.close()
                conn = None
            if a.pause_ms:
                stop.wait(a.pause_ms / 1000)
        if conn:
            conn.close()

    threads = [threading.Thread(target=run, args=(k == 0,), daemon=True) for k in range(2)]
    for t in threads:
        t.start()
    for line in sys.stdin:  # until EOF or "stop"
        if line.strip() == "stop":
            break
    stop.set()
    for t in threads:
        t.join(timeout=a.timeout + 5)
    out.close()


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("get")
    g.add_argument("url")
    g.add_argument("--header", action="append", default=[])
    g.add_argument("--timeout", type=float, default=5)
    b = sub.add_parser("burst")
    b.add_argument("addr")
    b.add_argument("--host", required=True)
    b.add_argument("--count", type=int, required=True)
    b.add_argument("--conns", type=int, default=4)
    s = sub.add_parser("sticky")
    s.add_argument("addr")
    s.add_argument("--host", required=True)
    s.add_argument("--users", type=int, required=True)
    s.add_argument("--count", type=int, required=True)
    ld = sub.add_parser("load")
    ld.add_argument("addr")
    ld.add_argument("--host", required=True)
    ld.add_argument("--out", required=True)
    ld.add_argument("--timeout", type=float, default=10)
    ld.add_argument("--pause-ms", type=float, default=0)
    a = p.parse_args()
    {"get": cmd_get, "burst": cmd_burst, "sticky": cmd_sticky, "load": cmd_load}[a.cmd](a)


if __name__ == "__main__":
    main()
