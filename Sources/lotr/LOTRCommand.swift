import ArgumentParser
import LOTR
import LOTRProtocol

@main
struct LOTRCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "lotr",
    abstract: "Face landmarks with the int8 LOTR runtime.",
    version: "lotr \(LOTRProto.release) (protocol \(LOTRProto.major).\(LOTRProto.minor))",
    subcommands: [RunCommand.self, EvalCommand.self, InfoCommand.self, BenchCommand.self, KernelsCommand.self, BenchKernelsCommand.self, VisionCommand.self, DevicesCommand.self, RecordCommand.self, WatchCommand.self, StatusCommand.self]
  )
}

struct KernelsCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "kernels",
    abstract: "Show the kernel paths this CPU supports and the one in use (LOTR_KERNELS forces one)."
  )

  func run() throws {
    let chosen = try KernelPath.default()
    for path in KernelPath.supported() {
      print("\(path == chosen ? "*" : " ") \(path.name)")
    }
  }
}
