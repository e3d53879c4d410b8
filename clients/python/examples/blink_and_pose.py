#!/usr/bin/env python3
"""Blinks and head pose from lotrd's stream (68-point models).

    python3 clients/python/examples/blink_and_pose.py [--socket PATH] [-n COUNT] [--binary]

Prints one line per result: eye openness (the eye aspect ratios the server sends in
`eyes`, image left eye first; computed from the points for a protocol 1.0 server), a blink counter (both eyes under the
threshold for at least two results, then open again) and yaw/pitch/roll.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from lotr_client import LotrClient, eye_aspect_ratio, head_pose, LEFT_EYE, RIGHT_EYE  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--socket", default=None)
    ap.add_argument("-n", "--count", type=int, default=0)
    ap.add_argument("--binary", action="store_true")
    ap.add_argument("--threshold", type=float, default=0.2)
    ap.add_argument("--focal", type=float, default=None,
                    help="camera focal length in pixels for poses computed here (default: the frame's larger side)")
    args = ap.parse_args()
    blinks, closed_for, seen = 0, 0, 0
    with LotrClient(args.socket) as client:
        model = client.version.get("model", {})
        if model.get("landmarks") != 68:
            sys.exit("this example needs a 68-point model; the server has %s" % model)
        for msg in client.watch(binary=args.binary):
            if msg["class"] == "DEVICE":
                print("device %s: %s" % (msg["path"], msg.get("event", msg["state"])))
            if msg["class"] != "LANDMARKS" or not msg["faces"]:
                continue
            face = msg["faces"][0]
            pts = face["points"]
            if "eyes" in face:      # protocol 1.1: the server's eye openness
                left, right = face["eyes"]["right"], face["eyes"]["left"]   # image left = subject's right
            else:                   # a 1.0 server: the same ratio from the points
                left, right = eye_aspect_ratio(pts, LEFT_EYE), eye_aspect_ratio(pts, RIGHT_EYE)
            if max(left, right) < args.threshold:
                closed_for += 1
            else:
                if closed_for >= 2:
                    blinks += 1
                closed_for = 0
            # The daemon's pose when it sent one; else, or with --focal, the same fit here.
            sent = msg["faces"][0].get("pose")
            pose = ((sent["yaw"], sent["pitch"], sent["roll"]) if sent and args.focal is None
                    else head_pose(pts, msg["width"], msg["height"], args.focal) or (float("nan"),) * 3)
            print("seq %6d  EAR %.2f %.2f  blinks %3d  yaw %+6.1f pitch %+6.1f roll %+6.1f"
                  % (msg["seq"], left, right, blinks, *pose), flush=True)
            seen += 1
            if args.count and seen >= args.count:
                break


if __name__ == "__main__":
    main()
