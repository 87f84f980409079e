"""The hub's git push path under hostile pushes (issue 12).

The real git client pushes trees that git's fsck flags, objects over the size
cap and too many refs; hand-made packs carry a delta bomb and chains of large
deltas. The hub must refuse them with the reasons git prints, keep nothing of
them, stay small, and keep answering other apps' pushes while one is slow.
Every repository the hub accepted passes `git fsck --strict`.
"""
import base64
import hashlib
import http.client
import os
import re
import socket
import struct
import subprocess
import threading
import unittest
import zlib

from harness import ClusterTest, Hub, wait_until

ZERO = "0" * 40


# ---------------------------------------------------------------- packs by hand

def obj_header(kind, size):
    first = (kind << 4) | (size & 15)
    size >>= 4
    out = bytearray()
    while size:
        out.append(first | 0x80)
        first = size & 0x7F
        size >>= 7
    out.append(first)
    return bytes(out)


def ofs_encode(distance):
    out = [distance & 0x7F]
    distance >>= 7
    while distance:
        distance -= 1
        out.insert(0, 0x80 | (distance & 0x7F))
        distance >>= 7
    return bytes(out)


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def copy_ops(size):
    """Delta instructions copying `size` bytes from base offset 0 in 64 KiB pieces."""
    full, rest = divmod(size, 0x10000)
    ops = b"\x80" * full  # no offset or size bytes: offset 0, size 0x10000
    if rest:
        ops += bytes([0x80 | 0x10 | 0x20, rest & 0xFF, rest >> 8])
    return ops


class PackWriter:
    def __init__(self):
        self.objects = []  # (offset, bytes)
        self.size = 12

    def add(self, kind, raw_size, data, prefix=b""):
        offset = self.size
        blob = obj_header(kind, raw_size) + prefix + zlib.compress(data)
        self.objects.append(blob)
        self.size += len(blob)
        return offset

    def blob(self, data):
        return self.add(3, len(data), data)

    def ofs_delta(self, base_offset, delta):
        offset = self.size
        return self.add(6, len(delta), delta, prefix=ofs_encode(offset - base_offset))

    def bytes(self):
        body = b"PACK" + struct.pack(">II", 2, len(self.objects)) + b"".join(self.objects)
        return body + hashlib.sha1(body).digest()


def blob_id(data):
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def pkt(line):
    data = line.encode() if isinstance(line, str) else line
    return b"%04x" % (len(data) + 4) + data


# ---------------------------------------------------------------- tests

class GitPushSafetyTest(ClusterTest):
    HUB_EXTRA = ("--metrics-listen", "127.0.0.1:0")
    HUB_EXTRA_BY_TEST = {"test_too_many_concurrent_pushes_are_answered_503": ("--git-max-concurrent-pushes", "1"),
                         "test_deep_and_costly_delta_chains_are_refused": ("--git-max-inflate-bytes", "1GiB")}

    def setUp(self):
        super().setUp()
        with open(self.token_file) as f:
            self.token = f.read().strip()
        extra = self.HUB_EXTRA + self.HUB_EXTRA_BY_TEST.get(self._testMethodName, ())
        self.hub = Hub(self.tmp, self.token_file, self.registry, extra=extra).start()
        self.addCleanup(self.hub.kill)
        self.work = os.path.join(self.tmp, "work")
        os.makedirs(self.work)
        self.git("init", "-q", "-b", "master")

    # -- helpers

    def write(self, name, text):
        with open(os.path.join(self.work, name), "w") as f:
            f.write(text)

    def git(self, *args, check=True, cwd=None, stdin=None):
        env = {"HOME": self.tmp, "GIT_TERMINAL_PROMPT": "0", "PATH": os.environ["PATH"], "GIT_CONFIG_NOSYSTEM": "1",
               "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
               "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
        r = subprocess.run(["git", *args], cwd=cwd or self.work, capture_output=True, env=env, timeout=120,
                           input=stdin)
        r.stdout, r.stderr = r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")
        if check and r.returncode != 0:
            raise AssertionError(f"git {' '.join(args)}: {r.stderr}")
        return r

    def hub_git(self, app, *args, check=False):
        return self.git("--git-dir", self.repo_path(app), *args, check=check, cwd=self.tmp)

    def repo_path(self, app):
        return os.path.join(self.hub.data, "repos", f"{app}.git")

    def push(self, app, *refspecs):
        return self.git("push", self.hub.git_url(app, self.token), *refspecs, check=False)

    def commit_tree(self, tree, parent=None, message="m"):
        args = ["commit-tree", tree, "-m", message] + (["-p", parent] if parent else [])
        return self.git(*args).stdout.strip()

    def write_object(self, kind, raw):
        return self.git("hash-object", "-t", kind, "--literally", "-w", "--stdin", stdin=raw).stdout.strip()

    def raw_tree(self, entries):
        """entries: (mode, name bytes, 40-hex id), written in the given order."""
        return b"".join(mode.encode() + b" " + name + b"\0" + bytes.fromhex(oid) for mode, name, oid in entries)

    def refs(self, app):
        return self.hub_git(app, "for-each-ref", "--format=%(refname) %(objectname)").stdout.split("\n")

    def metrics(self):
        return self.hub.metrics()

    def metric(self, name):
        return self.hub.metric(name)

    def raw_push(self, app, commands, pack, timeout=120):
        """POSTs a receive-pack body; returns (status, body)."""
        body = b"".join(pkt(c) for c in commands) + b"0000" + pack
        auth = base64.b64encode(f"x:{self.token}".encode()).decode()
        conn = http.client.HTTPConnection("127.0.0.1", self.hub.git_port, timeout=timeout)
        conn.request("POST", f"/{app}.git/git-receive-pack", body=body,
                     headers={"Authorization": f"Basic {auth}",
                              "Content-Type": "application/x-git-receive-pack-request"})
        res = conn.getresponse()
        out = (res.status, res.read())
        conn.close()
        return out

    def assert_fsck_clean(self, app):
        r = self.hub_git(app, "fsck", "--strict", "--no-dangling")
        self.assertEqual(r.returncode, 0, f"git fsck of the hub's {app}: {r.stdout}{r.stderr}")

    # -- (a) trees, commits and tags git's fsck flags

    def test_trees_git_fsck_flags_are_refused(self):
        self.write("app.txt", "hello\n")
        self.git("add", "-A")
        self.git("commit", "-q", "-m", "first")
        good = self.git("rev-parse", "HEAD").stdout.strip()
        r = self.push("webapp", "master")
        self.assertEqual(r.returncode, 0, r.stderr)

        blob = self.git("rev-parse", "HEAD:app.txt").stdout.strip()
        sub = self.git("rev-parse", "HEAD^{tree}").stdout.strip()
        cases = {
            "hasDotgit": [("40000", b".git", sub)],
            "hasDotgit (case)": [("40000", b".GIT", sub)],
            "hasDotgit (NTFS short name)": [("40000", b"git~1", sub)],
            "hasDotgit (NTFS trailing dot)": [("100644", b".git.", blob)],
            "hasDotgit (HFS ignorable)": [("40000", ".\u200cgit".encode(), sub)],
            "hasDotdot": [("40000", b"..", sub)],
            "hasDot": [("40000", b".", sub)],
            "fullPathname": [("100644", b"a/b", blob)],
            "duplicateEntries": [("100644", b"a", blob), ("100644", b"a", blob)],
            "zeroPaddedFilemode": [("040000", b"d", sub)],
            "badFilemode": [("100777", b"x", blob)],
            "gitmodulesSymlink": [("120000", b".gitmodules", blob)],
        }
        for label, entries in cases.items():
            with self.subTest(label):
                msg_id = label.split()[0]
                tree = self.write_object("tree", self.raw_tree(entries))
                commit = self.commit_tree(tree, parent=good, message=label)
                self.git("update-ref", "refs/heads/bad", commit)
                before = self.refs("webapp")
                r = self.push("webapp", "bad:master", "bad:refs/heads/other")
                out = r.stdout + r.stderr
                self.assertNotEqual(r.returncode, 0, out)
                self.assertIn(msg_id, out)
                self.assertIn("unpacker error", out)
                self.assertEqual(self.refs("webapp"), before)
                self.assertNotEqual(self.hub_git("webapp", "cat-file", "-e", tree).returncode, 0,
                                    "refused objects stay out of the repository")

        # A commit and a tag with zero-padded dates: neither the client nor libgit2's
        # parser minds, git's fsck does.
        bad_commit = self.write_object("commit", f"tree {sub}\nparent {good}\nauthor t <t@x> 0123 +0000\n"
                                                 f"committer t <t@x> 1 +0000\n\nm\n".encode())
        self.git("update-ref", "refs/heads/badc", bad_commit)
        r = self.push("webapp", "badc:refs/heads/badc")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("zeroPaddedDate", r.stdout + r.stderr)
        bad_tag = self.write_object("tag", f"object {good}\ntype commit\ntag v0\ntagger t <t@x> 0123 +0000\n\nm\n"
                                    .encode())
        self.git("update-ref", "refs/tags/badtag", bad_tag)
        r = self.push("webapp", "refs/tags/badtag")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("zeroPaddedDate", r.stdout + r.stderr)

        # Good pushes still land, and the repository stays sound.
        self.write("b.txt", "b\n")
        self.git("add", "-A")
        self.git("commit", "-q", "-m", "second")
        self.git("tag", "-a", "v1", "-m", "release")
        r = self.push("webapp", "master", "v1")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assert_fsck_clean("webapp")
        self.assertGreaterEqual(self.metric('skyport_hub_git_push_refused_total{cause="fsck"}'), len(cases) + 2)

    # -- (b) object sizes: a real object over the cap, and a 200-byte delta bomb

    def test_object_over_the_size_cap_is_refused(self):
        with open(os.path.join(self.work, "big.bin"), "wb") as f:
            f.truncate(101 << 20)  # zeros: compresses to ~100 KB, inflates to 101 MiB > 100 MiB
        self.git("add", "-A")
        self.git("commit", "-q", "-m", "big")
        r = self.push("webapp", "master")
        out = r.stdout + r.stderr
        self.assertNotEqual(r.returncode, 0, out)
        self.assertIn("limit of 104857600 bytes", out)
        self.assertFalse(os.path.exists(self.repo_path("webapp")), "nothing of a refused first push stays")
        self.assertEqual(self.metric('skyport_hub_git_push_refused_total{cause="object_size"}'), 1)

    def test_delta_bomb_is_refused_before_it_inflates(self):
        base = bytes(0x10000)
        result_size = 512 << 20
        w = PackWriter()
        at = w.blob(base)
        w.ofs_delta(at, varint(len(base)) + varint(result_size) + copy_ops(result_size))
        pack = w.bytes()
        self.assertLess(len(pack), 400)
        status, body = self.raw_push("bomb", [f"{ZERO} {blob_id(base)} refs/tags/bomb\0report-status\n"], pack)
        self.assertEqual(status, 200)
        self.assertNotIn(b"unpack ok", body)
        self.assertIn(b"limit", body)
        self.assertIn(b"ng refs/tags/bomb unpacker error", body)
        with open(f"/proc/{self.hub.proc.pid}/status") as f:
            peak_kb = int(re.search(r"VmHWM:\s+(\d+)", f.read()).group(1))
        self.assertLess(peak_kb, 300 * 1024, "the hub never builds the bomb's result")
        self.assertFalse(os.path.exists(self.repo_path("bomb")))

    def test_deep_and_costly_delta_chains_are_refused(self):
        base = bytes(0x10000)
        # 60 small deltas in a chain: deeper than the default 50.
        w = PackWriter()
        at = w.blob(base)
        for k in range(60):
            tag = struct.pack(">I", k + 1)
            at = w.ofs_delta(at, varint(len(base)) + varint(len(base)) + bytes([4]) + tag + copy_ops(len(base) - 4))
        status, body = self.raw_push("deep", [f"{ZERO} {blob_id(base)} refs/tags/deep\0report-status\n"], w.bytes())
        self.assertEqual(status, 200)
        self.assertIn(b"delta chain of depth 51", body)
        self.assertIn(b"ng refs/tags/deep unpacker error", body)
        # A chain within the depth whose rebuild work (~4 GiB) is over --git-max-inflate-bytes 1GiB.
        size = 8 << 20
        w = PackWriter()
        at = w.blob(bytes(size))
        for k in range(30):
            tag = struct.pack(">I", k + 1)
            at = w.ofs_delta(at, varint(size) + varint(size) + bytes([4]) + tag + copy_ops(size - 4))
        status, body = self.raw_push("costly", [f"{ZERO} {blob_id(bytes(size))} refs/tags/c\0report-status\n"],
                                     w.bytes())
        self.assertEqual(status, 200)
        self.assertIn(b"the hub's limit is 1073741824", body)
        self.assertFalse(os.path.exists(self.repo_path("deep")))
        self.assertFalse(os.path.exists(self.repo_path("costly")))
        self.assertEqual(self.metric('skyport_hub_git_push_refused_total{cause="delta_depth"}'), 1)
        self.assertEqual(self.metric('skyport_hub_git_push_refused_total{cause="inflate_bytes"}'), 1)

    # -- (c) refs per push

    def test_too_many_refs_in_one_push_are_refused(self):
        self.write("a.txt", "a\n")
        self.git("add", "-A")
        self.git("commit", "-q", "-m", "a")
        head = self.git("rev-parse", "HEAD").stdout.strip()
        self.git("update-ref", "--stdin", stdin="".join(f"create refs/heads/b{i:04d} {head}\n"
                                                         for i in range(1010)).encode())
        r = self.push("webapp", "refs/heads/*:refs/heads/*")
        out = r.stdout + r.stderr
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("limit is 1000 refs per push", out)
        self.assertFalse(os.path.exists(self.repo_path("webapp")))
        self.assertEqual(self.metric('skyport_hub_git_push_refused_total{cause="refs"}'), 1)
        r = self.push("webapp", "master", "b0001", "b0002")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assert_fsck_clean("webapp")

    # -- (d) a slow push does not hold up other apps

    def test_slow_pushes_do_not_stall_other_apps(self):
        # Two pushes whose packs are chains of large deltas: libgit2 rebuilds each
        # 8 MiB object from the chain's base, which keeps a core busy for a while.
        size, depth = 8 << 20, 30
        base = bytes(size)
        w = PackWriter()
        at = w.blob(base)
        for k in range(depth):
            tag = struct.pack(">I", k + 1)
            at = w.ofs_delta(at, varint(size) + varint(size) + bytes([len(tag)]) + tag + copy_ops(size - len(tag)))
        pack = w.bytes()
        done = {}
        sent = {app: threading.Event() for app in ("slow1", "slow2")}

        def slow(app):
            body = pkt(f"{ZERO} {blob_id(base)} refs/tags/slow\0report-status\n") + b"0000" + pack
            auth = base64.b64encode(f"x:{self.token}".encode()).decode()
            # From another address than the quick push: one address holds at most
            # --git-max-pushes-per-client (2) slots.
            conn = http.client.HTTPConnection("127.0.0.1", self.hub.git_port, timeout=300,
                                              source_address=("127.0.0.2", 0))
            try:
                conn.request("POST", f"/{app}.git/git-receive-pack", body=body,
                             headers={"Authorization": f"Basic {auth}",
                                      "Content-Type": "application/x-git-receive-pack-request"})
                sent[app].set()
                done[app] = conn.getresponse().read()
            except OSError as e:
                done[app] = e
            finally:
                sent[app].set()
                conn.close()

        threads = [threading.Thread(target=slow, args=(a,), daemon=True) for a in sent]
        for t in threads:
            t.start()
        for e in sent.values():
            self.assertTrue(e.wait(30))
        in_flight = self.metric("skyport_hub_git_pushes_in_flight")
        if in_flight is not None:  # older hubs have no such metric
            wait_until(lambda: self.metric("skyport_hub_git_pushes_in_flight") == 2, 10, what="both slow pushes running")

        # Meanwhile another app's push, by the real client, lands.
        self.write("q.txt", "quick\n")
        self.git("add", "-A")
        self.git("commit", "-q", "-m", "quick")
        r = self.push("quick", "master")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(done, {}, "the quick push was answered while the slow ones were still being indexed")
        self.assert_fsck_clean("quick")


    # -- the bound on pushes at once

    def test_too_many_concurrent_pushes_are_answered_503(self):
        # One push in flight: its client sends the head of a body and stalls.
        auth = base64.b64encode(f"x:{self.token}".encode()).decode()
        stalled = socket.create_connection(("127.0.0.1", self.hub.git_port), timeout=10)
        self.addCleanup(stalled.close)
        stalled.sendall(f"POST /stalled.git/git-receive-pack HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {auth}\r\n"
                        "Content-Length: 100000\r\n\r\n0000".encode())
        wait_until(lambda: self.metric("skyport_hub_git_pushes_in_flight") == 1, 10, what="the stalled push admitted")
        self.write("a.txt", "a\n")
        self.git("add", "-A")
        self.git("commit", "-q", "-m", "a")
        r = self.push("webapp", "master")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("503", r.stdout + r.stderr)
        self.assertEqual(self.metric("skyport_hub_git_pushes_busy_total"), 1)
        stalled.close()
        wait_until(lambda: self.metric("skyport_hub_git_pushes_in_flight") == 0, 10, what="the stalled push gone")
        r = self.push("webapp", "master")
        self.assertEqual(r.returncode, 0, r.stderr)

    def stalled_push(self, app, source):
        """A push from `source` (a loopback address) that sends its head and a little body, then stalls."""
        auth = base64.b64encode(f"x:{self.token}".encode()).decode()
        s = socket.create_connection(("127.0.0.1", self.hub.git_port), timeout=10, source_address=(source, 0))
        self.addCleanup(s.close)
        s.sendall(f"POST /{app}.git/git-receive-pack HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {auth}\r\n"
                  "Content-Length: 100000\r\n\r\n0000".encode())
        return s

    def test_one_client_cannot_hold_every_push_slot(self):
        # A token holder at 127.0.0.2 opens as many stalled pushes as the hub has slots (4 by
        # default). Only --git-max-pushes-per-client (2 by default) are admitted; the others
        # get 429 with Retry-After, and a push from another address still lands.
        held = [self.stalled_push(f"hog{i}", "127.0.0.2") for i in range(2)]
        wait_until(lambda: self.metric("skyport_hub_git_pushes_in_flight") == 2, 10, what="two stalled pushes admitted")
        for i in range(2, 4):
            s = self.stalled_push(f"hog{i}", "127.0.0.2")
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = s.recv(4096)
                if not chunk:
                    break
                head += chunk
            status_line, _, rest = head.partition(b"\r\n")
            self.assertTrue(status_line.startswith(b"HTTP/1.1 429"), head)
            self.assertIn(b"\r\nretry-after: 5\r\n", rest.lower())
        self.assertEqual(self.metric("skyport_hub_git_pushes_in_flight"), 2)
        self.assertEqual(self.metric("skyport_hub_git_pushes_client_busy_total"), 2)
        self.assertEqual(self.metric("skyport_hub_git_pushes_busy_total"), 0)
        with open(self.hub.log_path) as f:
            self.assertRegex(f.read(), r"push refused.*cause=client_busy.*peer=127\.0\.0\.2")

        # Another client (127.0.0.1, the real git client) still pushes.
        self.write("a.txt", "a\n")
        self.git("add", "-A")
        self.git("commit", "-q", "-m", "a")
        r = self.push("webapp", "master")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assert_fsck_clean("webapp")
        for s in held:
            s.close()
        wait_until(lambda: self.metric("skyport_hub_git_pushes_in_flight") == 0, 10, what="the stalled pushes gone")


if __name__ == "__main__":
    unittest.main()
