import LOTR

/// Bilinear resize of an RGB image (pixel centres aligned: output pixel x samples input
/// (x + 0.5) * in/out - 0.5). For preparing clips from images of another size.
public func resizeBilinear(_ image: RGBImage, width: Int, height: Int) -> RGBImage {
  if image.width == width && image.height == height { return image }
  var out = [UInt8](repeating: 0, count: width * height * 3)
  let sx = Float(image.width) / Float(width), sy = Float(image.height) / Float(height)
  let src = image.pixels
  for y in 0..<height {
    let fy = max(0, min(Float(image.height - 1), (Float(y) + 0.5) * sy - 0.5))
    let y0 = Int(fy), y1 = min(y0 + 1, image.height - 1)
    let wy = fy - Float(y0)
    for x in 0..<width {
      let fx = max(0, min(Float(image.width - 1), (Float(x) + 0.5) * sx - 0.5))
      let x0 = Int(fx), x1 = min(x0 + 1, image.width - 1)
      let wx = fx - Float(x0)
      for c in 0..<3 {
        let a = Float(src[(y0 * image.width + x0) * 3 + c]), b = Float(src[(y0 * image.width + x1) * 3 + c])
        let d = Float(src[(y1 * image.width + x0) * 3 + c]), e = Float(src[(y1 * image.width + x1) * 3 + c])
        let v = (a * (1 - wx) + b * wx) * (1 - wy) + (d * (1 - wx) + e * wx) * wy
        out[(y * width + x) * 3 + c] = UInt8(max(0, min(255, v.rounded())))
      }
    }
  }
  return RGBImage(width: width, height: height, pixels: out)
}
