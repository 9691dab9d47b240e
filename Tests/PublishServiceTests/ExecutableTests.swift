import Foundation
import HayonTestSupport
import Testing

@Suite("publish-service configuration")
struct ExecutableConfigurationTests {
  @Test("bad configuration: one clear line, exit status 2, secrets not echoed", arguments: [
    ([String: String](), "publish-service: HAYON_RPC_TOKEN is required"),
    (["HAYON_RPC_TOKEN": "has space secret-value"],
     "publish-service: HAYON_RPC_TOKEN must be printable ASCII without spaces (the value is not shown)"),
    (["HAYON_RPC_TOKEN": "t", "PUBLISH_SERVICE_LISTEN": "nowhere"],
     "publish-service: PUBLISH_SERVICE_LISTEN must be host:port (e.g. 127.0.0.1:50051), got 'nowhere'"),
    (["HAYON_RPC_TOKEN": "t", "AUTH_SERVICE_ADDRESS": "x"],
     "publish-service: AUTH_SERVICE_ADDRESS must be host:port (e.g. 127.0.0.1:50051), got 'x'"),
    (["HAYON_RPC_TOKEN": "t", "PUBLISH_LEASE_SECONDS": "1"],
     "publish-service: PUBLISH_LEASE_SECONDS must be a whole number between 5 and 3600, got '1'"),
  ])
  func badConfiguration(environment: [String: String], expected: String) async throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hayon-publish-config-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    var environment = environment
    environment["HAYON_DATA_DIR"] = directory.path
    let child = try ChildProcess(product: "publish-service", environment: environment)
    let exited = await child.waitForExit()
    if !exited { await child.terminate() }
    #expect(exited)
    #expect(child.terminationStatus == 2)
    #expect(child.stderrText == expected + "\n")
    #expect(!child.stderrText.contains("secret-value"))
  }
}
