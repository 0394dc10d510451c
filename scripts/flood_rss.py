#!/usr/bin/env python3
"""The flood measure of docs/SECURITY.md: one terminal sends ROUNDS floods of COUNT FISCALIZE
requests as fast as it can to a running `serve`, and the mediator's resident memory (RSS) is
read before, during and after each flood, then after an idle spell.

usage: flood_rss.py ENDPOINT TERMINAL_ID MEDIATOR_PID [COUNT] [ROUNDS]   (needs pyzmq)
"""
import json
import sys
import time

import zmq


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def main():
    endpoint, terminal, pid = sys.argv[1], sys.argv[2], int(sys.argv[3])
    count = int(sys.argv[4]) if len(sys.argv) > 4 else 10000
    rounds = int(sys.argv[5]) if len(sys.argv) > 5 else 4
    # The example's own bytes (json.load would turn 12500.00 into a float): only the terminal changes.
    invoice = open("docs/examples/invoice.json").read().replace('"REG-001"', json.dumps(terminal))
    socket = zmq.Context.instance().socket(zmq.DEALER)
    socket.setsockopt(zmq.ROUTING_ID, terminal.encode())
    socket.setsockopt(zmq.LINGER, 0)
    socket.connect(endpoint)
    print(f"before: {rss_mb(pid):.1f} MB")
    for round_ in range(rounds):
        peak = 0.0
        codes = {}
        for n in range(count):
            message = (f'{{"v":1,"type":"FISCALIZE","msg_id":"{round_}-{n}",'
                       f'"request_id":"flood-{round_}-{n}","invoice":{invoice}}}')
            socket.send(message.encode())
            if n % 1000 == 0:
                peak = max(peak, rss_mb(pid))
        deadline = time.time() + 30
        answered = 0
        while answered < count and time.time() < deadline:
            if socket.poll(1000):
                frames = socket.recv_multipart()
                reply = json.loads(frames[-1])
                if reply.get("type") == "EVENT":
                    continue
                answered += 1
                code = reply.get("code") or ("OK" if reply.get("security_elements") else reply.get("status"))
                codes[code] = codes.get(code, 0) + 1
                if answered % 1000 == 0:
                    peak = max(peak, rss_mb(pid))
        print(f"flood {round_ + 1}: {count} sent, {answered} answered {codes}; "
              f"RSS peak {peak:.1f} MB, after {rss_mb(pid):.1f} MB")
    time.sleep(10)
    print(f"after 10 s idle: {rss_mb(pid):.1f} MB")


if __name__ == "__main__":
    main()
