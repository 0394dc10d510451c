#!/usr/bin/env python3
"""A terminal in Python (pyzmq), written from docs/PROTOCOL.md alone (protocol version 2: CURVE).

    fiscal-mediator serve                       # in one shell
    fiscal-mediator terminals pair REG-001      # prints a code, the server key, the QR text
    pip install pyzmq
    python3 scripts/terminal_client.py tcp://127.0.0.1:5555 docs/examples/invoice.json \
        --pair-text 'FMPAIR2 tcp://127.0.0.1:5556 SERVER-KEY CODE'      # the first time only
    python3 scripts/terminal_client.py tcp://127.0.0.1:5555 docs/examples/invoice.json

The key pair is kept in var/terminal-keys/TERMINAL.py.key (0600), the server key beside it
(TERMINAL.py.key.server) once paired. `--insecure-plaintext` talks to `serve --insecure-plaintext`
(version 1: the terminal id as routing id).

It sends HELLO, OPEN_PERIOD (unless one is open), FISCALIZE, the same FISCALIZE again (a retry: same fiscal number, replayed),
RESULT, PREPARE + COMMIT for a second sale, LOG and STATUS, and checks every answer.
"""
import json
import os
import sys
import uuid

import zmq


def key_pair(path: str) -> tuple[bytes, bytes]:
    """The terminal's CURVE key pair from `path`, made there (0600) on first use."""
    if not os.path.exists(path):
        public, secret = zmq.curve_keypair()
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(f"public-key={public.decode()}\nsecret-key={secret.decode()}\n")
    fields = dict(line.split("=", 1) for line in open(path).read().splitlines() if "=" in line)
    return fields["public-key"].encode(), fields["secret-key"].encode()


def curve_socket(context, public: bytes, secret: bytes, server_key: bytes):
    socket = context.socket(zmq.DEALER)
    socket.curve_serverkey = server_key  # from the pairing printout, never from the network
    socket.curve_publickey = public
    socket.curve_secretkey = secret
    socket.setsockopt(zmq.LINGER, 0)
    return socket  # no ROUTING_ID: the key is the identity


def pair(context, pair_text: str, public: bytes, secret: bytes) -> bytes:
    """PAIR with the code from `FMPAIR2 ENDPOINT SERVER-KEY CODE`; returns the server key."""
    magic, endpoint, server_key, code = pair_text.split(" ")
    assert magic == "FMPAIR2", "not a pairing text"
    socket = curve_socket(context, public, secret, server_key.encode())
    socket.connect(endpoint)
    socket.send(json.dumps({"v": 1, "type": "PAIR", "msg_id": "p-1", "code": code}).encode())
    if not socket.poll(10_000):
        raise TimeoutError("no answer from the pairing endpoint: is the server key right?")
    reply = json.loads(socket.recv())
    socket.close()
    assert reply["status"] == "OK", reply
    print("paired as", reply["terminal_id"])
    return server_key.encode()


def main() -> int:
    endpoint, invoice_file = sys.argv[1], sys.argv[2]
    options = sys.argv[3:]
    invoice = json.load(open(invoice_file))
    terminal = invoice["pos_terminal_id"]
    context = zmq.Context()
    if "--insecure-plaintext" in options:
        socket = context.socket(zmq.DEALER)
        socket.setsockopt(zmq.ROUTING_ID, terminal.encode())
    else:
        key_file = f"var/terminal-keys/{terminal}.py.key"
        public, secret = key_pair(key_file)
        if "--pair-text" in options:
            server_key = pair(context, options[options.index("--pair-text") + 1], public, secret)
            open(key_file + ".server", "w").write(server_key.decode() + "\n")
        server_key = open(key_file + ".server").read().strip().encode()
        socket = curve_socket(context, public, secret, server_key)
    socket.setsockopt(zmq.IMMEDIATE, 1)
    socket.setsockopt(zmq.LINGER, 0)
    socket.connect(endpoint)
    counter = 0

    def request(kind: str, **fields) -> dict:
        nonlocal counter
        counter += 1
        msg_id = f"py-{counter}"
        socket.send(json.dumps({"v": 1, "type": kind, "msg_id": msg_id, **fields}).encode())
        while True:
            if not socket.poll(10_000):
                raise TimeoutError(f"no reply to {kind}")
            reply = json.loads(socket.recv())
            if reply.get("type") == "EVENT":
                print("  event", reply)
                continue
            assert reply["msg_id"] == msg_id
            print(f"{kind}: {reply['status']}", {k: v for k, v in reply.items() if k not in ("v", "type", "msg_id", "status")})
            return reply

    hello = request("HELLO", terminal_id=terminal, cashier_id=invoice["cashier_id"])
    assert hello["status"] == "OK"
    if "period" not in hello:
        # A sale needs the terminal's work period open (docs/SHOP_DAY.md): open it, empty float.
        opened = request("OPEN_PERIOD", opened_by=invoice["cashier_id"], opening_float={})
        assert opened["status"] == "OK" or opened.get("code") == "WORK_PERIOD_OPEN"
    sale = str(uuid.uuid4())
    first = request("FISCALIZE", request_id=sale, invoice=invoice)
    again = request("FISCALIZE", request_id=sale, invoice=invoice)
    assert again["replayed"] and again["security_elements"] == first["security_elements"]
    assert request("RESULT", request_id=sale)["state"] == "sealed"

    second = str(uuid.uuid4())
    invoice["items"][0]["description"] += " (2)"
    prepared = request("PREPARE", request_id=second, invoice=invoice)
    committed = request("COMMIT", request_id=second, nonce=prepared["nonce"])
    seq = committed["security_elements"]["invoice_seq"]
    assert seq == first["security_elements"]["invoice_seq"] + 1
    assert request("LOG", invoice_seq=seq)["sealed"]["request_id"] == second
    assert request("STATUS")["device"]["last_invoice_seq"] >= seq
    print("python terminal: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
