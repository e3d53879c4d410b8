#!/usr/bin/env bash
# The main job: lotrd streaming landmarks from the bundled clip (or a camera) with the
# shipped model, `lotr watch` showing the stream, and an annotated picture.
#   scripts/demo.sh                      the sample clip
#   DEVICE=/dev/video0 scripts/demo.sh   a camera
#   MODEL=path.lotr FRAMES=60 ...        another model, more results
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/opt/swift/usr/bin"
MODEL=${MODEL:-models/lotr-m-68.lotr}
SOURCE=${DEVICE:-samples/face-clip.lclip}
FRAMES=${FRAMES:-30}
OUT=out
mkdir -p "$OUT"
SOCKET=$(mktemp -d)/lotrd.sock

[[ -f $MODEL ]] || { echo "demo: no model at $MODEL (see models/MODEL_CARD.md to produce it)" >&2; exit 1; }
echo "== building lotrd and lotr (release; the first build takes a few minutes)"
for product in lotrd lotr; do
  swift build -c release --product $product > "$OUT/build.log" 2>&1 || { tail -20 "$OUT/build.log"; exit 1; }
done
BIN=$(swift build -c release --show-bin-path)

echo "== lotrd: $SOURCE -> $MODEL on $SOCKET"
"$BIN/lotrd" --model "$MODEL" --source "$SOURCE" --socket "$SOCKET" --socket-mode 0600 --log-level notice &
LOTRD=$!
trap 'kill $LOTRD 2>/dev/null || true; wait $LOTRD 2>/dev/null || true; rm -rf "$(dirname "$SOCKET")"' EXIT
for _ in $(seq 50); do [[ -S $SOCKET ]] && break; sleep 0.1; done
[[ -S $SOCKET ]] || { echo "demo: lotrd did not open $SOCKET" >&2; exit 1; }

echo "== lotr watch -n $FRAMES (first and last lines; points shortened)"
"$BIN/lotr" watch --socket "$SOCKET" -n "$FRAMES" > "$OUT/stream.jsonl"
head -c 600 "$OUT/stream.jsonl"; echo " ..."
tail -n 1 "$OUT/stream.jsonl" | cut -c1-300; echo " ..."
echo "   ($(grep -c LANDMARKS "$OUT/stream.jsonl") LANDMARKS messages in $OUT/stream.jsonl)"
echo "== lotr status"
"$BIN/lotr" status --socket "$SOCKET"

echo "== an annotated picture: lotr run --detect --draw $OUT/demo.png"
FACE=${FACE:-Tests/Fixtures/vision/images/$(ls Tests/Fixtures/vision/images | grep -m1 "\.jpg$")}
"$BIN/lotr" run --model "$MODEL" --detect --draw "$OUT/demo.png" "$FACE" > "$OUT/demo.txt"
head -n 4 "$OUT/demo.txt"
echo "   ... wrote $OUT/demo.png"
kill -TERM $LOTRD; wait $LOTRD || true
if [[ -e $SOCKET ]]; then echo "demo: lotrd left its socket behind" >&2; exit 1; fi
echo "== lotrd stopped; socket removed"
