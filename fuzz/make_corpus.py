#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora (fuzz/<target>/corpus/) and is the
record of what each seed is. Rerun after changing it; the files are committed.
Seeds are small, real inputs: requests and responses as browsers, curl and the
integration tests send them, chunked bodies, events posts, a real push's
pkt-lines (git 2.39.5), the examples' flight specs, route configs, packs and
git objects as git writes them, request paths, signed cookies."""
import base64
import hashlib
import hmac
import json
import os
import shutil
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
A = "aaaa" + "1" * 36
B = "bbbb" + "2" * 36
ZERO = "0" * 40
UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"


def write(target, seeds):
    d = os.path.join(HERE, target, "corpus")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    for name, data in seeds.items():
        if isinstance(data, str):
            data = data.encode()
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)


def crlf(*lines):
    return "\r\n".join(lines) + "\r\n\r\n"


REQUESTS = {
    "get_browser": crlf("GET /shop/cart?item=3 HTTP/1.1", "Host: webapp.localhost", "User-Agent: " + UA,
                        "Accept: text/html,application/xhtml+xml", "Accept-Language: de-DE,de;q=0.9,en;q=0.8",
                        "Cookie: theme=dark; skyport_uid=0123456789abcdef0123456789abcdef; skyport_channel=beta",
                        "Connection: keep-alive"),
    "get_curl": crlf("GET / HTTP/1.1", "Host: 127.0.0.1:8080", "User-Agent: curl/7.88.1", "Accept: */*"),
    "http10": crlf("GET /index.html HTTP/1.0", "Connection: keep-alive"),
    "post_length": crlf("POST /_skyport/events HTTP/1.1", "Host: webapp.localhost", "Content-Type: application/json",
                        "Content-Length: 34") + '{"event": "purchase", "value": 10}',
    "post_chunked": crlf("POST /upload HTTP/1.1", "Host: a", "Transfer-Encoding: gzip, chunked",
                         "Expect: 100-continue") + "5\r\nhello\r\n0\r\n\r\n",
    "websocket": crlf("GET /ws HTTP/1.1", "Host: ws.localhost", "Connection: Upgrade", "Upgrade: websocket",
                      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13"),
    "forwarded": crlf("HEAD /a HTTP/1.1", "Host: x", "X-Forwarded-For: 10.0.0.1, 10.0.0.2", "X-Request-Id: r-1",
                      "X-Skyport-Commit: " + B[:7], "Connection: close, X-Custom", "X-Custom: 1"),
    "absolute_form": crlf("GET http://webapp.localhost:8080/p?q=1 HTTP/1.1", "Host: webapp.localhost:8080"),
    "connect": crlf("CONNECT example.com:443 HTTP/1.1", "Host: example.com:443"),
    "options_star": "\r\n" + crlf("OPTIONS * HTTP/1.1", "Host: a"),
    "smuggle_cl_te": crlf("POST / HTTP/1.1", "Host: a", "Content-Length: 4", "Transfer-Encoding: chunked") + "0\r\n\r\n",
    "smuggle_two_cl": crlf("POST / HTTP/1.1", "Host: a", "Content-Length: 4", "Content-Length: 5") + "abcd",
    "obs_fold": crlf("GET / HTTP/1.1", "Host: a", "X-A: 1", " folded"),
    "bare_lf": "GET / HTTP/1.1\nHost: a\n\n",
    "space_colon": crlf("GET / HTTP/1.1", "Host : a"),
    "version_2": crlf("GET / HTTP/2.0", "Host: a"),
    "incomplete": "GET /slow HTTP/1.1\r\nHost: a\r\nX-Wait: ",
}

RESPONSES = {  # first byte: bit 0 = the request was HEAD
    "ok_length": "\0" + crlf("HTTP/1.1 200 OK", "Content-Type: text/plain", "Content-Length: 5") + "hello",
    "ok_chunked": "\0" + crlf("HTTP/1.1 200 OK", "Transfer-Encoding: chunked") + "5\r\nhello\r\n0\r\n\r\n",
    "until_close": "\0" + crlf("HTTP/1.0 200 OK", "Server: SimpleHTTP/0.6 Python/3.11.2"),
    "head": "\1" + crlf("HTTP/1.1 200 OK", "Content-Length: 1234"),
    "no_content": "\0" + crlf("HTTP/1.1 204 No Content", "Connection: keep-alive"),
    "not_modified": "\0" + crlf("HTTP/1.1 304 Not Modified", "ETag: \"x\""),
    "continue": "\0" + crlf("HTTP/1.1 100 Continue"),
    "switching": "\0" + crlf("HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade",
                             "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
    "gzip_chunked_cl": "\0" + crlf("HTTP/1.1 200 OK", "Transfer-Encoding: gzip, chunked", "Content-Length: 9"),
    "same_cl_twice": "\0" + crlf("HTTP/1.1 200 OK", "Content-Length: 3", "Content-Length: 3") + "abc",
    "cookie": "\0" + crlf("HTTP/1.1 302 Found", "Location: /", "Set-Cookie: a=b; Path=/", "Content-Length: 0"),
    "no_reason": "\0" + crlf("HTTP/1.1 500 ", "Content-Length: 0"),
}

CHUNKED = {  # first byte: piece size (1 + b % 16)
    "simple": "\3" + "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
    "extensions": "\7" + "4;name=value;q=\"x\"\r\nabcd\r\n0;last\r\n\r\n",
    "trailers": "\1" + "3\r\nabc\r\n0\r\nX-Checksum: 123\r\nX-Other:\tv\r\n\r\n",
    "upper_hex": "\15" + "A\r\n0123456789\r\n0\r\n\r\n",
    "bws": "\2" + "3 ;ext\r\nabc\r\n0\r\n\r\n",
    "leading_zeros": "\5" + "0000000000000003\r\nabc\r\n0\r\n\r\n",
    "too_many_digits": "\5" + "00000000000000003\r\nabc\r\n0\r\n\r\n",
    "huge": "\0" + "ffffffffffffffff\r\nab",
    "bad_crlf": "\4" + "3\r\nabcX\r\n0\r\n\r\n",
    "bare_lf": "\4" + "3\nabc\n0\n\n",
    "after_end": "\6" + "0\r\n\r\nGET / HTTP/1.1\r\n\r\n",
}

NOW = 1796601600
EVENTS = {  # first byte: bit 0 = trusted (the cluster token)
    "single": '\0{"event": "purchase", "value": 10}',
    "single_time": '\0{"event":"signup","time":%d.75}' % (NOW - 3600),
    "array": '\0[{"event":"click"},{"event":"purchase","value":-2.5e3}]',
    "events_obj": '\0{"events":[{"event":"a.b:c-d_e"},{"event":"view","value":1E2}]}',
    "trusted_user": '\1{"event":"purchase","user":"0123456789abcdef0123456789abcdef","value":3}',
    "trusted_batch": '\1{"events":[{"event":"x","user":"alice@example.com"},{"event":"y","user":"u:42"}]}',
    "untrusted_user": '\0{"event":"purchase","user":"bob"}',
    "reserved": '\0{"event":"$exposure"}',
    "escaped": '\0{"event":"pur\\u0063hase"}',
    "dup_field": '\0{"event":"a","event":"b"}',
    "unknown_field": '\0{"event":"a","color":"red"}',
    "big_value": '\0{"event":"a","value":1e13}',
    "future": '\0{"event":"a","time":%d}' % (NOW + 86400),
    "not_json": '\0{"event": purchase}',
    "empty_batch": "\0[]",
    "whitespace": '\0 \t\r\n{ "event" : "a" , "value" : 0.5 }\n',
}


def pkt(payload):
    if isinstance(payload, str):
        payload = payload.encode()
    return b"%04x" % (len(payload) + 4) + payload


PACK = b"PACK\0\0\0\2\0\0\0\3" + bytes(range(0x78, 0x98))
SHA1 = "4b825dc642cb6eb9a60ed84b6ab1ea9f7fd2b7c5"  # git's empty tree
SHA2 = "74336bc0ff31bba5bd4f3c3ef6a4a0b8d9e1f203"
CAPS = " report-status side-band-64k quiet object-format=sha1 agent=git/2.39.5"
PUSHES = {  # what `git push` (2.39.5) sends to the hub's receive-pack
    "create": pkt(f"{ZERO} {SHA1} refs/heads/master\0{CAPS.strip()}\n") + b"0000" + PACK,
    "update": pkt(f"{SHA1} {SHA2} refs/heads/master\0report-status side-band-64k agent=git/2.39.5\n")
              + b"0000" + PACK,
    "delete": pkt(f"{SHA2} {ZERO} refs/heads/old\0report-status delete-refs quiet\n") + b"0000",
    "several": pkt(f"{ZERO} {SHA1} refs/heads/a\0report-status\n") + pkt(f"{SHA1} {SHA2} refs/tags/v1\n")
               + pkt(f"shallow {SHA1}\n") + pkt(f"{SHA2} {ZERO} refs/heads/b") + b"0000" + PACK,
    "no_caps": pkt(f"{ZERO} {SHA2} refs/heads/main\n") + b"0000" + PACK,
    "bad_ref": pkt(f"{ZERO} {SHA2} HEAD\0report-status\n") + b"0000",
    "upper_len": b"003F" + f"{ZERO} {SHA2} refs/heads/x\n".encode()[:59] + b"0000",
    "twice": pkt(f"{ZERO} {SHA1} refs/heads/a\0report-status\n") + pkt(f"{ZERO} {SHA2} refs/heads/a\n") + b"0000",
}

FLIGHT = {
    "name": "checkout-v2", "app": "webapp", "description": "New checkout", "author": "ana",
    "infourl": "https://wiki.example/checkout-v2", "version": 1,
    "arms": {"control": "74336bc", "treatment": "40548da"}, "control": "control",
    "filter": {"channels": ["beta"], "oses": ["linux", "mac"], "locales": ["en-US", "de"],
               "headers": {"X-Beta": "1"}},
    "randomDeploy": {"keyname": "uid", "ge": 0.0, "lt": 0.2}, "endBy": "2026-12-01T00:00:00Z", "kill": False,
    "flightplan": [
        {"action": "deploy", "arm": "treatment", "instances": 2},
        {"action": "weight", "arms": {"treatment": 5}},
        {"action": "wait", "for": "10m"},
        {"action": "gate", "metric": "error_rate", "arm": "treatment", "max_increase": 0.01},
        [{"action": "ping", "url": "http://hooks.example/notify?flight={{name}}&step={{step}}"},
         {"action": "weight", "arms": {"treatment": 50}}],
        {"action": "wait", "until": "2026-11-25T00:00:00Z"},
        {"action": "gate", "metric": "conversion", "event": "purchase", "test": "sequential", "alpha": 0.05},
        {"action": "ping", "url": "http://hooks.example/x", "method": "POST", "body": "{\"s\":\"{{status}}\"}"},
        {"action": "log", "message": "done"},
        {"action": "promote", "arm": "treatment", "grace": "10m"}]}
SMALL_FLIGHT = {"name": "f", "app": "web", "arms": {"a": "main", "b": "feature/x"}, "control": "a",
                "flightplan": []}
THREE_ARMS = {"name": "abc", "app": "web", "arms": {"c": "1111111", "t1": "2222222", "t2": "3333333"},
              "control": "c", "flightplan": [{"action": "weight", "arms": {"t1": 30, "t2": 30}},
                                             {"action": "gate", "metric": "conversion", "event": "buy", "arm": "t2"},
                                             {"action": "promote", "arm": "t1"}]}
BAD_FLIGHT = {"name": "x", "app": "web", "arms": {"a": "m"}, "control": "z",
              "flightplan": [{"action": "weight", "arms": {"a": 120}}, {"action": "wait", "for": "1m", "until": "x"}]}


def read(path):
    with open(os.path.join(HERE, "..", path), "rb") as f:
        return f.read()


FLIGHT_YAML = {
    "example_webapp": read("examples/webapp/flight.yaml"),
    "small": b"name: f\napp: web\narms: {a: main, b: 'feature/x'}\ncontrol: a\nflightplan: []\n",
    "anchors": b"name: f\napp: web\narms: &arms {a: m1, b: m2}\ncontrol: a\nx: *arms\n"
               b"flightplan:\n  - &w {action: weight, arms: {b: 10}}\n  - *w\n",
    "block_seq": b"flightplan:\n- - action: log\n    message: |\n      two\n      lines\n  - action: wait\n    for: 1s\n",
    "scalars": b"a: ~\nb: 'true'\nc: TRUE\nd: 0x1F\ne: -1.5e3\nf: .inf\ng: !!str 12\nh: null\n",
    "bad_key": b"? [a, b]\n: c\n",
    "json_style": json.dumps(SMALL_FLIGHT).encode(),
}

ROUTE = {"app": "webapp", "split_id": "checkout-v2.1", "weights": {A: 50, B: 50},
         "flight": {"name": "checkout-v2", "id": "checkout-v2.1", "control": A, "arms": {"control": A, "treatment": B},
                    "filter": {"oses": ["linux"], "channels": ["beta"], "locales": ["de"], "headers": {"x-beta": "1"}},
                    "range_key": "uid", "range_ge": 0, "range_lt": 500000, "end_by_unix_ms": 1796601600000}}
ROUTES = {
    "flight": json.dumps(ROUTE, indent=2),
    "plain": json.dumps({"app": "web", "weights": {A: 90, B: 10}, "hosts": ["example.com"],
                         "allow_override": True, "path_prefixes": ["/web/"]}),
    "slices": json.dumps({"app": "web", "split_id": "s1", "weights": {A: 1, B: 1},
                          "slices": [{"commit": A, "ge": 0, "lt": 500000}, {"commit": B, "ge": 500000, "lt": 1000000}]}),
    "camel": json.dumps({"app": "web", "splitId": "s2", "allowOverride": False, "pathPrefixes": ["/a/"],
                         "weights": {A[:7]: 100}}),
    "unknown": json.dumps({"app": "web", "weight": {A: 1}}),
    "wrong_type": json.dumps({"app": "web", "weights": {A: "x"}}),
    "revision": json.dumps({"app": "web", "revision": "12", "weights": {}}),
}

STATIC = {
    "integration": json.dumps({"default_app": "web", "apps": [
        {"name": "web", "hosts": ["example.com"], "path_prefixes": ["/web/"], "split_id": "s1", "allow_override": True,
         "arms": [{"commit": "aaaa", "weight": 90, "upstreams": ["127.0.0.1:18101"]},
                  {"commit": "bbbb", "weight": 10, "upstreams": ["127.0.0.1:18102", "[::1]:18103"]}]},
        {"name": "ws", "arms": [{"commit": "w", "weight": 100, "upstreams": ["127.0.0.1:18104"]}]}]}),
    "flight": json.dumps({"apps": [
        {"name": "webapp", "split_id": "checkout-v2.1",
         "flight": {k: v for k, v in ROUTE["flight"].items() if k != "control"} | {"control": "a"},
         "arms": [{"commit": "a", "weight": 50, "upstreams": ["127.0.0.1:1"]},
                  {"commit": "b", "weight": 50, "upstreams": ["127.0.0.1:2"]}]}]}),
    "zero_weights": json.dumps({"apps": [{"name": "x", "arms": [{"commit": "a"}, {"commit": "b",
                                                                                  "upstreams": ["10.0.0.1:80"]}]}]}),
    "name_upstream": json.dumps({"apps": [{"name": "x", "arms": [{"commit": "a", "upstreams": ["backend:80"]}]}]}),
    "conflict": json.dumps({"apps": [{"name": "x", "hosts": ["h"], "arms": [{"commit": "a"}]},
                                     {"name": "y", "hosts": ["h"], "arms": [{"commit": "a"}]}]}),
    "bad": json.dumps({"apps": [{"name": "", "arms": [{"commit": "a b", "weight": -1, "upstreams": [":80"]}]}],
                       "extra": 1}),
}

# -- packs (first byte: piece size 1 + b % 64; second: limits, 0x7F = depth 8, 8 KiB objects,
# 64 objects, 1 MiB inflated; 0x00 = depth 1, 64 B objects, 1 object, 1 MiB)

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


def git_id(kind, body):
    return hashlib.sha1(b"%s %d\0" % (kind, len(body)) + body).digest()


class Pack:
    def __init__(self):
        self.parts, self.size = [], 12

    def add(self, kind, raw_size, data, prefix=b""):
        offset = self.size
        blob = obj_header(kind, raw_size) + prefix + zlib.compress(data)
        self.parts.append(blob)
        self.size += len(blob)
        return offset

    def ofs_delta(self, base_offset, delta):
        return self.add(6, len(delta), delta, prefix=ofs_encode(self.size - base_offset))

    def ref_delta(self, base_id, delta):
        return self.add(7, len(delta), delta, prefix=base_id)

    def bytes(self, count=None):
        body = b"PACK" + struct.pack(">II", 2, len(self.parts) if count is None else count) + b"".join(self.parts)
        return body + hashlib.sha1(body).digest()


def tree_body(entries):
    return b"".join(mode + b" " + name + b"\0" + oid for mode, name, oid in entries)


HELLO = b"hello world\n" * 4
HELLO_ID = git_id(b"blob", HELLO)
TREE = tree_body([(b"100644", b"app.py", HELLO_ID), (b"40000", b"static", git_id(b"tree", b"")),
                  (b"100755", b"start.sh", HELLO_ID)])
IDENT = b"Ana <ana@example.com> 1764547200 +0100"
COMMIT = (b"tree " + git_id(b"tree", TREE).hex().encode() + b"\nparent " + ("4b825dc6" * 5).encode() + b"\nauthor " +
          IDENT + b"\ncommitter " + IDENT + b"\n\nfirst\n")
TAG = (b"object " + git_id(b"commit", COMMIT).hex().encode() + b"\ntype commit\ntag v1\ntagger " + IDENT +
       b"\n\nrelease\n")


def packs():
    out = {}
    p = Pack()
    p.add(3, len(HELLO), HELLO)
    p.add(2, len(TREE), TREE)
    p.add(1, len(COMMIT), COMMIT)
    p.add(4, len(TAG), TAG)
    out["four_kinds"] = b"\x07\x7f" + p.bytes()
    # A delta copying the base and appending a line; then a chain of 8 of them.
    p = Pack()
    at = p.add(3, len(HELLO), HELLO)
    for k in range(8):
        size = len(HELLO) + 1 + k
        delta = varint(size - 1) + varint(size) + bytes([0x90, size - 1]) + b"\x01" + bytes([0x41 + k])
        at = p.ofs_delta(at, delta)
    out["ofs_chain"] = b"\x03\x7f" + p.bytes()
    # A thin pack: a REF_DELTA against an object the "repository" has (even first byte) or not.
    for name, base in (("ref_delta_known", b"\x02" + b"\x11" * 19), ("ref_delta_unknown", b"\x01" + b"\x11" * 19)):
        p = Pack()
        p.ref_delta(base, varint(48) + varint(12) + bytes([0x90, 12]))
        out[name] = b"\x10\x7f" + p.bytes()
    # The delta bomb: 20 bytes claiming 512 MiB of copies.
    p = Pack()
    at = p.add(3, 0x10000, bytes(0x10000))
    p.ofs_delta(at, varint(0x10000) + varint(512 << 20) + b"\x80" * 64)
    out["delta_bomb"] = b"\x3f\x7f" + p.bytes()
    # The same objects as records the target deflates itself (first byte bit 7; see fuzz/pack_scan.cc).
    def small_deflate(data):  # what the target's Deflate writes
        z = zlib.compressobj(1, zlib.DEFLATED, 9, 1)
        return z.compress(data) + z.flush()

    def records(objs):
        return b"".join(bytes([len(h)]) + h + bytes([len(b)]) + b for h, b in objs)
    out["built_four_kinds"] = b"\x87\x7f" + records(
        [(obj_header(k, len(b)), b) for k, b in ((3, HELLO), (2, TREE), (1, COMMIT[:255]), (4, TAG))])
    objs, at, size = [(obj_header(3, len(HELLO)), HELLO)], 12, 12
    size += len(objs[0][0]) + len(small_deflate(HELLO))
    for k in range(3):
        n = len(HELLO) + 1 + k
        delta = varint(n - 1) + varint(n) + bytes([0x90, n - 1]) + b"\x01" + bytes([0x41 + k])
        h = obj_header(6, len(delta)) + ofs_encode(size - at)
        objs.append((h, delta))
        at, size = size, size + len(h) + len(small_deflate(delta))
    out["built_ofs_chain"] = b"\x83\x7f" + records(objs)
    out["built_ref_delta"] = b"\x90\x7f" + records([(obj_header(7, 4) + b"\x02" + b"\x11" * 19, varint(48) + varint(12)
                                                      + bytes([0x90, 12]))])
    out["built_overflow"] = b"\x83\x7f" + records([(obj_header(3, 5), b"more than five")])
    out["tight_limits"] = b"\x05\x00" + out["four_kinds"][2:]
    out["count_too_big"] = b"\x01\x7f" + Pack().bytes(count=0xFFFFFFFF)
    out["bad_version"] = b"\x00\x7f" + b"PACK\0\0\0\x09\0\0\0\0" + bytes(20)
    out["trailing"] = b"\x09\x7f" + Pack().bytes() + b"junk"
    return out


def entry(mode, name, oid=HELLO_ID):
    return (mode, name, oid)


OBJECTS = {
    "tree": TREE,
    "tree_dotgit": tree_body([entry(b"40000", b".git")]),
    "tree_dotgit_ntfs": tree_body([entry(b"100644", b"GIT~1"), entry(b"100644", b"a\\.git. ")]),
    "tree_dotgit_hfs": tree_body([entry(b"40000", ".\u200cgIt".encode())]),
    "tree_gitmodules_link": tree_body([entry(b"120000", b".gitmodules")]),
    "tree_dotdot": tree_body([entry(b"40000", b".."), entry(b"100644", b"a/b")]),
    "tree_dups": tree_body([entry(b"100644", b"a"), entry(b"100644", b"a.b"), entry(b"40000", b"a")]),
    "tree_unsorted": tree_body([entry(b"100644", b"b"), entry(b"100644", b"a")]),
    "tree_modes": tree_body([entry(b"040000", b"z"), entry(b"100664", b"y"), entry(b"160000", b"x"),
                             entry(b"100600", b"w")]),
    "tree_null": tree_body([entry(b"100644", b"n", bytes(20))]),
    "commit": COMMIT,
    "commit_bad_ident": COMMIT.replace(b"<ana@example.com>", b"ana@example.com"),
    "commit_nul": COMMIT.replace(b"\nauthor", b"\0\nauthor"),
    "commit_date": COMMIT.replace(b"1764547200", b"99999999999999999999"),
    "tag": TAG,
    "tag_bad_type": TAG.replace(b"type commit", b"type branch"),
    "name_dotgit_upper": b".GIT",
}

PATHS = {  # first byte: bit 0 = unescape_slashes
    "plain": "\0/shop/cart/item-3",
    "dotdot": "\0/shop/../admin",
    "encoded_slash": "\0/shop/..%2fadmin",
    "encoded_slash_unescaped": "\1/shop/..%2Fadmin",
    "backslash": "\1/shop\\..\\admin",
    "dot_segments": "\0/a/./b/../../../c/.",
    "empty_segments": "\0//a//b/",
    "unreserved": "\0/%7Euser/%41%2d%2E%5f/%e2%82%ac",
    "encoded_dots": "\0/a/%2e%2E/%2e",
    "semicolon": "\0/shop/..;/admin",
    "encoded_semicolon": "\0/shop/%2e%2e;jsessionid=1/x",
    "bad_escape": "\0/a%2",
    "nul": "\0/a%00b",
    "star": "\0*",
    "root": "\0/",
    "prefix_like": "\0/api/v2/",
}

COOKIE_TOKEN = b"fuzz-cluster-token"  # the target's key: DeriveCookieSecret(this)
COOKIE_KEY = hmac.new(b"skyport/router-cookie-secret/v1", COOKIE_TOKEN, hashlib.sha256).digest()
USER = "0123456789abcdef0123456789abcdef"


def signed_cookie(user, split, key=COOKIE_KEY):
    mac = hmac.new(key, b"v1." + user.encode() + b"." + split.encode(), hashlib.sha256).digest()[:12]
    return "v1.%s.%s.%s" % (user, base64.urlsafe_b64encode(mac).decode().rstrip("="), split)


COOKIES = {  # first byte: bit 0 = mint then edit, bit 1 = legacy window open
    "signed": "\0" + signed_cookie(USER, "checkout-v2.1"),
    "signed_other_key": "\0" + signed_cookie(USER, "s1", key=b"not the cluster's"),
    "tampered_user": "\0" + signed_cookie(USER, "s1").replace("0123", "3210", 1),
    "legacy_closed": "\0" + USER + ".s1",
    "legacy_open": "\2" + USER + ".checkout-v2.1",
    "malformed": "\2v1." + USER + "..s1",
    "mint_edit": "\1" + "".join(chr(i) for i in range(16)) + "\x0csplit-id.v1" + "\0\x05\x10\x02\x20\x01",
    "mint_previous": "\1" + "u" * 16 + "\x02ab" + "\x01\x30\x03",
}

HTTP_WORDS = ["GET", "HEAD", "POST", "CONNECT", "OPTIONS", "HTTP/1.1", "HTTP/1.0", "HTTP/", "\r\n", "\r\n\r\n",
              "Host:", "Content-Length:", "Transfer-Encoding:", "chunked", "gzip", "identity", "Connection:",
              "close", "keep-alive", "Upgrade", "Upgrade:", "websocket", "Expect:", "100-continue", "Cookie:",
              "skyport_uid=", "X-Forwarded-For:", "X-Request-Id:", "X-Skyport-Commit:", "X-Skyport-User:",
              "Keep-Alive:", "Proxy-Connection:", "TE:", "trailers", "http://", "*", " 200 OK", " 204 ", " 304 ",
              " 101 ", "18446744073709551616", "\t", ";", ","]
CHUNK_WORDS = ["0\r\n\r\n", "\r\n", ";ext=", '="q"', "ffffffffffffffff", "X-T: v\r\n", " ", "\t"]
EVENT_WORDS = ['"event"', '"value"', '"user"', '"time"', '"events"', "$exposure", "1e12", "-0", "1E-400",
               "%d" % NOW, "\\u0000", "true", "null", "[", "]", "{", "}", ":", ","]
PKT_WORDS = ["0000", "0004", "fff0", "FFF0", "0001", "refs/heads/", "refs/tags/", ZERO, SHA1, "shallow ",
             "report-status", "side-band-64k", "delete-refs", "quiet", "agent=git/2.39.5", "\0", "\n", "PACK"]
FLIGHT_WORDS = ['"name"', '"app"', '"arms"', '"control"', '"filter"', '"channels"', '"oses"', '"locales"',
                '"headers"', '"randomDeploy"', '"keyname"', '"ge"', '"lt"', '"endBy"', '"kill"', '"flightplan"',
                '"action"', '"deploy"', '"weight"', '"wait"', '"ping"', '"gate"', '"promote"', '"log"', '"for"',
                '"until"', '"url"', '"method"', '"body"', '"metric"', '"error_rate"', '"conversion"', '"event"',
                '"test"', '"sequential"', '"alpha"', '"max_increase"', '"min_samples"', '"timeout"', '"grace"',
                '"instances"', '"message"', '"version"', '"infourl"', '"{{name}}"', "{{step}}", '"10m"',
                '"2026-11-25T00:00:00Z"', "1e308", "-1", "0.5"]
YAML_WORDS = ["name:", "app:", "arms:", "control:", "flightplan:", "action:", "- ", "&a ", "*a", "<<: ", "!!str ",
              "!!binary ", "? ", "---", "...", "|", ">", "{", "}", "[", "]", "~", "'", "%YAML 1.2", "\n  "]
ROUTE_WORDS = ['"app"', '"weights"', '"split_id"', '"splitId"', '"hosts"', '"allow_override"', '"revision"',
               '"slices"', '"commit"', '"ge"', '"lt"', '"path_prefixes"', '"flight"', '"name"', '"id"', '"control"',
               '"arms"', '"filter"', '"oses"', '"channels"', '"locales"', '"headers"', '"range_key"', '"range_ge"',
               '"range_lt"', '"end_by_unix_ms"', '"%s"' % A, "1000000", "4294967296", '"NaN"', "null"]
PACK_WORDS = [b"PACK", b"\0\0\0\2", b"\0\0\0\3", b"\x78\x9c", b"\x78\x01", b"\x80", b"\xff\xff\xff\xff"]
OBJECT_WORDS = ["tree ", "parent ", "author ", "committer ", "object ", "type ", "tag ", "tagger ", "commit", "blob",
                "40000 ", "100644 ", "100755 ", "120000 ", "160000 ", ".git", ".gitmodules", "git~1", "gitmod~1",
                "\u200c", " +0000\n", " <a@b> ", "\n\n", "\0"]
ADDRESS_LISTS = {  # the list, then '\n' and bytes that pick answers and failures
    "one": "127.0.0.1:6000",
    "three": "10.0.0.1:6000,10.0.0.2:6000,10.0.0.3:6000\n\x08\x11\x02\x2a\xf3\x04\x0c",
    "names_and_v6": "reg-1.example.com:6000, [2001:db8::7]:6001 ,[::1]:1\n\x00\x01\x02\x05\x06\x07\x0f",
    "empty_element": "a:1,,b:2",
    "trailing_comma": "a:1,",
    "bad_port": "a:65536",
    "unbracketed_v6": "::1:6000",
    "twice": "a:1,a:1",
    "sixteen": ",".join(f"h{i}:1" for i in range(16)) + "\n" + "".join(chr(i) for i in range(64)),
}
ADDRESS_WORDS = [",", ":", "[", "]", "::", ":65535", ":0", "127.0.0.1", "localhost", " "]
PATH_WORDS = ["/", "..", ".", "%2e", "%2E", "%2f", "%2F", "%5c", "%5C", "\\", ";", "%00", "%7e", "//", "?"]
COOKIE_WORDS = ["v1.", ".", USER, "AAAAAAAAAAAAAAAA", "-", "_"]
STATIC_WORDS = ['"default_app"', '"apps"', '"name"', '"hosts"', '"path_prefixes"', '"split_id"', '"allow_override"',
                '"arms"', '"commit"', '"weight"', '"upstreams"', '"flight"', '"127.0.0.1:80"', '"[::1]:1"', '":80"',
                "1000000", "null"]


# The console (hub/console/console_request.h): first byte = mode (see fuzz/console_request.cc).
CONSOLE = {
    "route_root": b"\x00/",
    "route_app": b"\x00/api/apps/webapp",
    "route_stats": b"\x00/api/apps/webapp/stats?bucket=day&event=purchase",
    "route_preview": b"\x00/api/apps/webapp/split/preview",
    "route_kill": b"\x00/api/flights/checkout-v2/kill",
    "route_asset": b"\x00/assets/css/site.css",
    "route_dotdot": b"\x00/assets/../api/overview",
    "route_bad_query": b"\x00/api/overview?x=%zz",
    "cookie": b"\x01a=1; skyport_session=" + b"ab" * 32 + b"; b=2",
    "cookie_quoted": b'\x01skyport_session="abc"',
    "bearer": b"\x02Bearer 0123456789abcdef",
    "login_json": b'\x03\x00{"token":"0123456789abcdef"}',
    "login_form": b"\x03\x01token=a%2Bb&x=1",
    "csrf_ok": b"\x040123456789abcdef\nhttp://127.0.0.1:6004\n127.0.0.1:6004",
    "csrf_foreign": b"\x040123456789abcdef\nhttp://evil.example\n127.0.0.1:6004",
    "split": b'\x05{"weights":{"abcd1234":90,"ef012345":10}}',
    "rollback": b'\x05{"release":"v3"}',
    "kill": b'\x05{"reason":"p99 too high"}',
    "sessions": b"\x06" + bytes([0, 1, 10, 1, 1, 50, 0, 2, 10, 3, 0, 200, 1, 2, 5, 2, 1, 1]),
}
CONSOLE_WORDS = ["/api/", "/assets/", "apps", "flights", "split", "preview", "rollback", "kill", "stats",
                 "bucket=", "skyport_session=", "Bearer ", "token=", '"token"', '"weights"', '"release"',
                 '"reason"', "http://", "https://", "..", "%2e", "?", "&", ";", "\n"]


def dict_entry(word):
    out = ""
    for b in word if isinstance(word, bytes) else word.encode():
        c = chr(b)
        out += "\\" + c if c in '"\\' else c if 0x20 <= b < 0x7f else "\\x%02X" % b
    return '"%s"\n' % out


def write_dict(target, words):
    with open(os.path.join(HERE, target + ".dict"), "w") as f:
        f.write("# libFuzzer dictionary, written by make_corpus.py\n")
        f.writelines(dict_entry(w) for w in words)


if __name__ == "__main__":
    write_dict("http1_request", HTTP_WORDS)
    write_dict("http1_response", HTTP_WORDS)
    write_dict("chunked", CHUNK_WORDS)
    write_dict("events", EVENT_WORDS)
    write_dict("pktline", PKT_WORDS)
    write_dict("receive_pack", PKT_WORDS)
    write_dict("flight_spec_json", FLIGHT_WORDS)
    write_dict("flight_spec_yaml", YAML_WORDS + [w.strip('"') + ":" for w in FLIGHT_WORDS if w.startswith('"')])
    write_dict("route_json", ROUTE_WORDS)
    write_dict("static_routes", STATIC_WORDS)
    write_dict("chunked_rewrite", CHUNK_WORDS)
    write_dict("pack_scan", PACK_WORDS)
    write_dict("object_check", OBJECT_WORDS)
    write_dict("uri_path", PATH_WORDS)
    write_dict("user_cookie", COOKIE_WORDS)
    write_dict("address_list", ADDRESS_WORDS)
    write_dict("console_request", CONSOLE_WORDS)
    write("http1_request", REQUESTS)
    write("http1_response", RESPONSES)
    write("chunked", CHUNKED)
    write("events", EVENTS)
    write("pktline", {k: b"\x07" + v for k, v in PUSHES.items()})
    write("receive_pack", PUSHES)
    write("flight_spec_json", {"docs_flights": json.dumps(FLIGHT, indent=2), "small": json.dumps(SMALL_FLIGHT),
                               "three_arms": json.dumps(THREE_ARMS), "invalid": json.dumps(BAD_FLIGHT),
                               "example_webapp_as_json": json.dumps(FLIGHT | {"flightplan": FLIGHT["flightplan"][:3]}),
                               "deep": "[" * 40 + "]" * 40, "not_json": "{\"name\": }"})
    write("flight_spec_yaml", FLIGHT_YAML)
    write("route_json", ROUTES)
    write("static_routes", STATIC)
    write("chunked_rewrite", CHUNKED)
    write("pack_scan", packs())
    write("object_check", OBJECTS)
    write("uri_path", PATHS)
    write("user_cookie", COOKIES)
    write("address_list", ADDRESS_LISTS)
    write("console_request", CONSOLE)
