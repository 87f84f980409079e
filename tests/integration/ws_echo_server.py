"""A minimal WebSocket (RFC 6455) echo server for router tests; stdlib only.

Answers the opening handshake (Sec-WebSocket-Accept = base64(sha1(key + GUID)))
with 101, then echoes every text/binary frame unmasked with the same opcode,
answers ping with pong, and a close frame with a close frame. A request that
is not a WebSocket upgrade gets 400.

Usage: ws_echo_server.py --name NAME [--port P] [--port-file FILE]
"""
import argparse
import base64
import hashlib
import os
import socketserver
import struct
import sys

from router_backend import write_port_file

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def accept_key(key):
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


def encode_frame(opcode, payload, mask=None):
    """One FIN frame; `mask` (4 bytes) for client frames."""
    head = bytes([0x80 | opcode])
    n = len(payload)
    mbit = 0x80 if mask else 0
    if n < 126:
        head += bytes([mbit | n])
    elif n < 65536:
        head += bytes([mbit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([mbit | 127]) + struct.pack("!Q", n)
    if mask:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        head += mask
    return head + payload


def read_frame(read_exact):
    """(fin, opcode, payload) of the next frame, unmasked; read_exact(n) -> n bytes."""
    b0, b1 = read_exact(2)
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack("!H", read_exact(2))[0]
    elif n == 127:
        n = struct.unpack("!Q", read_exact(8))[0]
    mask = read_exact(4) if b1 & 0x80 else None
    payload = read_exact(n) if n else b""
    if mask:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bool(b0 & 0x80), b0 & 0x0F, payload


class Handler(socketserver.StreamRequestHandler):
    def read_exact(self, n):
        data = self.rfile.read(n)
        if len(data) != n:
            raise EOFError
        return data

    def handle(self):
        request_line = self.rfile.readline()
        headers = {}
        while True:
            line = self.rfile.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            k, v = line.decode("latin-1").split(":", 1)
            headers[k.strip().lower()] = v.strip()
        key = headers.get("sec-websocket-key")
        if not request_line or headers.get("upgrade", "").lower() != "websocket" or not key:
            body = b"not a websocket upgrade\n"
            self.wfile.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
                             % (len(body), body))
            return
        self.wfile.write(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          f"Sec-WebSocket-Accept: {accept_key(key)}\r\nX-Backend: {self.server.name}\r\n\r\n")
                         .encode())
        self.wfile.flush()
        try:
            while True:
                fin, opcode, payload = read_frame(self.read_exact)
                if opcode == 0x8:
                    self.wfile.write(encode_frame(0x8, payload))
                    self.wfile.flush()
                    return
                if opcode == 0x9:
                    self.wfile.write(encode_frame(0xA, payload))
                elif opcode in (0x1, 0x2):
                    self.wfile.write(encode_frame(opcode, payload))
                self.wfile.flush()
        except (EOFError, ConnectionError):
            return


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", required=True)
    ap.add_argument("--port", type=int, default=int(os.environ.get("PORT", "0")))
    ap.add_argument("--port-file")
    a = ap.parse_args()
    srv = Server(("127.0.0.1", a.port), Handler)
    srv.name = a.name
    if a.port_file:
        write_port_file(a.port_file, srv.server_address[1])
    print("listening", srv.server_address[1], flush=True, file=sys.stderr)
    srv.serve_forever()


if __name__ == "__main__":
    main()
