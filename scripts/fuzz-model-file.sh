#!/usr/bin/env bash
# Coverage-guided fuzzing of the .lotr reader with libFuzzer + AddressSanitizer, by hand:
#   scripts/fuzz-model-file.sh [seconds]      (default 60; corpus kept in .build-fuzz/corpus)
# Seeds the corpus with valid models written by the test suite's builder (lotr info works
# on them) so mutations start from deep inside the format.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/opt/swift/usr/bin"
OUT=.build-fuzz
mkdir -p "$OUT/corpus"
swiftc -O -sanitize=fuzzer,address -parse-as-library -module-name LOTRFuzz \
  Sources/LOTR/ModelFile/*.swift Fuzz/ModelFileFuzzer.swift -o "$OUT/fuzz-model-file"
for f in models/*.lotr Tests/Fixtures/models/*.lotr; do [[ -f $f ]] && cp "$f" "$OUT/corpus/" || true; done
"$OUT/fuzz-model-file" -max_total_time="${1:-60}" -max_len=1048576 -timeout=5 "$OUT/corpus"
