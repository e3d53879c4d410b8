"""Tests for lotr_client.py against a fake lotrd (a thread serving recorded messages).

    python3 -m unittest clients/python/test_lotr_client.py      (or pytest)

The recorded messages are the committed golden replay (Tests/Fixtures/lotrd/golden.jsonl),
served in JSON and re-encoded in the binary mode with the layout of docs/PROTOCOL.md.
"""
import json
import math
import os
import socket
import struct
import sys
import tempfile
import threading
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import lotr_client  # noqa: E402

GOLDEN = os.path.join(HERE, "..", "..", "Tests", "Fixtures", "lotrd", "golden.jsonl")
VERSION = {"class": "VERSION", "release": "0.1.0", "proto_major": 1, "proto_minor": 0,
           "model": {"name": "test", "landmarks": 68, "scheme": "ibug-68"}}


def encode_binary(msg):
    if msg["class"] != "LANDMARKS":
        payload, kind = json.dumps(msg).encode(), 2
    else:
        n = len(msg["faces"][0]["points"]) if msg["faces"] else 0
        fb = 44 + 8 * n
        payload = struct.pack("<QQqHHHHHH", msg["seq"], msg["mono_ns"], msg["wall_ns"], msg["width"], msg["height"],
                              len(msg["faces"]), n, fb + 4, 0)  # face_bytes + 4: a future minor's extra field
        for f in msg["faces"]:
            pose = f.get("pose", {"yaw": float("nan"), "pitch": float("nan"), "roll": float("nan")})
            eyes = f.get("eyes", {"right": float("nan"), "left": float("nan")})
            payload += struct.pack("<If4f3f", f["id"], f["score"], *f["box"], pose["yaw"], pose["pitch"], pose["roll"])
            payload += struct.pack("<%df" % (2 * n), *[c for p in f["points"] for c in p])
            payload += struct.pack("<2f", eyes["right"], eyes["left"]) + b"\0" * 4
        kind = 1
    return struct.pack("<IBBH", len(payload), kind, 1, 0) + payload


class FakeServer:
    def __init__(self, messages, major=1):
        self.dir = tempfile.mkdtemp(prefix="lotr-py-")
        self.path = os.path.join(self.dir, "s.sock")
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.path)
        self.listener.listen(1)
        self.messages, self.major, self.requests = messages, major, []
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        conn, _ = self.listener.accept()
        self.listener.close()
        with conn:
            conn.sendall((json.dumps(dict(VERSION, proto_major=self.major)) + "\n").encode())
            f = conn.makefile("rb")
            for line in f:
                req = line.decode().strip()
                self.requests.append(req)
                if req.startswith("?WATCH="):
                    args = json.loads(req[len("?WATCH="):-1])
                    binary = args.get("format") == "binary"
                    conn.sendall((json.dumps({"class": "WATCH", "enable": True, "format": args.get("format", "json")}) + "\n").encode())
                    for m in self.messages:
                        conn.sendall(encode_binary(m) if binary else (json.dumps(m) + "\n").encode())
                    return
                if req == "?STATS;":
                    conn.sendall(b'{"class":"STATS","fps":30.0,"clients":1}\n')
                else:
                    conn.sendall(b'{"class":"ERROR","message":"unknown request"}\n')


def golden():
    with open(GOLDEN) as f:
        return [json.loads(line) for line in f]


class ClientTests(unittest.TestCase):
    def test_default_socket_finds_the_units_socket(self):
        with tempfile.TemporaryDirectory() as run:
            found = lambda env={}: lotr_client.default_socket(run, env)
            self.assertEqual(found(), os.path.join(run, "lotrd.sock"))
            open(os.path.join(run, "video2.sock"), "w").close()
            self.assertEqual(found(), os.path.join(run, "video2.sock"))
            open(os.path.join(run, "video0.sock"), "w").close()
            self.assertEqual(found(), os.path.join(run, "video0.sock"))
            open(os.path.join(run, "lotrd.sock"), "w").close()
            self.assertEqual(found(), os.path.join(run, "lotrd.sock"))
            self.assertEqual(found({"LOTRD_SOCKET": "/x.sock"}), "/x.sock")

    def test_json_stream(self):
        msgs = golden()
        server = FakeServer(msgs + [{"class": "NEWTHING", "x": 1}])
        with lotr_client.LotrClient(server.path) as c:
            self.assertEqual(c.version["model"]["landmarks"], 68)
            self.assertEqual(c.stats()["fps"], 30.0)
            got = list(c.watch(timeout=5))
        self.assertEqual(got[0]["class"], "WATCH")
        self.assertEqual([m["seq"] for m in got[1:-1]], [m["seq"] for m in msgs])
        self.assertEqual(got[-1]["class"], "NEWTHING", "unknown classes pass through")

    def test_binary_stream_decodes_to_the_json_shape(self):
        msgs = golden()
        server = FakeServer(msgs + [{"class": "DEVICE", "path": "clip", "event": "eof", "state": "eof"}])
        with lotr_client.LotrClient(server.path) as c:
            got = [m for m in c.watch(binary=True, timeout=5)]
        self.assertIn('"format":"binary"', server.requests[0])
        lm = [m for m in got if m["class"] == "LANDMARKS"]
        self.assertEqual(len(lm), len(msgs))
        for a, b in zip(lm, msgs):
            self.assertEqual(a["seq"], b["seq"])
            for p, q in zip(a["faces"][0]["points"], b["faces"][0]["points"]):
                self.assertAlmostEqual(p[0], q[0], places=3)
                self.assertAlmostEqual(p[1], q[1], places=3)
            self.assertAlmostEqual(a["faces"][0]["pose"]["yaw"], b["faces"][0]["pose"]["yaw"], places=3)
            self.assertAlmostEqual(a["faces"][0]["eyes"]["left"], b["faces"][0]["eyes"]["left"], places=3)
        self.assertEqual(got[-1]["event"], "eof")

    def test_refuses_another_major_version(self):
        server = FakeServer([], major=2)
        with self.assertRaises(lotr_client.ProtocolError):
            lotr_client.LotrClient(server.path)

    def test_derived_measures(self):
        # The daemon's faces: an eye with an extent, so the ratio is positive and below 1 (a
        # ratio of 1 would be an eye as tall as it is wide); unchanged when the face is moved,
        # scaled and rotated in the frame (it depends on the eye's shape only).
        angle, scale = math.radians(30), 2.5
        c, s = scale * math.cos(angle), scale * math.sin(angle)
        for m in golden():
            pts = m["faces"][0]["points"]
            moved = [(c * x - s * y + 40, s * x + c * y - 7) for x, y in pts]
            for eye in (lotr_client.LEFT_EYE, lotr_client.RIGHT_EYE):
                ear = lotr_client.eye_aspect_ratio(pts, eye)
                self.assertGreater(ear, 0.05)
                self.assertLess(ear, 1.0)
                self.assertAlmostEqual(lotr_client.eye_aspect_ratio(moved, eye), ear, places=9)
        # An open and a closed synthetic eye.
        eye = {36: (0, 0), 37: (1, -1), 38: (2, -1), 39: (3, 0), 40: (2, 1), 41: (1, 1)}
        points = [eye.get(i, (0, 0)) for i in range(68)]
        self.assertAlmostEqual(lotr_client.eye_aspect_ratio(points, lotr_client.LEFT_EYE), 2 / 3)
        flat = {k: (x, 0) for k, (x, _) in eye.items()}
        points = [flat.get(i, (0, 0)) for i in range(68)]
        self.assertEqual(lotr_client.eye_aspect_ratio(points, lotr_client.LEFT_EYE), 0)
        # The server's eyes (protocol 1.1) are this ratio of the same points (image left eye
        # = the subject's right).
        for m in golden():
            f = m["faces"][0]
            self.assertAlmostEqual(f["eyes"]["right"], lotr_client.eye_aspect_ratio(f["points"], lotr_client.LEFT_EYE), delta=2e-3)
            self.assertAlmostEqual(f["eyes"]["left"], lotr_client.eye_aspect_ratio(f["points"], lotr_client.RIGHT_EYE), delta=2e-3)
        # The daemon's pose fit, reproduced: compare with the golden poses (one decimal).
        for m in golden():
            yaw, pitch, roll = lotr_client.head_pose(m["faces"][0]["points"], m["width"], m["height"])
            want = m["faces"][0]["pose"]
            self.assertAlmostEqual(yaw, want["yaw"], delta=0.06)
            self.assertAlmostEqual(pitch, want["pitch"], delta=0.06)
            self.assertAlmostEqual(roll, want["roll"], delta=0.06)

    def test_head_pose_recovers_a_projected_mean_face(self):
        # The mean face at a known pose through the default camera of a 640x480 frame: back
        # exactly; with another focal length given, too. R = Ry(-yaw) Rx(pitch) Rz(roll).
        def rotation(yaw, pitch, roll):
            y, p, r = (math.radians(v) for v in (yaw, pitch, roll))
            Ry = ((math.cos(y), 0, -math.sin(y)), (0, 1, 0), (math.sin(y), 0, math.cos(y)))
            Rx = ((1, 0, 0), (0, math.cos(p), -math.sin(p)), (0, math.sin(p), math.cos(p)))
            Rz = ((math.cos(r), -math.sin(r), 0), (math.sin(r), math.cos(r), 0), (0, 0, 1))
            mul = lambda A, B: tuple(tuple(sum(A[i][k] * B[k][j] for k in range(3)) for j in range(3)) for i in range(3))
            return mul(mul(Ry, Rx), Rz)
        for (yaw, pitch, roll), focal in (((0, 0, 0), None), ((35, -20, 12), None), ((-48, 28, -25), 900)):
            R, t, f = rotation(yaw, pitch, roll), (0.6, -0.3, 6.0), focal or 640
            pts = []
            for X in lotr_client.MEAN_FACE_3D:
                P = [sum(R[i][k] * X[k] for k in range(3)) + t[i] for i in range(3)]
                pts.append((f * P[0] / P[2] + 320, f * P[1] / P[2] + 240))
            fit = lotr_client.fit_head_pose(pts, 640, 480, focal)
            for got, want in zip((fit["yaw"], fit["pitch"], fit["roll"]), (yaw, pitch, roll)):
                self.assertAlmostEqual(got, want, delta=1e-4)
            self.assertLess(fit["error"], 1e-6)
            self.assertAlmostEqual(fit["translation"][2], 6.0, delta=1e-4)
        # Degenerate input: None, never an exception.
        self.assertIsNone(lotr_client.head_pose([(5, 5)] * 68, 640, 480))
        self.assertIsNone(lotr_client.head_pose([(5, 5)] * 10, 640, 480))
        self.assertIsNone(lotr_client.head_pose([(float("nan"), 1)] * 68, 640, 480))
        self.assertIsNone(lotr_client.head_pose([(i, 2 * i) for i in range(68)], 640, 480))


if __name__ == "__main__":
    unittest.main()
