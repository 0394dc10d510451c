#!/usr/bin/env python3
"""A terminal in Python (pyzmq), written from docs/PROTOCOL.md alone.

    fiscal-mediator serve                       # in one shell
    pip install pyzmq
    python3 scripts/terminal_client.py tcp://127.0.0.1:5555 docs/examples/invoice.json

It sends HELLO, OPEN_PERIOD (unless one is open), FISCALIZE, the same FISCALIZE again (a retry: same fiscal number, replayed),
RESULT, PREPARE + COMMIT for a second sale, LOG and STATUS, and checks every answer.
"""
import json
import sys
import uuid

import zmq


def main() -> int:
    endpoint, invoice_file = sys.argv[1], sys.argv[2]
    invoice = json.load(open(invoice_file))
    terminal = invoice["pos_terminal_id"]
    socket = zmq.Context().socket(zmq.DEALER)
    socket.setsockopt(zmq.ROUTING_ID, terminal.encode())
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
