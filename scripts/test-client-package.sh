#!/usr/bin/env bash
# An outside SwiftPM package that depends on this one's LOTRClient library product builds
# and runs: the library is usable as a dependency, not only from inside the repository.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
export PATH=$PATH:/opt/swift/usr/bin
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir/Sources/lotr-hello"
cat > "$dir/Package.swift" <<SWIFT
// swift-tools-version:5.9
import PackageDescription
let package = Package(
  name: "lotr-hello",
  dependencies: [.package(path: "$repo")],
  targets: [.executableTarget(name: "lotr-hello", dependencies: [.product(name: "LOTRClient", package: "$(basename "$repo")")])]
)
SWIFT
cat > "$dir/Sources/lotr-hello/main.swift" <<'SWIFT'
import LOTRClient
// Protocol types and the socket lookup, from an outside package.
let settings = WatchSettings(enable: true, format: .binary)
print("protocol \(LOTRProto.major).\(LOTRProto.minor), socket \(LOTRClient.defaultSocket(directory: "/nonexistent", environment: [:])), watch \(settings.enable)")
SWIFT
cd "$dir"
swift build -q
out=$(.build/debug/lotr-hello)
echo "$out"
[[ $out == "protocol 1."*", socket /nonexistent/lotrd.sock, watch true" ]]
