"""Writes clip/frame-NN.png: a small recorded-clip stand-in for lotrd's replay test.

A face-like pattern (skin disc, dark eyes and mouth) drifting over a gradient, 160x120,
12 frames; standard library only (zlib PNG). The frames are committed; rerun only to
change the clip, then regenerate the golden output (see docs/PROTOCOL.md, Tests).
"""
import math, os, struct, zlib

W, H, N = 160, 120, 12
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "clip")
os.makedirs(out, exist_ok=True)

def png(path, rows):
    def chunk(t, d):
        c = struct.pack(">I", len(d)) + t + d
        return c + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    raw = b"".join(b"\x00" + bytes(r) for r in rows)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", W, H, 8, 2, 0, 0, 0))
    data += chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    open(path, "wb").write(data)

for k in range(N):
    cx, cy, r = 80 + 20 * math.sin(k * 0.5), 60 + 8 * math.cos(k * 0.4), 34
    rows = []
    for y in range(H):
        row = []
        for x in range(W):
            p = [x * 255 // (W - 1), y * 255 // (H - 1), 90]
            dx, dy = x - cx, y - cy
            if dx * dx + dy * dy <= r * r:
                p = [220, 180, 150]
                for ex in (-12, 12):
                    if (x - cx - ex) ** 2 + (y - cy + 8) ** 2 <= 16:
                        p = [30, 20, 20]
                if abs(dx) <= 10 and 12 <= dy <= 15:
                    p = [120, 40, 40]
            row += p
        rows.append(row)
    png(os.path.join(out, "frame-%02d.png" % k), rows)
print("wrote", N, "frames to", out)
