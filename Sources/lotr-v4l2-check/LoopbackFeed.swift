// lotr-v4l2-check --loopback-feed DEV --faces DIR --model PATH: known face frames through a
// real V4L2 device (issue 6's VM test, v4l2loopback with exclusive_caps=1). This process is
// both sides: a writer sets YUYV 320x240 on the OUTPUT side (VIDIOC_S_FMT) and write()s
// frames made from DIR's 300-W crops (letterboxed to 320x240, converted to YUYV here, BT.601
// limited range), while V4L2Camera (LOTRCapture) captures from the CAPTURE side. Checks: the
// captured RGB equals the fed YUYV converted to RGB here (the same kernels), and the model
// gives the same landmarks on both (box: the annotated points of DIR/landmarks.csv, mapped
// through the letterbox). Ends with "N passed, N failed".
#if canImport(Glibc)
import Glibc
#endif
import CV4L2
import CLOTRKernels
import LOTR
import LOTRCapture

private let feedWidth = 320, feedHeight = 240

/// The annotated 68 points of each image in `landmarks.csv` (image,subset,x0,y0,...).
private func readAnnotations(_ path: String) -> [(name: String, points: [Point])] {
  guard let f = fopen(path, "r") else { return [] }
  defer { fclose(f) }
  var bytes: [UInt8] = []
  var chunk = [UInt8](repeating: 0, count: 65536)
  while true {
    let n = fread(&chunk, 1, chunk.count, f)
    if n <= 0 { break }
    bytes += chunk[0..<n]
  }
  let text = String(decoding: bytes, as: UTF8.self)
  var result: [(String, [Point])] = []
  for line in text.split(separator: "\n").dropFirst() {
    let fields = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
    guard fields.count >= 4 else { continue }
    let values = fields.dropFirst(2).compactMap { Float($0.trimmingCharacters()) }
    var points: [Point] = []
    var i = 0
    while i + 1 < values.count { points.append(Point(x: values[i], y: values[i + 1])); i += 2 }
    result.append((fields[0], points))
  }
  return result
}

private extension String {
  func trimmingCharacters() -> String { String(filter { $0 != " " && $0 != "\r" }) }
}

/// RGB8 to YUYV, BT.601 limited range (the inverse of lotr_pixel_yuv_to_rgb); each pair's
/// chroma is the mean of its two pixels.
private func rgbToYUYV(_ image: RGBImage) -> [UInt8] {
  let (w, h) = (image.width, image.height)
  var out = [UInt8](repeating: 0, count: w * h * 2)
  func clamp(_ v: Int) -> UInt8 { UInt8(max(0, min(255, v))) }
  let p = image.pixels
  for y in 0..<h {
    for x in stride(from: 0, to: w, by: 2) {
      let a = (y * w + x) * 3, b = (y * w + min(x + 1, w - 1)) * 3
      func luma(_ i: Int) -> UInt8 { clamp(((66 * Int(p[i]) + 129 * Int(p[i + 1]) + 25 * Int(p[i + 2]) + 128) >> 8) + 16) }
      let r = (Int(p[a]) + Int(p[b]) + 1) / 2, g = (Int(p[a + 1]) + Int(p[b + 1]) + 1) / 2, bl = (Int(p[a + 2]) + Int(p[b + 2]) + 1) / 2
      let o = (y * w + x) * 2
      out[o] = luma(a)
      out[o + 1] = clamp(((-38 * r - 74 * g + 112 * bl + 128) >> 8) + 128)
      out[o + 2] = luma(b)
      out[o + 3] = clamp(((112 * r - 94 * g - 18 * bl + 128) >> 8) + 128)
    }
  }
  return out
}

/// VIDIOC_S_FMT on the OUTPUT side through the shim's request code: struct v4l2_format is
/// 208 bytes on 64-bit Linux (type, 4 bytes of padding, the 200-byte union holding
/// v4l2_pix_format: width, height, pixelformat, field, bytesperline, sizeimage, colorspace, ...).
private func setOutputFormat(_ fd: Int32, width: Int, height: Int) -> (Int32, [UInt32]) {
  var raw = [UInt32](repeating: 0, count: 208 / 4)
  raw[0] = 2                               // V4L2_BUF_TYPE_VIDEO_OUTPUT
  raw[2] = UInt32(width); raw[3] = UInt32(height)
  raw[4] = LOTR_V4L2_PIX_FMT_YUYV
  raw[5] = 1                               // V4L2_FIELD_NONE
  raw[6] = UInt32(width * 2); raw[7] = UInt32(width * height * 2)
  raw[8] = 1                               // V4L2_COLORSPACE_SMPTE170M
  let r = raw.withUnsafeMutableBytes { lotr_v4l2_xioctl(fd, LOTR_VIDIOC_S_FMT, $0.baseAddress) }
  return (r, Array(raw[2...7]))
}

private func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Int {
  bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
}

@MainActor func runLoopbackFeedCheck(device: String, facesDir: String, modelPath: String) -> Never {
  func finish() -> Never {
    print("\(passed) passed, \(failed) failed" + (skipped > 0 ? ", \(skipped) skipped" : ""))
    exit(failed == 0 ? 0 : 1)
  }
  let faces = readAnnotations(facesDir + "/landmarks.csv")
  check(!faces.isEmpty, "loopback: \(faces.count) annotated face(s) in \(facesDir)/landmarks.csv")
  let model: LandmarkModel
  do { model = try LandmarkModel(path: modelPath) } catch { check(false, "loopback: load \(modelPath): \(error)"); finish() }

  // The frames to feed: letterboxed RGB (A), its YUYV, and that YUYV back to RGB here (B).
  var frames: [(name: String, yuyv: [UInt8], rgb: RGBImage, original: RGBImage, box: FaceBox, truth: [Point])] = []
  for face in faces {
    guard let image = try? RGBImage(contentsOf: facesDir + "/images/" + face.name) else {
      check(false, "loopback: decode \(face.name)"); continue
    }
    let scale = min(Float(feedWidth) / Float(image.width), Float(feedHeight) / Float(image.height))
    let (sw, sh) = (Int((Float(image.width) * scale).rounded()), Int((Float(image.height) * scale).rounded()))
    let (ox, oy) = ((feedWidth - sw) / 2, (feedHeight - sh) / 2)
    let small = resizeBilinear(image, width: sw, height: sh)
    var boxed = RGBImage(width: feedWidth, height: feedHeight)
    for y in 0..<sh {
      let dst = ((y + oy) * feedWidth + ox) * 3
      boxed.pixels.replaceSubrange(dst..<dst + sw * 3, with: small.pixels[(y * sw * 3)..<((y + 1) * sw * 3)])
    }
    // 0-based pixel-centre annotations -> continuous frame coordinates of the letterbox.
    let truth = face.points.map { Point(x: ($0.x + 0.5) * scale + Float(ox), y: ($0.y + 0.5) * scale + Float(oy)) }
    let yuyv = rgbToYUYV(boxed)
    var back = [UInt8](repeating: 0, count: feedWidth * feedHeight * 3)
    yuyv.withUnsafeBufferPointer { src in
      back.withUnsafeMutableBufferPointer { lotr_yuyv_to_rgb8(nil, feedWidth, feedHeight, src.baseAddress, feedWidth * 2, $0.baseAddress, feedWidth * 3) }
    }
    frames.append((face.name, yuyv, RGBImage(width: feedWidth, height: feedHeight, pixels: back), boxed,
                   FaceBox(bounding: truth)!, truth))
  }
  guard !frames.isEmpty else { finish() }

  // Writer: the OUTPUT side.
  let out = open(device, O_RDWR)
  guard out >= 0 else { check(false, "loopback: open \(device) for writing: \(String(cString: strerror(errno)))"); finish() }
  let (sr, applied) = setOutputFormat(out, width: feedWidth, height: feedHeight)
  check(sr == 0 && applied[0] == UInt32(feedWidth) && applied[1] == UInt32(feedHeight) && applied[2] == LOTR_V4L2_PIX_FMT_YUYV,
        "loopback: writer VIDIOC_S_FMT OUTPUT YUYV \(feedWidth)x\(feedHeight) -> \(sr == 0 ? "\(applied[0])x\(applied[1]) \(fourccString(applied[2])), bytesperline \(applied[4]), sizeimage \(applied[5])" : "error \(-sr)")")
  if sr != 0 { finish() }
  // exclusive_caps=1: the node announces CAPTURE once the writer has produced a frame.
  let first = writeAll(out, frames[0].yuyv)
  check(first == frames[0].yuyv.count, "loopback: writer write() of a \(frames[0].yuyv.count)-byte frame returned \(first)")

  // Reader: the CAPTURE side, through V4L2Camera.
  let camera: V4L2Camera
  do {
    camera = try V4L2Camera(CameraConfiguration(device: device, width: feedWidth, height: feedHeight, fps: nil,
                                                formats: ["YUYV"], output: .rgb8, reconnect: false))
  } catch {
    check(false, "loopback: V4L2Camera on \(device): \(error)"); finish()
  }
  let neg = camera.negotiation!
  check(neg.fourcc == "YUYV" && neg.width == feedWidth && neg.height == feedHeight,
        "loopback: reader (V4L2Camera) negotiated \(neg)")

  for (i, fed) in frames.enumerated() {
    let label = "loopback \(fed.name)"
    let start = monotonicNanoseconds()
    let n = writeAll(out, fed.yuyv)
    // The newest frame the reader gets before it goes quiet is the one just written.
    var last: Frame?
    var got = 0
    while true {
      guard case .frame(let f) = try? camera.next(timeout: last == nil ? 3 : 0.4) else { break }
      last = f; got += 1
    }
    guard n == fed.yuyv.count, let frame = last else {
      check(false, "\(label): write() returned \(n), \(got) frame(s) captured"); continue
    }
    let ms = Double((monotonicNanoseconds() - start) / 100_000) / 10
    var worst = 0, sumOriginal = 0
    for k in 0..<min(frame.pixels.count, fed.rgb.pixels.count) {
      worst = max(worst, abs(Int(frame.pixels[k]) - Int(fed.rgb.pixels[k])))
      sumOriginal += abs(Int(frame.pixels[k]) - Int(fed.original.pixels[k]))
    }
    let sameSize = frame.width == feedWidth && frame.height == feedHeight && frame.format == .rgb8
    check(sameSize && worst <= 2,
          "\(label): frame \(i + 1) captured \(frame.width)x\(frame.height) equals the fed YUYV -> RGB (worst channel off by \(worst); mean \(format2(Double(sumOriginal) / Double(fed.rgb.pixels.count))) from the letterboxed JPEG; \(got) frame(s) read, \(ms) ms)")
    guard sameSize else { continue }
    let expected = model.landmarks(in: fed.rgb, box: fed.box)
    let captured = model.landmarks(in: RGBImage(width: frame.width, height: frame.height, pixels: frame.pixels), box: fed.box)
    var diff: Float = 0, vsTruth: Float = 0
    for (a, b) in zip(expected, captured) { diff = max(diff, max(abs(a.x - b.x), abs(a.y - b.y))) }
    for (a, t) in zip(captured, fed.truth) { vsTruth += ((a.x - t.x) * (a.x - t.x) + (a.y - t.y) * (a.y - t.y)).squareRoot() }
    let meanTruth = fed.truth.isEmpty ? 0 : vsTruth / Float(min(captured.count, fed.truth.count))
    check(captured.count == expected.count && !captured.isEmpty && diff <= 0.5,
          "\(label): \(captured.count) landmarks on the captured frame match the fed frame's (max diff \(format2(Double(diff))) px; mean \(format2(Double(meanTruth))) px from the 300-W annotation)")
  }
  camera.close()
  _ = Glibc.close(out)
  finish()
}
