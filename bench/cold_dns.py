"""DNS over UDP for bench/cold without a fork per question: readiness polls, the hierarchy's
"every zone loaded" check, and the sample questions whose answers are compared across resolvers
(rcode + the answer section as a set of "owner type rdata", TTLs left out, names lower-cased).
"""

import random
import select
import socket
import struct
import time

TYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "MX": 15, "TXT": 16, "AAAA": 28}
TYPE_NAMES = {v: k for k, v in TYPES.items()}
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}


def query(qid, name, qtype, rd=True):
    wire = b"".join(bytes([len(label)]) + label.encode() for label in name.rstrip(".").split(".") if label) + b"\0"
    return struct.pack(">HHHHHH", qid, 0x0100 if rd else 0, 1, 0, 0, 0) + wire + struct.pack(">HH", TYPES[qtype], 1)


def exchange(sock, addr, name, qtype, timeout, rd=True):
    """The reply to one question, or None after `timeout` seconds."""
    qid = random.getrandbits(16)
    try:
        sock.sendto(query(qid, name, qtype, rd), addr)
    except OSError:
        return None
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([sock], [], [], left)[0]:
            return None
        try:
            reply, _ = sock.recvfrom(65535)
        except (ConnectionRefusedError, BlockingIOError):
            continue
        if len(reply) >= 12 and struct.unpack(">H", reply[:2])[0] == qid and reply[2] & 0x80:
            return reply


def wait_ready(proc, port, limit):
    """Polls 127.0.0.1:port with `. SOA` (RD=1) every 20 ms until any NOERROR reply; raises after `limit` s."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    start = time.monotonic()
    try:
        while time.monotonic() - start < limit:
            if proc.poll() is not None:
                raise RuntimeError(f"exited with status {proc.returncode} before answering")
            reply = exchange(sock, ("127.0.0.1", port), ".", "SOA", 0.02)
            if reply and reply[3] & 0x0F == 0:
                return time.monotonic() - start
            time.sleep(0.02)
    finally:
        sock.close()
    raise RuntimeError(f"not answering `. SOA` after {limit:.0f} s")


def wait_zones(proc, addr, zones, deadline):
    """Asks addr:53 for each zone's SOA (RD=0) until every one answers authoritatively; returns
    the zones still not served at the deadline (or at once if the process exited)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    left = list(zones)
    try:
        while left and time.monotonic() < deadline and proc.poll() is None:
            missing = []
            for zone in left:
                reply = exchange(sock, (addr, 53), zone, "SOA", 0.2, rd=False)
                if not (reply and reply[2] & 0x04 and reply[3] & 0x0F == 0):
                    missing.append(zone)
            left = missing
            if left:
                time.sleep(0.1)
    finally:
        sock.close()
    return left


def answers(port, sample, timeout):
    """For each (name, type) of the sample, "RCODE: rr | rr ..." (sorted) from 127.0.0.1:port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        out = []
        for name, qtype in sample:
            reply = exchange(sock, ("127.0.0.1", port), name, qtype, timeout)
            out.append(describe(reply) if reply else "timeout")
        return out
    finally:
        sock.close()


def describe(reply):
    rcode = RCODES.get(reply[3] & 0x0F, str(reply[3] & 0x0F))
    try:
        records = sorted(answer_section(reply))
    except (IndexError, struct.error, UnicodeDecodeError):
        return f"{rcode}: unparsable"
    return f"{rcode}: " + (" | ".join(records) if records else "-")


def read_name(msg, pos):
    """(lower-case name, position after it), following compression pointers (bounded)."""
    labels, end, jumps = [], None, 0
    while True:
        length = msg[pos]
        if length & 0xC0 == 0xC0:
            if end is None:
                end = pos + 2
            pos = ((length & 0x3F) << 8) | msg[pos + 1]
            jumps += 1
            if jumps > 64:
                raise IndexError("pointer loop")
            continue
        pos += 1
        if length == 0:
            break
        labels.append(msg[pos:pos + length].decode("ascii").lower())
        pos += length
    return ".".join(labels) + ".", end if end is not None else pos


def answer_section(msg):
    qd, an = struct.unpack(">HH", msg[4:8])
    pos = 12
    for _ in range(qd):
        _, pos = read_name(msg, pos)
        pos += 4
    out = []
    for _ in range(an):
        owner, pos = read_name(msg, pos)
        rtype, _cls, _ttl, length = struct.unpack(">HHIH", msg[pos:pos + 10])
        pos += 10
        out.append(f"{owner} {TYPE_NAMES.get(rtype, rtype)} {rdata(msg, pos, rtype, length)}")
        pos += length
    return out


def rdata(msg, pos, rtype, length):
    data = msg[pos:pos + length]
    if rtype == 1:
        return socket.inet_ntop(socket.AF_INET, data)
    if rtype == 28:
        return socket.inet_ntop(socket.AF_INET6, data)
    if rtype in (2, 5):
        return read_name(msg, pos)[0]
    if rtype == 15:
        return f"{struct.unpack('>H', data[:2])[0]} {read_name(msg, pos + 2)[0]}"
    return data.hex()
