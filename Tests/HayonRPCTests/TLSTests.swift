import Foundation
import HayonTestSupport
import HayonDiagnostics
import HayonHTTP2
@testable import HayonRPC
import Testing

@Suite("TLS")
struct TLSTests {
  private static let echoPath = "/\(Diagnostics.serviceName)/Echo"

  private func serverTLS(_ certificates: TestCertificates, requireClientCertificates: Bool = false) -> TLSConfiguration {
    TLSConfiguration(
      certificateChainPath: certificates.serverCertificate, privateKeyPath: certificates.serverKey,
      trustRootsPath: requireClientCertificates ? certificates.caCertificate : nil)
  }

  private func tlsClient(_ address: SocketAddress, _ tls: TLSConfiguration) throws -> Diagnostics.Client {
    Diagnostics.Client(try makeClient(address) { $0.tls = tls })
  }

  private func framedEcho(_ text: String) throws -> [UInt8] {
    MessageFraming.frame(Array(try JSONEncoder().encode(Diagnostics.EchoRequest(message: text))))
  }

  @Test func echoOverTLSWithALPNh2() async throws {
    try await withTestCertificates { certificates in
      try await withTestServer(configure: { $0.tls = serverTLS(certificates) }) { _, address in
        // Our client.
        let client = try tlsClient(address, TLSConfiguration(trustRootsPath: certificates.caCertificate, serverName: "localhost"))
        let response = try await client.echo(.init(message: "over TLS ✓"))
        #expect(response.message == "over TLS ✓")
        await client.rpc.close()

        // curl: verifies the chain against our CA and negotiates h2 through ALPN.
        let curl = try await curlPOST(
          url: "https://localhost:\(address.port)\(Self.echoPath)", body: try framedEcho("curl over TLS"),
          headers: ["content-type: application/grpc", "te: trailers", "authorization: Bearer \(testToken)"],
          arguments: [
            "--http2", "--cacert", certificates.caCertificate, "--resolve", "localhost:\(address.port):127.0.0.1",
          ])
        #expect(curl.result.succeeded, "\(curl.result)")
        #expect(curl.httpVersion == "2", "curl -w http_version: \(curl.writeOut)")
        #expect(curl.httpCode == "200")
        #expect(curl.headerLines.contains("grpc-status: 0"), "headers:\n\(curl.headerText)")
        let body = [UInt8](curl.body)
        try #require(body.count > 5, "body: \(body)")
        #expect(Array(body[5...]) == Array(#"{"message":"curl over TLS"}"#.utf8))
      }
    }
  }

  @Test func clientWithoutTrustFailsUnavailableAndServerKeepsServing() async throws {
    try await withTestCertificates { certificates in
      try await withTestServer(configure: { $0.tls = serverTLS(certificates) }) { _, address in
        // Trusts another CA only.
        let wrongCA = try tlsClient(address, TLSConfiguration(trustRootsPath: certificates.otherCACertificate, serverName: "localhost"))
        await expectRPCError(.unavailable) { _ = try await wrongCA.echo(.init(message: "x")) }
        await wrongCA.rpc.close()

        // The system trust store (which does not hold the test CA).
        let systemRoots = try tlsClient(address, TLSConfiguration(serverName: "localhost"))
        await expectRPCError(.unavailable) { _ = try await systemRoots.echo(.init(message: "x")) }
        await systemRoots.rpc.close()

        // Trusts the CA, but expects a name the certificate does not carry.
        let wrongName = try tlsClient(address, TLSConfiguration(trustRootsPath: certificates.caCertificate, serverName: "example.com"))
        await expectRPCError(.unavailable) { _ = try await wrongName.echo(.init(message: "x")) }
        await wrongName.rpc.close()

        // curl refuses the certificate too (exit 60: peer certificate cannot be authenticated).
        let curl = try await curlPOST(
          url: "https://localhost:\(address.port)\(Self.echoPath)", body: try framedEcho("x"),
          headers: ["content-type: application/grpc", "te: trailers", "authorization: Bearer \(testToken)"],
          arguments: ["--http2", "--cacert", certificates.otherCACertificate, "--resolve", "localhost:\(address.port):127.0.0.1"])
        #expect(curl.result.status == 60, "\(curl.result)")

        // The server survived all of that and serves a client that trusts it.
        let good = try tlsClient(address, TLSConfiguration(trustRootsPath: certificates.caCertificate, serverName: "localhost"))
        #expect(try await good.echo(.init(message: "still here")).message == "still here")
        // Without a serverName the client checks the address it dialled, 127.0.0.1 (an IP SAN).
        let byAddress = try tlsClient(address, TLSConfiguration(trustRootsPath: certificates.caCertificate))
        #expect(try await byAddress.echo(.init(message: "by IP")).message == "by IP")
        await good.rpc.close()
        await byAddress.rpc.close()
      }
    }
  }

  @Test func mutualTLSRequiresAClientCertificate() async throws {
    try await withTestCertificates { certificates in
      try await withTestServer(configure: { $0.tls = serverTLS(certificates, requireClientCertificates: true) }) { _, address in
        let anonymous = try tlsClient(address, TLSConfiguration(trustRootsPath: certificates.caCertificate, serverName: "localhost"))
        await expectRPCError(.unavailable) { _ = try await anonymous.echo(.init(message: "no cert")) }
        await anonymous.rpc.close()

        let authenticated = try tlsClient(
          address,
          TLSConfiguration(
            certificateChainPath: certificates.clientCertificate, privateKeyPath: certificates.clientKey,
            trustRootsPath: certificates.caCertificate, serverName: "localhost"))
        #expect(try await authenticated.echo(.init(message: "with cert")).message == "with cert")
        await authenticated.rpc.close()

        // curl without a client certificate is refused as well; with one it gets through.
        let headers = ["content-type: application/grpc", "te: trailers", "authorization: Bearer \(testToken)"]
        let base = ["--http2", "--cacert", certificates.caCertificate, "--resolve", "localhost:\(address.port):127.0.0.1"]
        let url = "https://localhost:\(address.port)\(Self.echoPath)"
        let refused = try await curlPOST(url: url, body: try framedEcho("x"), headers: headers, arguments: base)
        #expect(!refused.result.succeeded, "\(refused.result)")
        let accepted = try await curlPOST(
          url: url, body: try framedEcho("mtls curl"), headers: headers,
          arguments: base + ["--cert", certificates.clientCertificate, "--key", certificates.clientKey])
        #expect(accepted.result.succeeded, "\(accepted.result)")
        #expect(accepted.headerLines.contains("grpc-status: 0"), "headers:\n\(accepted.headerText)")
      }
    }
  }

  /// `RPCServer.init` with `tls`, expected to throw a `TLSError` whose message contains every
  /// one of `fragments`.
  private func expectServerInitFails(
    _ tls: TLSConfiguration, mentioning fragments: [String], sourceLocation: SourceLocation = #_sourceLocation
  ) {
    var configuration = RPCServer.Configuration(
      address: SocketAddress(host: "127.0.0.1", port: 0), credential: BearerCredential(token: testToken))
    configuration.tls = tls
    do {
      _ = try RPCServer(configuration: configuration, services: [DiagnosticsService()])
      Issue.record("RPCServer.init accepted \(tls)", sourceLocation: sourceLocation)
    } catch let error as TLSError {
      for fragment in fragments {
        #expect(error.description.contains(fragment), "'\(error.description)' does not mention '\(fragment)'", sourceLocation: sourceLocation)
      }
    } catch {
      Issue.record("expected a TLSError, got \(type(of: error)): \(error)", sourceLocation: sourceLocation)
    }
  }

  @Test func serverInitRejectsMissingOrMismatchedFiles() async throws {
    try await withTestCertificates { certificates in
      let missing = certificates.path("does-not-exist.pem")
      expectServerInitFails(
        TLSConfiguration(certificateChainPath: missing, privateKeyPath: certificates.serverKey),
        mentioning: ["certificate", missing])
      expectServerInitFails(
        TLSConfiguration(certificateChainPath: certificates.serverCertificate, privateKeyPath: missing),
        mentioning: ["private key", missing])
      // The client's key does not belong to the server's certificate.
      expectServerInitFails(
        TLSConfiguration(certificateChainPath: certificates.serverCertificate, privateKeyPath: certificates.clientKey),
        mentioning: ["mismatch"])
      expectServerInitFails(
        TLSConfiguration(certificateChainPath: certificates.serverCertificate, privateKeyPath: nil),
        mentioning: ["certificate and a private key"])
      expectServerInitFails(
        TLSConfiguration(
          certificateChainPath: certificates.serverCertificate, privateKeyPath: certificates.serverKey,
          trustRootsPath: missing),
        mentioning: ["trust roots", missing])
      // A key file that is not PEM at all.
      let garbage = certificates.path("garbage.key")
      try Data("not a key\n".utf8).write(to: URL(fileURLWithPath: garbage))
      expectServerInitFails(
        TLSConfiguration(certificateChainPath: certificates.serverCertificate, privateKeyPath: garbage),
        mentioning: ["private key", garbage])
    }
  }
}
