// swift-tools-version:6.0
import PackageDescription

// Release builds use -O (SwiftPM's default for -c release). The C kernels pick their
// ISA with target attributes/pragmas per file, so one build serves every CPU of an arch.
let package = Package(
  name: "lotr-edge",
  platforms: [.macOS(.v13)],
  products: [
    .executable(name: "lotr", targets: ["lotr"]),
    .library(name: "LOTR", targets: ["LOTR"]),
    // For outside packages: `.product(name: "LOTRClient", package: "lotr-edge")` (docs/PROTOCOL.md).
    .library(name: "LOTRClient", targets: ["LOTRClient"]),
    .executable(name: "lotrd", targets: ["lotrd"]),
    .executable(name: "lotr-mqtt", targets: ["lotr-mqtt"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    .package(url: "https://github.com/apple/swift-protobuf", from: "1.28.0"),
  ],
  targets: [
    // Int8 and float kernels: scalar reference, NEON, NEON dotprod, ARMv7, AVX2.
    .target(
      name: "CLOTRKernels",
      path: "Sources/CLOTRKernels",
      cSettings: [.headerSearchPath("."), .unsafeFlags(["-O2", "-std=gnu11", "-ffp-contract=off", "-Wall", "-Wextra", "-Wno-unused-parameter"])],
      linkerSettings: [.linkedLibrary("m"), .linkedLibrary("pthread")]
    ),
    .systemLibrary(name: "COpenBLAS", path: "Sources/COpenBLAS", pkgConfig: "openblas",
                   providers: [.apt(["libopenblas-dev"])]),
    // libjpeg-turbo / libpng shims (Debian: libjpeg62-turbo-dev, libpng-dev).
    .target(name: "CImageIO", linkerSettings: [.linkedLibrary("jpeg"), .linkedLibrary("png")]),
    .target(name: "LOTR", dependencies: ["CLOTRKernels", "COpenBLAS", "CImageIO"]),
    .executableTarget(
      name: "lotr",
      dependencies: ["LOTR", "LOTREval", "LOTRCapture", "LOTRVision", "LOTRClient",
                     .product(name: "ArgumentParser", package: "swift-argument-parser")]
    ),
    // Experiment tooling, kept out of the runtime: face folders and landmarks.csv, NME/AUC,
    // the kernel benchmark and LOTR-M's shapes, synthetic clips (for lotr, lotr-quantize, tests).
    .target(name: "LOTREval", dependencies: ["LOTR", "CLOTRKernels", "COpenBLAS"]),
    .testTarget(name: "LOTREvalTests", dependencies: ["LOTREval", "LOTR"]),

    // The C kernel test suites, shared with the qemu and sanitizer runners (Makefile).
    .target(
      name: "CLOTRKernelTester",
      dependencies: ["CLOTRKernels"],
      path: "Tests/KernelTester",
      exclude: ["main"],
      cSettings: [.unsafeFlags(["-O2", "-std=gnu11"])]
    ),
    .testTarget(name: "CLOTRKernelsTests", dependencies: ["CLOTRKernelTester", "CLOTRKernels"]),
    .testTarget(name: "LOTRTests", dependencies: ["LOTR"]),

    // Frame sources (issue 6): V4L2 cameras through libv4l2 (CV4L2 shim), images, clips.
    .target(name: "CV4L2", cSettings: [.unsafeFlags(["-O2", "-std=gnu11", "-Wall", "-Wextra"])],
            linkerSettings: [.linkedLibrary("v4l2")]),
    .target(name: "LOTRCapture", dependencies: ["LOTR", "CV4L2", "CLOTRKernels", "CImageIO"]),
    .executableTarget(name: "lotr-v4l2-check", dependencies: ["LOTRCapture"]),
    .testTarget(name: "LOTRCaptureTests", dependencies: ["LOTRCapture", "LOTR", "CLOTRKernels", "CLOTRKernelTester"],
                path: "Tests/LOTRCaptureTests"),

    // lotr-quantize: ONNX in, .lotr out (Quantize/; ONNX/onnx.pb.swift is generated, see its README).
    .target(
      name: "LOTRQuantizer",
      dependencies: ["LOTR", "LOTREval", "LOTRVision", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
      path: "Quantize/LOTRQuantizer",
      exclude: ["ONNX/README.md"]
    ),
    .executableTarget(
      name: "lotr-quantize",
      dependencies: ["LOTRQuantizer", "LOTREval", .product(name: "ArgumentParser", package: "swift-argument-parser")],
      path: "Quantize/lotr-quantize"
    ),
    .testTarget(name: "LOTRQuantizerTests", dependencies: ["LOTRQuantizer", "LOTR", "LOTREval"], path: "Tests/LOTRQuantizerTests"),

    // lotrd (issue 7): the daemon, its wire protocol, the client library; C shim for the syscalls.
    .target(name: "CLOTRSystem", cSettings: [.unsafeFlags(["-O2", "-std=gnu11", "-Wall"])]),
    .target(name: "LOTRProtocol"),
    .target(name: "LOTRClient", dependencies: ["LOTRProtocol", "CLOTRSystem"]),
    .executableTarget(name: "lotrd", dependencies: ["LOTR", "LOTRCapture", "LOTRVision", "LOTRProtocol", "CLOTRSystem"]),
    .testTarget(name: "LOTRProtocolTests", dependencies: ["LOTRProtocol"]),
    // lotr-mqtt (issue 17): lotrd's stream to an MQTT broker through libmosquitto (CMosquitto shim).
    .target(name: "CMosquitto", cSettings: [.unsafeFlags(["-O2", "-std=gnu11", "-Wall", "-Wextra"])],
            linkerSettings: [.linkedLibrary("mosquitto")]),
    .executableTarget(name: "lotr-mqtt", dependencies: ["LOTRClient", "CLOTRSystem", "CMosquitto"],
                      swiftSettings: [.swiftLanguageMode(.v5)]),
    .testTarget(name: "LotrdTests", dependencies: ["lotrd", "LOTR", "LOTRProtocol", "LOTRClient", "CLOTRSystem"]),

    // Face detection (the int8 CNN on the LOTR runtime), tracking, confidence, pose, eyes, smoothing.
    .target(name: "LOTRVision", dependencies: ["LOTR"]),
    .testTarget(name: "LOTRVisionTests", dependencies: ["LOTRVision", "LOTR", "LOTREval"]),
  ]
)
