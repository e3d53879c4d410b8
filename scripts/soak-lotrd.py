#!/usr/bin/env python3
"""Soak lotrd by hand: clients churning for minutes while its RSS and open descriptors
are sampled. Not part of `make test` (it runs for minutes); the bounded cases are in
Tests/LotrdTests/HostileInputTests.swift.

    scripts/soak-lotrd.py --minutes 5                 # builds nothing: uses .build/debug
    scripts/soak-lotrd.py --lotrd .build/release/lotrd --minutes 30 --json

Each round opens a mix of clients against a lotrd on the synthetic source: watchers that
read a few results and close, watchers that vanish without reading, silent connections,
half-closed ones, garbage senders and `?STATS;` pollers. It prints one sample line every
--interval seconds (RSS, fds, clients lotrd reports) and, at the end, the drift: the last
samples against the first ones after warm-up. With --json only the final JSON object is
printed.
"""
import argparse
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time


def proc_status(pid):
    rss = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    return rss, len(os.listdir(f"/proc/{pid}/fd"))


def connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(2)
    s.connect(path)
    return s


def read_some(s, want_bytes=4096, timeout=1.0):
    s.settimeout(timeout)
    got = b""
    try:
        while len(got) < want_bytes:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
    except (socket.timeout, OSError):
        pass
    return got


def one_round(path, rng, held):
    kind = rng.choice(["watch", "vanish", "silent", "halfclose", "garbage", "stats"])
    try:
        s = connect(path)
    except OSError:
        return kind, False
    try:
        if kind == "watch":
            s.sendall(b'?WATCH={"enable":true};\n')
            read_some(s, 2048, 0.5)
            s.close()
        elif kind == "vanish":
            s.sendall(b'?WATCH={"enable":true,"format":"binary"};\n')
            s.close()
        elif kind == "silent":
            held.append((time.monotonic(), s))  # closed a few seconds later, or by lotrd
        elif kind == "halfclose":
            s.sendall(b"?POLL;\n")
            s.shutdown(socket.SHUT_WR)
            read_some(s, 1 << 16, 0.5)
            s.close()
        elif kind == "garbage":
            s.sendall(bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 6000))) + b"\n")
            s.close()
        else:
            s.sendall(b"?STATS;\n")
            ok = b'"STATS"' in read_some(s, 1 << 16, 1.0)
            s.close()
            return kind, ok
    except OSError:
        pass
    return kind, True


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lotrd", default=".build/debug/lotrd", help="lotrd binary (default: %(default)s)")
    ap.add_argument("--model", default="models/lotr-m-68.lotr", help="model (default: %(default)s)")
    ap.add_argument("--minutes", type=float, default=5.0, help="soak length (default: %(default)s)")
    ap.add_argument("--interval", type=float, default=10.0, help="seconds between samples (default: %(default)s)")
    ap.add_argument("--max-clients", type=int, default=32)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", action="store_true", help="print only the final JSON object")
    args = ap.parse_args()
    if not os.access(args.lotrd, os.X_OK):
        sys.exit(f"soak: {args.lotrd} is not an executable (swift build --product lotrd)")
    rng = random.Random(args.seed)
    tmp = tempfile.mkdtemp(prefix="lotrd-soak-")
    sock = os.path.join(tmp, "lotrd.sock")
    log = open(os.path.join(tmp, "lotrd.log"), "w")
    d = subprocess.Popen([args.lotrd, "--model", args.model, "--socket", sock, "--source", "synthetic",
                          "--width", "320", "--height", "240", "--fps", "15", "--detector", "none",
                          "--max-clients", str(args.max_clients), "--request-timeout", "5", "--log-level", "warning"],
                         stdout=log, stderr=log)
    samples, counts, stats_failed = [], {}, 0
    held = []
    try:
        for _ in range(200):
            if os.path.exists(sock):
                break
            time.sleep(0.05)
        start = time.monotonic()
        next_sample = start
        while time.monotonic() - start < args.minutes * 60:
            if d.poll() is not None:
                sys.exit(f"soak: lotrd exited with {d.returncode}; log in {log.name}")
            kind, ok = one_round(sock, rng, held)
            counts[kind] = counts.get(kind, 0) + 1
            stats_failed += 0 if ok else 1
            now = time.monotonic()
            while held and now - held[0][0] > rng.uniform(1, 8):
                held.pop(0)[1].close()
            if now >= next_sample:
                rss, fds = proc_status(d.pid)
                samples.append({"t_s": round(now - start, 1), "rss_kb": rss, "fds": fds, "held": len(held)})
                if not args.json:
                    print(f"t={now - start:7.1f}s rss={rss} kB fds={fds} silent-held={len(held)}", flush=True)
                next_sample += args.interval
            time.sleep(0.01)
    finally:
        for _, s in held:
            s.close()
        d.terminate()
        try:
            d.wait(5)
        except subprocess.TimeoutExpired:
            d.kill()
    warm = samples[len(samples) // 4:] or samples
    head, tail = warm[: max(1, len(warm) // 4)], warm[-max(1, len(warm) // 4):]
    mean = lambda xs, k: sum(x[k] for x in xs) / len(xs)
    result = {
        "minutes": args.minutes, "clients": counts, "connections": sum(counts.values()),
        "stats_requests_failed": stats_failed, "exit_code": d.returncode,
        "rss_kb_first": mean(head, "rss_kb"), "rss_kb_last": mean(tail, "rss_kb"),
        "rss_kb_drift": mean(tail, "rss_kb") - mean(head, "rss_kb"),
        "fds_first": mean(head, "fds"), "fds_last": mean(tail, "fds"),
        "rss_kb_peak": max(s["rss_kb"] for s in samples), "samples": samples,
    }
    print(json.dumps(result) if args.json else json.dumps({k: v for k, v in result.items() if k != "samples"}, indent=1))


if __name__ == "__main__":
    main()
