"""The misbehaving servers of bench/cold's hierarchy, served from one thread of the driver.

* slow: a UDP proxy on the slow address that forwards each query to the real server of the slow
  zones (an NSD address no NS record names) and sends the reply back 50-200 ms (seeded uniform)
  after the query arrived; the backend counts the queries, the proxy does not (no double count);
* blackhole: reads and drops every datagram on its address ("lame": nothing answers);
* refuser: answers every query REFUSED (header and question echoed, RCODE 5).

No TCP: every answer of the hierarchy fits in 512 octets, nothing is truncated. The loop is bounded
by a stop pipe; counts (blackhole, refused, slow) are read by the driver between workloads.
"""

import heapq
import os
import random
import select
import socket
import struct
import threading
import time


class Aux:
    def __init__(self, slow_addr, backend_addr, blackhole_addr, refuser_addr, seed, delay_ms=(50, 200)):
        self.rng = random.Random(seed)
        self.delay = delay_ms
        self.counts = {"blackhole": 0, "refused": 0, "slow": 0}
        self.slow = self._bind(slow_addr)
        self.blackhole = self._bind(blackhole_addr)
        self.refuser = self._bind(refuser_addr)
        self.backend = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.backend.bind(("127.10.8.3", 0))
        self.backend.connect((backend_addr, 53))
        self.pending = {}  # proxied id -> (client address, original id, due time)
        self.timers = []  # heap of (due time, sequence, reply, client address)
        self.next_id = 0
        self.seq = 0
        self.stop_r, self.stop_w = os.pipe()
        self.thread = threading.Thread(target=self._run, name="cold-aux", daemon=True)

    @staticmethod
    def _bind(addr):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        sock.bind((addr, 53))
        return sock

    def start(self):
        self.thread.start()

    def stop(self):
        os.write(self.stop_w, b"x")
        self.thread.join(timeout=5)
        for sock in (self.slow, self.blackhole, self.refuser, self.backend):
            sock.close()
        os.close(self.stop_r)
        os.close(self.stop_w)

    def snapshot(self):
        return dict(self.counts)

    def _run(self):
        socks = [self.slow, self.blackhole, self.refuser, self.backend, self.stop_r]
        while True:
            now = time.monotonic()
            while self.timers and self.timers[0][0] <= now:
                _, _, reply, client = heapq.heappop(self.timers)
                self._send(self.slow, reply, client)
            wait = max(0.0, self.timers[0][0] - now) if self.timers else 1.0
            ready, _, _ = select.select(socks, [], [], wait)
            if self.stop_r in ready:
                return
            for sock in ready:
                for _ in range(64):  # drain, bounded
                    try:
                        data, client = sock.recvfrom(65535, socket.MSG_DONTWAIT)
                    except (BlockingIOError, ConnectionRefusedError):
                        break
                    self._handle(sock, data, client)

    def _handle(self, sock, data, client):
        if len(data) < 12:
            return
        if sock is self.blackhole:
            self.counts["blackhole"] += 1
        elif sock is self.refuser:
            self.counts["refused"] += 1
            self._send(sock, refused(data), client)
        elif sock is self.slow:
            self.counts["slow"] += 1
            qid = struct.unpack(">H", data[:2])[0]
            pid = self.next_id
            self.next_id = (self.next_id + 1) & 0xFFFF
            due = time.monotonic() + self.rng.uniform(*self.delay) / 1000
            self.pending[pid] = (client, qid, due)
            self._send(self.backend, struct.pack(">H", pid) + data[2:], None)
        elif sock is self.backend:
            pid = struct.unpack(">H", data[:2])[0]
            entry = self.pending.pop(pid, None)
            if entry:
                client, qid, due = entry
                self.seq += 1
                heapq.heappush(self.timers, (due, self.seq, struct.pack(">H", qid) + data[2:], client))

    @staticmethod
    def _send(sock, data, client):
        try:
            if client is None:
                sock.send(data)
            else:
                sock.sendto(data, client)
        except OSError:
            pass


def refused(query):
    """The query's header and question with QR=1, RCODE=REFUSED and no other section."""
    qid, flags, qd = struct.unpack(">HHH", query[:6])
    end = 12
    if qd:
        while end < len(query) and query[end] != 0:
            end += query[end] + 1
        end += 5
    flags = (flags & 0x7910) | 0x8000 | 5  # keep opcode and RD; set QR; RCODE 5
    return struct.pack(">HHHHHH", qid, flags, 1 if qd else 0, 0, 0, 0) + query[12:min(end, len(query))]
