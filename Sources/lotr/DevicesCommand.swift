import ArgumentParser
import LOTRCapture

struct DevicesCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "devices",
    abstract: "List V4L2 cameras with their formats, sizes and frame rates."
  )

  @Option(help: "Where to look for video* nodes.")
  var dev = "/dev"

  @Flag(help: "Also list nodes that cannot capture video (metadata, output, radio).")
  var all = false

  func run() throws {
    let devices = V4L2Devices.list(devDirectory: dev, byIdDirectory: dev + "/v4l/by-id")
    let shown = devices.filter { all || $0.isCapture || $0.error != nil }
    if shown.isEmpty {
      print(devices.isEmpty ? "no V4L2 devices found (no \(dev)/video* nodes)"
                            : "no V4L2 capture devices found (\(devices.count) node(s) without video capture; --all lists them)")
      return
    }
    for d in shown {
      print(d.path + (d.byIdNames.isEmpty ? "" : "  (" + d.byIdNames.joined(separator: ", ") + ")"))
      if let error = d.error { print("  \(error)"); continue }
      print("  \(d.card) [\(d.driver)] \(d.busInfo)\(d.isCapture ? "" : "  (no video capture)")\(d.isCapture && !d.canStream ? "  (no streaming I/O)" : "")")
      for f in d.formats {
        let flags = [f.compressed ? "compressed" : nil, f.emulated ? "libv4l2 conversion" : nil].compactMap { $0 }
        print("  \(f.name.padding(4))  \(f.description)" + (flags.isEmpty ? "" : " (" + flags.joined(separator: ", ") + ")"))
        for s in f.sizes {
          let rates = s.intervals.map(\.description)
          print("        \(s.description)" + (rates.isEmpty ? "" : "  @ " + rates.joined(separator: ", ") + " fps"))
        }
      }
    }
  }
}

extension String {
  fileprivate func padding(_ n: Int) -> String { count >= n ? self : self + String(repeating: " ", count: n - count) }
}
