#!/usr/bin/env python3
"""Compare lotr's cascade detector with OpenCV's on the same images (docs/VISION.md).
Usage: python -m venv /tmp/cv && /tmp/cv/bin/pip install 'opencv-python-headless<4.11'
       swift build -c release && /tmp/cv/bin/python scripts/vision-compare-opencv.py CASCADE.xml IMAGE...
Settings: scaleFactor 1.1, minNeighbors 3, minSize 40 (lotr's defaults)."""
import os
LOTR = os.environ.get("LOTR", ".build/release/lotr")
import cv2, sys, subprocess, collections
casc = sys.argv[1]; imgs = sys.argv[2:]
cc = cv2.CascadeClassifier(casc)
out = subprocess.run([LOTR,"vision","detect","--cascade",casc]+imgs, capture_output=True, text=True).stdout
mine = collections.defaultdict(list)
for l in out.split("\n"):
    if l: p=l.split(); mine[p[0]].append(tuple(map(int,p[1].split(","))))
rawout = subprocess.run([LOTR,"vision","detect","--raw","--cascade",casc]+imgs, capture_output=True, text=True).stdout
rawmine = collections.Counter(l.split()[0] for l in rawout.split("\n") if l)
same=0
for p in imgs:
    im = cv2.imread(p); g = cv2.cvtColor(im, cv2.COLOR_BGR2GRAY)
    r = cc.detectMultiScale(g, scaleFactor=1.1, minNeighbors=3, minSize=(40,40))
    raw = cc.detectMultiScale(g, scaleFactor=1.1, minNeighbors=0, minSize=(40,40))
    a = sorted(map(tuple, r)) if len(r) else []
    b = sorted(mine[p])
    same += a==b
    print(p.split('/')[-1], "cv", a, "raw", len(raw), "| mine", b, "raw", rawmine[p])
print("identical", same, "of", len(imgs))
