#!/usr/bin/env python3
"""A minimal DEF client in Python, written from docs/DEVICE_PROTOCOL.md alone.

It cross-checks the device protocol from another language:

    fiscal-mediator device-emulator --pty --state /tmp/def --init-if-needed   # prints /dev/pts/N
    python3 scripts/def_client.py /dev/pts/N docs/examples/invoice.json

It sends QRY|STATUS, TXN|PREPARE with the invoice file's bytes, TXN|COMMIT with the nonce,
then QRY|LOG of the new fiscal number, printing every frame in hex.
"""
import json
import os
import select
import struct
import sys
import termios
import tty
import zlib

MAGIC = b"\xfd\xf1"


def frame(kind: bytes, exchange_id: int, payload: bytes) -> bytes:
    body = b"\x01" + kind + struct.pack(">II", exchange_id, len(payload)) + payload
    return MAGIC + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def read_reply(fd: int, exchange_id: int, timeout: float = 3.0) -> bytes:
    buffer = b""
    while True:
        ready, _, _ = select.select([fd], [], [], timeout)
        if not ready:
            raise TimeoutError("no reply")
        buffer += os.read(fd, 65536)
        start = buffer.find(MAGIC)
        if start < 0 or len(buffer) - start < 12:
            continue
        version, kind, rid, length = struct.unpack(">BcII", buffer[start + 2:start + 12])
        end = start + 12 + length + 4
        if len(buffer) < end:
            continue
        (crc,) = struct.unpack(">I", buffer[end - 4:end])
        assert crc == zlib.crc32(buffer[start + 2:end - 4]) & 0xFFFFFFFF, "bad CRC"
        assert version == 1 and kind == b"R" and rid == exchange_id
        print("  <-", buffer[start:end].hex())
        return buffer[start + 12:end - 4]


def command(fd: int, exchange_id: int, line: str, body: bytes = b"{}") -> dict:
    data = frame(b"Q", exchange_id, line.encode() + b"\n" + body)
    print(f"{line}\n  ->", data.hex() if len(data) < 120 else data[:60].hex() + "...")
    os.write(fd, data)
    reply = json.loads(read_reply(fd, exchange_id))
    print("  ", json.dumps(reply)[:160])
    return reply


def main() -> int:
    path, invoice_file = sys.argv[1], sys.argv[2]
    fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
    tty.setraw(fd)
    termios.tcflush(fd, termios.TCIFLUSH)
    status = command(fd, 1, "QRY|STATUS")
    prepared = command(fd, 2, "TXN|PREPARE", open(invoice_file, "rb").read())
    if prepared["status"] != "OK":
        return 1
    sealed = command(fd, 3, "TXN|COMMIT", json.dumps({"nonce": prepared["nonce"]}).encode())
    seq = sealed["security_elements"]["invoice_seq"]
    logged = command(fd, 4, f"QRY|LOG {seq}")
    assert logged["entry"] == sealed["entry"]
    assert seq == status["next_invoice_seq"]
    print(f"sealed fiscal number {seq}: {sealed['security_elements']['qr_payload'][:60]}...")
    return 0


if __name__ == "__main__":
    sys.exit(main())
