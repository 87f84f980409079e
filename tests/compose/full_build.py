"""The full multi-stage build of docker/Dockerfile from source, where no image registry is
reachable (run by hand, once per change of the Dockerfile; docs/operations.md records the time
and the sizes). Not a ctest entry: on 2 cores it compiles the programs from scratch.

    sudo python3 tests/compose/full_build.py [--jobs 2] [--keep-image FILE.tar]

What it does, all of Docker inside a network namespace of its own (docker_netns.py):
  1. scripts/debian-base-image.sh --import: skyport-debian:12 (debootstrap) in the engine
  2. an HTTP proxy for apt that listens on 127.0.0.1:3142 *inside* the namespace and connects
     out from the host's (one socket made after setns(2) into the namespace, then back): the
     namespace gets no route, no address and no iptables rule of the host's
  3. docker build -f docker/Dockerfile --network host --build-arg http_proxy=... (predefined
     proxy arguments stay out of the image's history) --build-arg BASE=skyport-debian:12
     --build-arg RUNTIME_BASE=skyport-debian:12 --build-arg JOBS=N -t skyport:full .
  4. prints the time, `docker history` and the sizes; the image runs `skyport-hub --version`;
     then everything goes (engine, namespace, temp dir).
With Docker Hub, the same build is just `docker build -f docker/Dockerfile -t skyport:local .`.
"""
import argparse
import ctypes
import os
import select
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
from docker_netns import DockerInNetns, run  # noqa: E402

CLONE_NEWNET = 0x40000000
MAX_HEAD = 16 * 1024


def listen_in_netns(netns_path, port):
    """A listening socket on 127.0.0.1:port inside the namespace; the thread returns to its own."""
    libc = ctypes.CDLL(None, use_errno=True)
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(netns_path, os.O_RDONLY)
    try:
        if libc.setns(target, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns into the namespace")
        try:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", port))
            s.listen(64)
        finally:
            if libc.setns(own, CLONE_NEWNET) != 0:
                os._exit(3)  # never go on in the wrong namespace
    finally:
        os.close(own)
        os.close(target)
    return s


def pipe(a, b):
    socks = [a, b]
    while True:
        r, _, _ = select.select(socks, [], [], 300)
        if not r:
            return
        for s in r:
            data = s.recv(65536)
            if not data:
                return
            (b if s is a else a).sendall(data)


def serve(conn):
    """One client connection: its first request names the origin (absolute-form, http only);
    the connection is then piped both ways (apt keeps one connection per host)."""
    try:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = conn.recv(4096)
            if not chunk or len(head) > MAX_HEAD:
                return
            head += chunk
        method, target, _ = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
        if not target.startswith("http://"):
            conn.sendall(b"HTTP/1.1 501 Not Implemented\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return
        hostport = target[len("http://"):].split("/", 1)[0]
        host, _, port = hostport.partition(":")
        up = socket.create_connection((host, int(port or 80)), timeout=30)
        up.settimeout(None)
        up.sendall(head)
        pipe(conn, up)
        up.close()
    except (OSError, ValueError):
        pass
    finally:
        conn.close()


def proxy(listener):
    while True:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", type=int, default=2, help="parallel compile jobs (each gRPC TU takes ~1 GB)")
    ap.add_argument("--port", type=int, default=3142, help="the proxy's port inside the namespace")
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("full_build: needs root (network namespace, dockerd)")
    run([os.path.join(REPO, "scripts", "debian-base-image.sh")], timeout=1800)
    engine = DockerInNetns()
    try:
        engine.start()
        run([os.path.join(REPO, "scripts", "debian-base-image.sh"), "--import"], env=engine.env(), timeout=600)
        listener = listen_in_netns(engine.netns_path, a.port)
        threading.Thread(target=proxy, args=(listener,), daemon=True).start()
        proxy_url = f"http://127.0.0.1:{a.port}"
        cmd = ["docker", "build", "-f", "docker/Dockerfile", "--network", "host",
               "--build-arg", f"http_proxy={proxy_url}", "--build-arg", "BASE=skyport-debian:12",
               "--build-arg", "RUNTIME_BASE=skyport-debian:12", "--build-arg", f"JOBS={a.jobs}",
               "-t", "skyport:full", "."]
        print("$ " + " ".join(cmd), flush=True)
        t0 = time.monotonic()
        p = subprocess.run(cmd, cwd=REPO, env=engine.env(), stdin=subprocess.DEVNULL)
        took = time.monotonic() - t0
        print(f"docker build exited {p.returncode} after {took / 60:.1f} min", flush=True)
        if p.returncode != 0:
            sys.exit(1)
        print(engine.docker("history", "--format", "{{.Size}}\t{{.CreatedBy}}", "skyport:full").stdout)
        print(engine.docker("images").stdout)
        print(engine.docker("run", "--rm", "--entrypoint", "skyport-hub", "skyport:full", "--version").stdout)
        hist = engine.docker("history", "--no-trunc", "skyport:full").stdout
        if proxy_url in hist:
            sys.exit("full_build: the proxy's address is in the image's history")
    finally:
        engine.stop()


if __name__ == "__main__":
    main()
