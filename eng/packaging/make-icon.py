#!/usr/bin/env python3
"""Writes icon.png (128x128, 2-bit palette, about 600 bytes), the NuGet package icon, with the standard library only.
The PNG is checked in; run this only to change the design: python3 eng/packaging/make-icon.py"""
import math
import os
import struct
import zlib

N = 128
PALETTE = [(0, 0, 0), (0x17, 0x32, 0x4D), (0xFF, 0xFF, 0xFF), (0x2E, 0xC4, 0xB6)]  # transparent, navy, white, teal
c = (N - 1) / 2
rows = []
for y in range(N):
    row = []
    for x in range(N):
        r = 24  # rounded square background; outside is transparent (index 0)
        dx, dy = max(abs(x - c) - (c - r), 0), max(abs(y - c) - (c - r), 0)
        if dx * dx + dy * dy > r * r:
            row.append(0)
            continue
        d = math.hypot(x - c, y - c)
        if 34 <= d <= 44:
            row.append(2)  # the ring: the agent's identity
        elif d <= 16:
            row.append(3)  # the core: the private key that never leaves the process
        elif abs(x - c) <= 5 and 44 < d <= 60 and y > c:
            row.append(2)  # the stem: the credential handed to everything the agent touches
        else:
            row.append(1)
    rows.append(row)
raw = b"".join(b"\x00" + bytes((r[i] << 6) | (r[i + 1] << 4) | (r[i + 2] << 2) | r[i + 3] for i in range(0, N, 4)) for r in rows)


def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", N, N, 2, 3, 0, 0, 0))
png += chunk(b"PLTE", b"".join(bytes(p) for p in PALETTE)) + chunk(b"tRNS", bytes([0]))
png += chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "icon.png"), "wb") as f:
    f.write(png)
