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


# The daemon's head pose (docs/PROTOCOL.md, `pose`), in pure Python: the same mean 3-D face,
# points, camera, loss and start as Sources/LOTRVision/HeadPose.swift. LANDMARKS already
# carry the daemon's pose; this is for points from elsewhere or another camera model.

# BEGIN generated mean face: `python -m lotr_train.mean_face_3d` (training/lotr_train/mean_face_3d.py);
# the same table as Sources/LOTRVision/MeanFace3D.swift (its header says how it was made).
MEAN_FACE_3D = (
    (-0.820060, 0.015271, 0.433789), (-0.812158, 0.223191, 0.408806), (-0.787238, 0.430182, 0.393712),
    (-0.742886, 0.633247, 0.376299), (-0.660133, 0.821733, 0.322585), (-0.531776, 0.985759, 0.235763),
    (-0.374005, 1.122996, 0.132679), (-0.198852, 1.233274, 0.031738), (0.000000, 1.264635, -0.003828),
    (0.198852, 1.233274, 0.031738), (0.374005, 1.122996, 0.132679), (0.531776, 0.985759, 0.235763),
    (0.660133, 0.821733, 0.322585), (0.742886, 0.633247, 0.376299), (0.787238, 0.430182, 0.393712),
    (0.812158, 0.223191, 0.408806), (0.820060, 0.015271, 0.433789), (-0.664799, -0.146486, 0.093457),
    (-0.562386, -0.230850, 0.008912), (-0.420958, -0.255018, -0.064148), (-0.275040, -0.235279, -0.121155),
    (-0.135735, -0.183582, -0.162084), (0.135735, -0.183582, -0.162084), (0.275040, -0.235279, -0.121155),
    (0.420958, -0.255018, -0.064148), (0.562386, -0.230850, 0.008912), (0.664799, -0.146486, 0.093457),
    (0.000000, -0.018705, -0.162555), (0.000000, 0.117689, -0.223064), (0.000000, 0.252775, -0.291010),
    (0.000000, 0.391546, -0.356708), (-0.164229, 0.483427, -0.182511), (-0.085079, 0.511242, -0.213643),
    (0.000000, 0.536131, -0.232474), (0.085079, 0.511242, -0.213643), (0.164229, 0.483427, -0.182511),
    (-0.500000, 0.000708, 0.037638), (-0.412636, -0.049604, -0.000248), (-0.305215, -0.048158, -0.014572),
    (-0.214852, 0.019348, -0.013089), (-0.313633, 0.039600, -0.012360), (-0.419169, 0.038107, 0.002631),
    (0.214852, 0.019348, -0.013089), (0.305215, -0.048158, -0.014572), (0.412636, -0.049604, -0.000248),
    (0.500000, 0.000708, 0.037638), (0.419169, 0.038107, 0.002631), (0.313633, 0.039600, -0.012360),
    (-0.314533, 0.739618, 0.012942), (-0.198110, 0.693858, -0.106563), (-0.080480, 0.669957, -0.175738),
    (0.000000, 0.689482, -0.184643), (0.080480, 0.669957, -0.175738), (0.198110, 0.693858, -0.106563),
    (0.314533, 0.739618, 0.012942), (0.202194, 0.844100, -0.074876), (0.087534, 0.888821, -0.134207),
    (0.000000, 0.897222, -0.144126), (-0.087534, 0.888821, -0.134207), (-0.202194, 0.844100, -0.074876),
    (-0.265866, 0.745548, -0.006487), (-0.081840, 0.738916, -0.154792), (0.000000, 0.746936, -0.166092),
    (0.081840, 0.738916, -0.154792), (0.265866, 0.745548, -0.006487), (0.083123, 0.785514, -0.142222),
    (0.000000, 0.794664, -0.152694), (-0.083123, 0.785514, -0.142222),
)
# END generated mean face

POSE_POINTS = tuple(range(17, 55)) + tuple(range(60, 65))   # brows, nose, eyes, upper lip
_HUBER = 0.05          # outer-eye-corner distances
_MAX_POSE_ERROR = 0.3  # the daemon sends no pose beyond this RMS error


def _dot(a, b):
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


def _cross(a, b):
    return (a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0])


def _scale(v, k):
    return (v[0] * k, v[1] * k, v[2] * k)


def _add(a, b):
    return (a[0] + b[0], a[1] + b[1], a[2] + b[2])


def _norm(v):
    return math.sqrt(_dot(v, v))


def _pose_model():
    raw = [MEAN_FACE_3D[i] for i in POSE_POINTS]
    c = tuple(sum(p[k] for p in raw) / len(raw) for k in range(3))
    pts = [tuple(p[k] - c[k] for k in range(3)) for p in raw]
    g = [[sum(p[i] * p[j] for p in pts) for j in range(3)] for i in range(3)]
    det = (g[0][0] * (g[1][1] * g[2][2] - g[1][2] * g[2][1]) - g[0][1] * (g[1][0] * g[2][2] - g[1][2] * g[2][0])
           + g[0][2] * (g[1][0] * g[2][1] - g[1][1] * g[2][0]))

    def cof(i, j):
        r, s = [k for k in range(3) if k != j], [k for k in range(3) if k != i]
        m = g[r[0]][s[0]] * g[r[1]][s[1]] - g[r[0]][s[1]] * g[r[1]][s[0]]
        return (m if (i + j) % 2 == 0 else -m) / det
    return pts, c, [tuple(cof(i, j) for j in range(3)) for i in range(3)]


_POSE_MODEL = _pose_model()   # centred fitted points, their centroid, their scatter's inverse


def _rotate_left(R, w):
    """exp([w]x) R, by Rodrigues, for R as three rows."""
    th = _norm(w)
    a, b = (1.0, 0.5) if th < 1e-12 else (math.sin(th) / th, (1 - math.cos(th)) / (th * th))
    cols = []
    for k in range(3):
        v = (R[0][k], R[1][k], R[2][k])
        kv = _cross(w, v)
        cols.append(_add(_add(v, _scale(kv, a)), _scale(_cross(w, kv), b)))
    return tuple(tuple(cols[k][i] for k in range(3)) for i in range(3))


def _solve6(H, g):
    """x with H x = -g (H symmetric positive definite, 6x6 lists), or None."""
    L = [[0.0] * 6 for _ in range(6)]
    for j in range(6):
        s = H[j][j] - sum(L[j][k] ** 2 for k in range(j))
        if not s > 0 or not math.isfinite(s):
            return None
        L[j][j] = math.sqrt(s)
        for i in range(j + 1, 6):
            L[i][j] = (H[i][j] - sum(L[i][k] * L[j][k] for k in range(j))) / L[j][j]
    y = [0.0] * 6
    for i in range(6):
        y[i] = (-g[i] - sum(L[i][k] * y[k] for k in range(i))) / L[i][i]
    x = [0.0] * 6
    for i in range(5, -1, -1):
        x[i] = (y[i] - sum(L[k][i] * x[k] for k in range(i + 1, 6))) / L[i][i]
    return x


def fit_head_pose(points, width, height, focal=None):
    """The mean 3-D face posed to match 68 iBUG points (frame pixels) through a pinhole camera
    with its principal point at the frame's centre and a focal length of `focal` pixels (by
    default the frame's larger side), as the daemon does. Returns a dict: yaw, pitch, roll
    (degrees, the protocol's conventions), error (RMS reprojection error in outer-eye-corner
    distances: 0.03-0.08 for real faces), translation (the eyes' centre in camera space, in
    outer-eye-corner distances); None for degenerate input."""
    if len(points) != 68:
        return None
    f = float(max(width, height) if not focal else focal)
    cx, cy = width / 2.0, height / 2.0
    if not (f > 0 and math.isfinite(f) and math.isfinite(cx) and math.isfinite(cy)):
        return None
    X = _POSE_MODEL[0]
    try:
        obs = [(float(points[i][0]), float(points[i][1])) for i in POSE_POINTS]
    except (TypeError, ValueError, IndexError):
        return None
    if not all(math.isfinite(x) and math.isfinite(y) and abs(x) < 1e7 and abs(y) < 1e7 for x, y in obs):
        return None
    n = len(obs)
    mx, my = sum(p[0] for p in obs) / n, sum(p[1] for p in obs) / n
    b0, b1 = (0.0, 0.0, 0.0), (0.0, 0.0, 0.0)
    for (x, y), q in zip(obs, X):
        b0, b1 = _add(b0, _scale(q, x - mx)), _add(b1, _scale(q, y - my))
    gi = _POSE_MODEL[2]
    a0, a1 = tuple(_dot(r, b0) for r in gi), tuple(_dot(r, b1) for r in gi)
    n0, n1 = _norm(a0), _norm(a1)
    if not (math.isfinite(n0) and math.isfinite(n1) and n0 > 1e-6 and n1 > 1e-6):
        return None
    u0, u1 = _scale(a0, 1 / n0), _scale(a1, 1 / n1)
    d = _dot(u0, u1)
    if abs(d) >= 0.95:
        return None
    u0, u1 = _add(u0, _scale(u1, -d / 2)), _add(u1, _scale(u0, -d / 2))
    u0 = _scale(u0, 1 / _norm(u0))
    u2 = _cross(u0, u1)
    u2 = _scale(u2, 1 / _norm(u2))
    R = (u0, _cross(u2, u0), u2)
    scale = (n0 + n1) / 2
    z0 = f / scale
    t = ((mx - cx) * z0 / f, (my - cy) * z0 / f, z0)
    delta = _HUBER * scale

    def cost(R, t, normal=False):
        H = [[0.0] * 6 for _ in range(6)] if normal else None
        g = [0.0] * 6 if normal else None
        c = 0.0
        for (x, y), p in zip(obs, X):
            q = (_dot(R[0], p), _dot(R[1], p), _dot(R[2], p))
            P = _add(q, t)
            if not P[2] > 1e-6 * abs(t[2]) + 1e-12:
                return math.inf, H, g
            iz = 1 / P[2]
            ru, rv = f * P[0] * iz + cx - x, f * P[1] * iz + cy - y
            e = math.sqrt(ru * ru + rv * rv)
            if e <= delta:
                c += e * e / 2
                w = 1.0
            else:
                c += delta * (e - delta / 2)
                w = delta / e
            if normal:
                fu, fx, fy = f * iz, -f * P[0] * iz * iz, -f * P[1] * iz * iz
                ja = (fx * q[1], fu * q[2] - fx * q[0], -fu * q[1], fu, 0.0, fx)
                jb = (-fu * q[2] + fy * q[1], -fy * q[0], fu * q[0], 0.0, fu, fy)
                for i in range(6):
                    g[i] += w * (ja[i] * ru + jb[i] * rv)
                    for j in range(i, 6):
                        H[i][j] += w * (ja[i] * ja[j] + jb[i] * jb[j])
        if normal:
            for i in range(6):
                for j in range(i):
                    H[i][j] = H[j][i]
        return c, H, g

    lam, iterations = 1e-3, 0
    current, H, g = cost(R, t, True)
    if not math.isfinite(current):
        return None
    while iterations < 50:
        iterations += 1
        A = [row[:] for row in H]
        for i in range(6):
            A[i][i] += lam * H[i][i] + 1e-12
        step = _solve6(A, g)
        if step is None:
            lam *= 10
            if lam > 1e10:
                break
            continue
        w, dt = tuple(step[:3]), tuple(step[3:])
        R2, t2 = _rotate_left(R, w), _add(t, dt)
        c2 = cost(R2, t2)[0]
        if math.isfinite(c2) and c2 <= current:
            small = _norm(w) < 1e-9 and _norm(dt) < 1e-9 * abs(t[2])
            gain = current - c2
            R, t = R2, t2
            current, H, g = cost(R, t, True)
            lam = max(lam / 10, 1e-9)
            if small or gain <= 1e-12 * current:
                break
        else:
            lam *= 10
            if lam > 1e10:
                break
    if not (math.isfinite(current) and t[2] > 0):
        return None
    sse = 0.0
    for (x, y), p in zip(obs, X):
        P = _add((_dot(R[0], p), _dot(R[1], p), _dot(R[2], p)), t)
        sse += (f * P[0] / P[2] + cx - x) ** 2 + (f * P[1] / P[2] + cy - y) ** 2
    error = math.sqrt(sse / n) / (f / t[2])
    c = _POSE_MODEL[1]
    origin = _add(t, _scale((_dot(R[0], c), _dot(R[1], c), _dot(R[2], c)), -1))
    yaw = math.degrees(math.atan2(-R[0][2], R[2][2]))
    pitch = math.degrees(math.asin(max(-1.0, min(1.0, -R[1][2]))))
    roll = math.degrees(math.atan2(R[1][0], R[1][1]))
    return {"yaw": yaw, "pitch": pitch, "roll": roll, "error": error, "translation": origin,
            "iterations": iterations}


def head_pose(points, width, height, focal=None):
    """(yaw, pitch, roll) in degrees as the daemon computes them (fit_head_pose), or None when
    the fit fails or its error says the points are no face. `width`, `height`: the frame's
    size (a LANDMARKS message's `width` and `height`)."""
    fit = fit_head_pose(points, width, height, focal)
    if fit is None or fit["error"] > _MAX_POSE_ERROR:
        return None
    return fit["yaw"], fit["pitch"], fit["roll"]
