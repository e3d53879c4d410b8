import LOTR

/// Fixtures under Tests/Fixtures/vision (see its README).
let visionFixtures: String = {
  var parts = #filePath.split(separator: "/", omittingEmptySubsequences: false)
  parts.removeLast(2)
  return parts.joined(separator: "/") + "/Fixtures/vision"
}()

/// The shipped models (models/ at the repository root).
let shippedModels: String = {
  var parts = #filePath.split(separator: "/", omittingEmptySubsequences: false)
  parts.removeLast(3)
  return parts.joined(separator: "/") + "/models"
}()
