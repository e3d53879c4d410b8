"""A client for lotrd, the lotr-edge landmark daemon (docs/PROTOCOL.md), standard library only.

    from lotr_client import LotrClient
    with LotrClient() as c:                       # $LOTRD_SOCKET, else the one under /run/lotrd
        print(c.version["model"])
        for msg in c.watch():                     # dicts, as in the JSON protocol
            if msg["class"] == "LANDMARKS":
                print(msg["seq"], msg["faces"][0]["points"][30])

Binary mode (``c.watch(binary=True)``) yields the same dicts, decoded from the
length-prefixed records. Protocol major version 1; unknown classes and members are
passed through untouched, as the version rules ask.
"""
import json
import math
import os
import socket
import struct

PROTO_MAJOR = 1
DEFAULT_SOCKET = "/run/lotrd/lotrd.sock"


def default_socket(directory="/run/lotrd", environ=None):
    """$LOTRD_SOCKET; else lotrd.sock in `directory` (lotrd started by hand); else the
    socket there of the camera units (<camera>.sock): the only one, or video0's."""
    env = os.environ if environ is None else environ
    if env.get("LOTRD_SOCKET"):
        return env["LOTRD_SOCKET"]
    standalone = os.path.join(directory, "lotrd.sock")
    if os.path.lexists(standalone):
        return standalone
    try:
        socks = sorted(n for n in os.listdir(directory) if n.endswith(".sock"))
    except OSError:
        socks = []
    if len(socks) == 1:
        return os.path.join(directory, socks[0])
    if "video0.sock" in socks:
        return os.path.join(directory, "video0.sock")
    return os.path.join(directory, socks[0]) if socks else standalone
_HEADER = struct.Struct("<IBBH")            # payload length, kind, proto major, reserved
_LANDMARKS = struct.Struct("<QQqHHHHHH")     # seq, mono_ns, wall_ns, width, height, faces, points, face_bytes, reserved
_FACE = struct.Struct("<If4f3f")             # id, score, box[4], yaw, pitch, roll
_EYES = struct.Struct("<2f")                 # after the points (1.1): eye openness right, left
KIND_LANDMARKS, KIND_JSON = 1, 2
MAX_PAYLOAD = 1 << 24


class ProtocolError(Exception):
    pass


class LotrClient:
    def __init__(self, path=None, timeout=5.0):
        self.path = path or default_socket()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self._buf = bytearray()
        self.binary = False
        self.device = ""
        try:
            self.sock.connect(self.path)
            self.version = self.next()
        except Exception:
            self.sock.close()
            raise
        if not self.version or self.version.get("class") != "VERSION":
            self.sock.close()
            raise ProtocolError("no VERSION greeting from %s" % self.path)
        if self.version.get("proto_major") != PROTO_MAJOR:
            self.sock.close()
            raise ProtocolError("server speaks protocol %s.%s; this client speaks %d.x"
                                % (self.version.get("proto_major"), self.version.get("proto_minor"), PROTO_MAJOR))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.sock.close()

    def send(self, request):
        """Sends one request line, e.g. '?POLL;'."""
        if not request.endswith("\n"):
            request += "\n"
        self.sock.sendall(request.encode())

    def ask(self, request, reply_class):
        self.send(request)
        while True:
            msg = self.next()
            if msg is None:
                raise ProtocolError("connection closed before %s" % reply_class)
            if msg["class"] == reply_class:
                return msg
            if msg["class"] == "ERROR":
                raise ProtocolError(msg.get("message", "error"))

    def poll(self):
        return self.ask("?POLL;", "POLL")

    def devices(self):
        return self.ask("?DEVICES;", "DEVICES")["devices"]

    def stats(self):
        return self.ask("?STATS;", "STATS")

    def watch(self, binary=False, rate=0, pose=True, timeout=None):
        """Starts the stream and yields every message (dicts) until the server closes."""
        args = {"enable": True, "format": "binary" if binary else "json", "pose": pose}
        if rate:
            args["rate"] = rate
        self.sock.settimeout(timeout)
        self.send("?WATCH=%s;" % json.dumps(args, separators=(",", ":")))
        while True:
            msg = self.next()
            if msg is None:
                return
            yield msg

    # -- framing ---------------------------------------------------------------------

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            return False
        self._buf += chunk
        return True

    def next(self):
        """The next message as a dict; None when the server closed the connection."""
        while True:
            msg = self._take()
            if msg is not None:
                if msg.get("class") == "WATCH":       # the format switches after this reply
                    self.binary = bool(msg.get("enable")) and msg.get("format") == "binary"
                if msg.get("class") == "LANDMARKS" and not self.device:
                    self.device = msg.get("device", "")
                return msg
            if not self._fill():
                return None

    def _take(self):
        if self.binary:
            if len(self._buf) < _HEADER.size:
                return None
            length, kind, _major, _ = _HEADER.unpack_from(self._buf)
            if length > MAX_PAYLOAD:
                raise ProtocolError("binary frame of %d bytes" % length)
            if len(self._buf) < _HEADER.size + length:
                return None
            payload = bytes(self._buf[_HEADER.size:_HEADER.size + length])
            del self._buf[:_HEADER.size + length]
            if kind == KIND_JSON:
                return json.loads(payload)
            if kind == KIND_LANDMARKS:
                return decode_landmarks(payload, self.device)
            return {"class": "BINARY-%d" % kind}
        nl = self._buf.find(b"\n")
        if nl < 0:
            if len(self._buf) > MAX_PAYLOAD:
                raise ProtocolError("line too long")
            return None
        line = bytes(self._buf[:nl])
        del self._buf[:nl + 1]
        return json.loads(line)


def decode_landmarks(payload, device=""):
    """A binary LANDMARKS record as the same dict the JSON mode gives."""
    if len(payload) < _LANDMARKS.size:
        raise ProtocolError("LANDMARKS record shorter than its header")
    seq, mono, wall, width, height, nfaces, npoints, face_bytes, _ = _LANDMARKS.unpack_from(payload)
    if face_bytes < _FACE.size + 8 * npoints or _LANDMARKS.size + nfaces * face_bytes > len(payload):
        raise ProtocolError("LANDMARKS record sizes do not add up")
    faces = []
    for k in range(nfaces):
        off = _LANDMARKS.size + k * face_bytes
        fid, score, bx, by, bw, bh, yaw, pitch, roll = _FACE.unpack_from(payload, off)
        xy = struct.unpack_from("<%df" % (2 * npoints), payload, off + _FACE.size)
        face = {"id": fid, "score": score, "box": [bx, by, bw, bh],
                "points": [[xy[2 * i], xy[2 * i + 1]] for i in range(npoints)]}
        if not math.isnan(yaw):
            face["pose"] = {"yaw": yaw, "pitch": pitch, "roll": roll}
        if face_bytes >= _FACE.size + 8 * npoints + _EYES.size:     # protocol 1.1
            right, left = _EYES.unpack_from(payload, off + _FACE.size + 8 * npoints)
            if not math.isnan(right):
                face["eyes"] = {"right": right, "left": left}
        faces.append(face)
    return {"class": "LANDMARKS", "seq": seq, "device": device, "mono_ns": mono, "wall_ns": wall,
            "width": width, "height": height, "faces": faces}


# -- things to derive from 68 iBUG points ----------------------------------------------

# By image side: LEFT_EYE (36-41) is the subject's right eye, the server's eyes["right"].
LEFT_EYE, RIGHT_EYE = range(36, 42), range(42, 48)


def eye_aspect_ratio(points, eye):
    """Soukupová and Čech's EAR: (|p2-p6| + |p3-p5|) / (2 |p1-p4|); ~0.3 open, < 0.2 closed."""
    p = [points[i] for i in eye]
    d = lambda a, b: math.hypot(a[0] - b[0], a[1] - b[1])
    width = d(p[0], p[3])
    return (d(p[1], p[5]) + d(p[2], p[4])) / (2 * width) if width > 1e-6 else 0.0


def head_pose(points):
    """Coarse yaw, pitch, roll in degrees from eyes, nose tip and mouth (the daemon's rule)."""
    mean = lambda r: (sum(points[i][0] for i in r) / len(r), sum(points[i][1] for i in r) / len(r))
    l, r, mouth, nose = mean(LEFT_EYE), mean(RIGHT_EYE), mean(range(48, 68)), points[30]
    dx, dy = r[0] - l[0], r[1] - l[1]
    iod = math.hypot(dx, dy)
    if iod < 1e-3:
        return None
    roll = math.atan2(dy, dx)
    c, s = math.cos(-roll), math.sin(-roll)
    mx, my = (l[0] + r[0]) / 2, (l[1] + r[1]) / 2
    rot = lambda q: (c * (q[0] - mx) - s * (q[1] - my), s * (q[0] - mx) + c * (q[1] - my))
    n, m = rot(nose), rot(mouth)
    clamp = lambda v: max(-1.0, min(1.0, v))
    yaw = math.asin(clamp(n[0] / (0.8 * iod)))
    ratio = n[1] / m[1] if m[1] > 1e-3 else 0.6
    pitch = math.asin(clamp((0.6 - ratio) * 2.5))
    return tuple(math.degrees(v) for v in (yaw, pitch, roll))
