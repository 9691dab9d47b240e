import Foundation
import HayonCrypto
import HayonHTTP2
import HayonTestSupport
import Testing

private func listeningPort(_ child: ChildProcess) async throws -> Int {
  let line = try await child.waitForLine(startingWith: "listening on ")
  return try #require(SocketAddress(parsing: String(line.dropFirst("listening on ".count)))).port
}

private func base64Key() -> String { Data(SecureRandom.bytes(32)).base64EncodedString() }

@Suite("gateway executable", .serialized)
struct GatewayExecutableTests {
  @Test("runs beside account-service and auth-service: health, readiness per service, sign-up and accounts over h1 and h2, clean stop")
  func runs() async throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hayon-gateway-exe-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let token = "gateway-exe-\(UInt64.random(in: 1...UInt64.max))"
    try await withChildProcess(
      product: "account-service",
      environment: ["ACCOUNT_SERVICE_LISTEN": "127.0.0.1:0", "HAYON_RPC_TOKEN": token, "HAYON_DATA_DIR": directory.path]
    ) { account in
      let accountPort = try await listeningPort(account)
      try await withChildProcess(
        product: "auth-service",
        environment: [
          "AUTH_SERVICE_LISTEN": "127.0.0.1:0", "HAYON_RPC_TOKEN": token, "HAYON_DATA_DIR": directory.path,
          "ACCOUNT_SERVICE_ADDRESS": "127.0.0.1:\(accountPort)", "HAYON_VAULT_KEYS": "v1:\(base64Key())",
          "HAYON_ACCESS_TOKEN_KEYS": "a1:\(base64Key())",
        ]
      ) { auth in
        let authPort = try await listeningPort(auth)
        // publish-service is not running: readiness must say so.
        let gateway = try ChildProcess(
          product: "gateway",
          environment: [
            "GATEWAY_LISTEN": "127.0.0.1:0", "HAYON_RPC_TOKEN": token, "AUTH_SERVICE_ADDRESS": "127.0.0.1:\(authPort)",
            "ACCOUNT_SERVICE_ADDRESS": "127.0.0.1:\(accountPort)", "PUBLISH_SERVICE_ADDRESS": "127.0.0.1:1",
          ])
        do {
          let port = try await listeningPort(gateway)
          let base = "http://127.0.0.1:\(port)"
          #expect(try await curl("GET", base + "/healthz").status == 200)
          let ready = try await curl("GET", base + "/readyz")
          #expect(ready.status == 503)
          #expect(
            ready.json?["services"] as? [String: String]
              == ["auth-service": "serving", "account-service": "serving", "publish-service": "unavailable"])
          let signUp = try await curl(
            "POST", base + "/api/auth/signup", headers: ["Content-Type": "application/json"],
            body: #"{"email":"exe@example.com","password":"correct horse battery"}"#)
          #expect(signUp.status == 201)
          let access = try #require((signUp.json?["tokens"] as? [String: Any])?["accessToken"] as? String)
          for wire in WireProtocol.allCases {
            let accounts = try await curl("GET", base + "/api/accounts", protocol: wire, headers: bearer(access))
            #expect(accounts.status == 200, "\(wire)")
          }
          let posts = try await curl("GET", base + "/api/posts", headers: bearer(access))
          #expect(posts.status == 503)
          #expect(posts.errorCode == "unavailable")
          await gateway.terminate()
          #expect(gateway.terminationStatus == 0)
          #expect(!gateway.stderrText.contains(access))
          #expect(!gateway.stderrText.contains("correct horse"))
        } catch {
          await gateway.terminate()
          throw error
        }
      }
    }
  }

  @Test("bad configuration: one line on stderr, exit status 2")
  func badConfiguration() async throws {
    let cases: [[String: String]] = [
      ["GATEWAY_LISTEN": "127.0.0.1:0"],
      ["GATEWAY_LISTEN": "nowhere", "HAYON_RPC_TOKEN": "t"],
      ["GATEWAY_LISTEN": "127.0.0.1:0", "HAYON_RPC_TOKEN": "t", "GATEWAY_PUBLIC_URL": "ftp://x"],
      ["GATEWAY_LISTEN": "127.0.0.1:0", "HAYON_RPC_TOKEN": "t", "GATEWAY_TLS_CERT": "/nonexistent.pem"],
      ["GATEWAY_LISTEN": "127.0.0.1:0", "HAYON_RPC_TOKEN": "t", "HAYON_LOG_LEVEL": "chatty"],
    ]
    for environment in cases {
      let child = try ChildProcess(product: "gateway", environment: environment)
      #expect(await child.waitForExit(timeout: .seconds(20)), "\(environment)")
      // The output is collected as it arrives: it may land just after the exit.
      for _ in 0..<100 where child.stderrText.isEmpty { try await Task.sleep(for: .milliseconds(20)) }
      #expect(child.terminationStatus == 2, "\(environment): \(child.stderrText)")
      #expect(child.stderrText.hasPrefix("gateway:"), "\(environment): \(child.stderrText)")
    }
  }
}
