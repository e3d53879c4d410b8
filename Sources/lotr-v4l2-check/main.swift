// lotr-v4l2-check: exercises LOTRCapture against a real V4L2 driver (vivid, in the VM of
// scripts/test-v4l2-vm.sh): enumerate, negotiate YUYV / GREY / MJPEG / NV12 at two sizes
// and a frame rate, capture frames with monotonic timestamps, then survive a disconnect
// (vivid's "Disconnect" control: ENODEV/POLLERR like a USB unplug) and a driver removal
// (rmmod once our source has let go, then reload). Ends with "N passed, N failed".
//   lotr-v4l2-check [--device /dev/video0] [--frames N] [--unload CMD] [--reload CMD]
//   lotr-v4l2-check --lotrd-client SOCKET [--device ...] [--unload CMD] [--reload CMD]
//     (instead: a client of a running lotrd on that device, LotrdClient.swift)
//   lotr-v4l2-check --loopback-feed DEV --faces DIR --model PATH
//     (instead: feed known face frames through v4l2loopback and capture them, LoopbackFeed.swift)
#if canImport(Glibc)
import Glibc
#endif
import LOTR
import CV4L2
import LOTRCapture

var passed = 0, failed = 0, skipped = 0
@MainActor func check(_ ok: Bool, _ what: String) {
  if ok { passed += 1; print("ok    \(what)") } else { failed += 1; print("FAIL  \(what)") }
}
@MainActor func skip(_ what: String) { skipped += 1; print("skip  \(what)") }

let args = Array(CommandLine.arguments.dropFirst())
@MainActor func option(_ name: String, _ fallback: String) -> String {
  if let i = args.firstIndex(of: name), i + 1 < args.count { return args[i + 1] }
  return fallback
}
let device = option("--device", "/dev/video0")
let frameCount = Int(option("--frames", "8")) ?? 8
let unloadCommand = option("--unload", "rmmod vivid")
let reloadCommand = option("--reload", "modprobe vivid")

func shell(_ command: String) -> Int32 {
  var pid: pid_t = 0
  let argv: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/sh"), strdup("-c"), strdup(command), nil]
  defer { argv.forEach { free($0) } }
  guard posix_spawn(&pid, "/bin/sh", nil, nil, argv, environ) == 0 else { return -1 }
  var status: Int32 = 0
  waitpid(pid, &status, 0)
  return (status >> 8) & 0xff
}

if args.contains("--lotrd-client") {
  runLotrdClientCheck(socketPath: option("--lotrd-client", "/tmp/l.sock"), device: device,
                      unloadCommand: unloadCommand, reloadCommand: reloadCommand)
}

if args.contains("--loopback-feed") {
  runLoopbackFeedCheck(device: option("--loopback-feed", "/dev/video9"), facesDir: option("--faces", "/faces"),
                       modelPath: option("--model", "/model.lotr"))
}

/// Captures `n` frames, checking size, strictly increasing timestamps and non-flat content.
@MainActor func capture(_ camera: V4L2Camera, _ n: Int, label: String) {
  var frames: [Frame] = []
  var events: [CaptureEvent] = []
  let start = monotonicNanoseconds()
  while frames.count < n && monotonicNanoseconds() - start < 20_000_000_000 {
    switch try? camera.next(timeout: 5) {
    case .frame(let f): frames.append(f)
    case .event(let e): events.append(e)
    default: break
    }
  }
  let neg = camera.negotiation!
  check(frames.count == n, "\(label): captured \(frames.count)/\(n) frames (\(camera.droppedFrames) dropped)")
  guard !frames.isEmpty else { return }
  let sized = frames.allSatisfy { $0.width == neg.width && $0.height == neg.height }
  check(sized, "\(label): frames are \(neg.width)x\(neg.height)")
  let increasing = zip(frames, frames.dropFirst()).allSatisfy { $1.timestampNs > $0.timestampNs && $1.sequence > $0.sequence }
  // vivid stamps the ideal frame time, which can lead the clock by up to a frame period.
  let now = monotonicNanoseconds()
  let worst = frames.map { now - $0.timestampNs }.min()!
  let plausible = frames.allSatisfy { $0.timestampNs <= now + 1_000_000_000 && now - $0.timestampNs < 60_000_000_000 }
  check(increasing && plausible,
        "\(label): timestamps strictly increasing and on CLOCK_MONOTONIC (newest \(Double(worst / 1000) / 1000) ms before now)")
  checkColourBars(frames.last!, label: label)
  if frames.count > 2 {
    let span = Double(frames.last!.timestampNs - frames.first!.timestampNs) / 1e9
    print("      \(label): \(String(format2(Double(frames.count - 1) / span))) fps measured, events \(events)")
  }
}

/// vivid's default pattern is 75 % colour bars (white, yellow, cyan, green, magenta, red,
/// blue, black); the middle of each bar, at the bottom of the picture (clear of the text overlay),
/// must decode to it: this checks the YUYV/NV12 conversions against a real driver.
@MainActor func checkColourBars(_ frame: Frame, label: String) {
  let bars: [(Double, Double, Double)] = [(1, 1, 1), (1, 1, 0), (0, 1, 1), (0, 1, 0), (1, 0, 1), (1, 0, 0), (0, 0, 1), (0, 0, 0)]
  var worst = 0.0
  var got: [String] = []
  for (i, bar) in bars.enumerated() {
    let x = Int((Double(i) + 0.5) * Double(frame.width) / 8), y = frame.height - 8
    if frame.format == .rgb8 {
      let p = (y * frame.width + x) * 3
      let want = [bar.0, bar.1, bar.2].map { $0 * 191 }
      for c in 0..<3 { worst = max(worst, abs(Double(frame.pixels[p + c]) - want[c])) }
      got.append("\(frame.pixels[p]),\(frame.pixels[p + 1]),\(frame.pixels[p + 2])")
    } else {
      // vivid derives GREY from its sRGB bars with Rec. 709 luma weights.
      let want = 191 * (0.2126 * bar.0 + 0.7152 * bar.1 + 0.0722 * bar.2)
      worst = max(worst, abs(Double(frame.pixels[y * frame.width + x]) - want))
      got.append("\(frame.pixels[y * frame.width + x])")
    }
  }
  check(worst <= 12, "\(label): the 75 % colour bars decode as expected (worst channel off by \(Int(worst)); \(got.joined(separator: " ")))")
}

func format2(_ x: Double) -> String { "\(Double(Int(x * 10)) / 10)" }

// 1. enumeration
let devices = V4L2Devices.list()
check(!devices.isEmpty, "enumerate: \(devices.count) node(s): " + devices.map { "\($0.path) \($0.driver) '\($0.card)'" }.joined(separator: "; "))
guard let vivid = devices.first(where: { $0.path == device }) else {
  print("no \(device); stopping")
  print("\(passed) passed, \(failed + 1) failed")
  exit(1)
}
check(vivid.isCapture && vivid.canStream, "enumerate: \(device) captures and streams")
let names = vivid.formats.map(\.name)
check(names.contains("YUYV") && names.contains("GREY"), "enumerate: formats \(names.joined(separator: " "))")
let yuyvSizes = vivid.formats.first { $0.name == "YUYV" }?.sizes ?? []
check(!yuyvSizes.isEmpty && yuyvSizes.contains { !$0.intervals.isEmpty },
      "enumerate: YUYV sizes \(yuyvSizes.map(\.description).joined(separator: " ")) with frame intervals")

// 2. negotiation and capture: formats x two sizes, 30 fps requested
let discrete = yuyvSizes.filter { $0.kind == .discrete }.map { ($0.width, $0.height) }
let sizes = discrete.count >= 2 ? [discrete.min { $0.0 * $0.1 < $1.0 * $1.1 }!, discrete.first { $0.0 == 640 && $0.1 == 480 } ?? discrete[1]]
                                : [(320, 240), (640, 480)]
for format in ["YUYV", "GREY", "MJPG", "NV12"] {
  guard names.contains(format) else { skip("\(format): not offered by \(vivid.driver) (natively or by libv4l2)"); continue }
  for (w, h) in sizes {
    let label = "\(format) \(w)x\(h)"
    do {
      let camera = try V4L2Camera(CameraConfiguration(device: device, width: w, height: h, fps: 30, formats: [format],
                                                      output: format == "GREY" ? .gray8 : .rgb8, reconnect: false))
      let neg = camera.negotiation!
      check(neg.fourcc == format && neg.width == w && neg.height == h && neg.buffers >= 4,
            "\(label): negotiated \(neg)")
      // The driver applies the offered rate nearest the request (vivid's webcam: fewer
      // rates at larger sizes); the read-back must be that one.
      let offeredRates = (vivid.formats.first { $0.name == format }?.sizes.first { $0.width == w && $0.height == h }?.intervals ?? [])
        .compactMap { i -> Double? in if case .discrete(let n, let d) = i, n > 0 { return Double(d) / Double(n) } else { return nil } }
      let expected = offeredRates.min { abs($0 - 30) < abs($1 - 30) }
      check(neg.fps != nil && (expected == nil || abs(neg.fps! - expected!) < 0.01),
            "\(label): VIDIOC_S_PARM 30 fps read back as \(neg.fps.map(formatRate2) ?? "none") (nearest offered: \(expected.map(formatRate2) ?? "any"))")
      capture(camera, frameCount, label: label)
      camera.close()
    } catch {
      check(false, "\(label): \(error)")
    }
  }
}
func formatRate2(_ x: Double) -> String { format2(x) }

// 3. error paths on a real system
do { _ = try V4L2Camera(CameraConfiguration(device: "/dev/video99")); check(false, "open /dev/video99 fails") }
catch let e as CaptureError { check(e == .noSuchDevice("/dev/video99"), "open /dev/video99: \(e)") } catch { check(false, "\(error)") }

// 4. disconnect while streaming (vivid's Disconnect control = USB unplug), reconnect
do {
  let camera = try V4L2Camera(CameraConfiguration(device: device, width: sizes[0].0, height: sizes[0].1, fps: 30,
                                                  formats: ["YUYV"], reconnectDelay: 0.05, maxReconnectDelay: 0.5))
  capture(camera, 3, label: "before unplug")
  // rmmod while the camera is open must be refused by the kernel (module in use).
  let refused = shell("\(unloadCommand) 2>/dev/null")
  check(refused != 0, "rmmod while streaming is refused by the kernel (exit \(refused))")
  let fd = lotr_v4l2_open(device)
  let control = fd >= 0 ? lotr_v4l2_find_control(fd, "Disconnect") : -1
  if control < 0 {
    skip("vivid has no Disconnect control")
    if fd >= 0 { _ = lotr_v4l2_close(fd) }
  } else {
    let set = lotr_v4l2_set_control(fd, UInt32(control), 1)
    _ = lotr_v4l2_close(fd)
    check(set == 0, "unplug: vivid Disconnect control set")
    var sawDisconnect = false, sawReconnect = false
    var rmmodOK = false, removedReported = false
    let start = monotonicNanoseconds()
    while !sawReconnect && monotonicNanoseconds() - start < 30_000_000_000 {
      switch try camera.next(timeout: 2) {
      case .event(.disconnected(let reason)):
        sawDisconnect = true
        print("      event: disconnected (\(reason))")
        // Our source let go of everything: the driver can be unloaded now.
        rmmodOK = shell(unloadCommand) == 0
        check(rmmodOK, "unplug: after teardown, '\(unloadCommand)' succeeds (nothing of the device is held)")
        // While the driver is gone, reopen attempts fail and the source just times out.
        var timeouts = 0
        for _ in 0..<3 { if case .timedOut = try camera.next(timeout: 0.3) { timeouts += 1 } }
        removedReported = timeouts == 3 && !camera.isStreaming
        check(removedReported, "unplug: with the driver removed the source keeps retrying (\(timeouts)/3 timeouts)")
        check(shell(reloadCommand) == 0, "replug: '\(reloadCommand)'")
      case .event(.reconnected(let description)):
        sawReconnect = true
        print("      event: reconnected (\(description))")
      case .frame, .timedOut, .ended: break
      }
    }
    check(sawDisconnect, "unplug: the source reported the disconnect")
    check(sawReconnect, "replug: the source reopened the device (\(camera.reconnects) reconnect(s))")
    if sawReconnect { capture(camera, 3, label: "after replug") }
  }
  camera.close()
} catch {
  check(false, "unplug test: \(error)")
}

print("\(passed) passed, \(failed) failed" + (skipped > 0 ? ", \(skipped) skipped" : ""))
exit(failed == 0 ? 0 : 1)
