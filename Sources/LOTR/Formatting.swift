/// `value` with exactly `decimals` digits after the point ("nan" when not finite), without
/// Foundation and without the scientific notation of Double's description: for tables,
/// logs and STATUS lines.
public func fixed(_ value: Double, _ decimals: Int) -> String {
  guard value.isFinite else { return "nan" }
  var p = 1.0
  for _ in 0..<decimals { p *= 10 }
  let n = Int64((abs(value) * p).rounded())
  let ip = n / Int64(p), fp = n % Int64(p)
  var f = String(fp)
  while f.count < decimals { f = "0" + f }
  return (value < 0 && n != 0 ? "-" : "") + String(ip) + (decimals > 0 ? "." + f : "")
}

public func fixed(_ value: Float, _ decimals: Int) -> String { fixed(Double(value), decimals) }
