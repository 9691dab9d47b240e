import Foundation
import HayonTestSupport

/// A throwaway PKI made with the `openssl` CLI in a fresh temporary directory: a CA, a server
/// certificate for `localhost` / `127.0.0.1` and a client certificate, both signed by the CA, plus
/// an unrelated second CA. Every key is EC P-256 (fast to generate). Paths are PEM files.
struct TestCertificates: Sendable {
  let directory: URL
  var caCertificate: String { path("ca.pem") }
  var serverCertificate: String { path("server.pem") }
  var serverKey: String { path("server.key") }
  var clientCertificate: String { path("client.pem") }
  var clientKey: String { path("client.key") }
  /// A CA that signed none of the above.
  var otherCACertificate: String { path("other-ca.pem") }

  func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

  static func generate() async throws -> TestCertificates {
    let directory = FileManager.default.temporaryDirectory
      .appendingPathComponent("hayon-certs-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    let certificates = TestCertificates(directory: directory)
    do {
      try await certificates.makeCA(name: "ca", subject: "/CN=Hayon Test CA")
      try await certificates.makeCA(name: "other-ca", subject: "/CN=Hayon Untrusted Test CA")
      try await certificates.makeLeaf(
        name: "server", subject: "/CN=localhost",
        extensions: [
          "basicConstraints=CA:FALSE", "keyUsage=critical,digitalSignature", "extendedKeyUsage=serverAuth",
          "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
        serial: 2)
      try await certificates.makeLeaf(
        name: "client", subject: "/CN=hayon-test-client",
        extensions: ["basicConstraints=CA:FALSE", "keyUsage=critical,digitalSignature", "extendedKeyUsage=clientAuth"],
        serial: 3)
    } catch {
      certificates.remove()
      throw error
    }
    return certificates
  }

  func remove() {
    try? FileManager.default.removeItem(at: directory)
  }

  private func makeCA(name: String, subject: String) async throws {
    try await openssl([
      "req", "-x509", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
      "-keyout", path("\(name).key"), "-out", path("\(name).pem"), "-days", "2", "-subj", subject,
      "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    ])
  }

  private func makeLeaf(name: String, subject: String, extensions: [String], serial: Int) async throws {
    try await openssl([
      "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
      "-keyout", path("\(name).key"), "-out", path("\(name).csr"), "-subj", subject,
    ])
    let extensionFile = path("\(name).ext")
    try Data((extensions.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: extensionFile))
    try await openssl([
      "x509", "-req", "-in", path("\(name).csr"), "-CA", caCertificate, "-CAkey", path("ca.key"),
      "-set_serial", String(serial), "-days", "2", "-out", path("\(name).pem"), "-extfile", extensionFile,
    ])
  }

  private func openssl(_ arguments: [String]) async throws {
    let result = try await runProcess("openssl", arguments, timeout: .seconds(30))
    guard result.succeeded else { throw SubprocessError("openssl failed: \(result)") }
  }
}

/// Runs `body` with freshly generated certificates and removes them afterwards.
func withTestCertificates<T>(_ body: (TestCertificates) async throws -> T) async throws -> T {
  let certificates = try await TestCertificates.generate()
  defer { certificates.remove() }
  return try await body(certificates)
}
