import Foundation
import HayonAccount
import HayonAuth
import HayonCrypto
import HayonHTTP2
import HayonModel
import HayonPlatforms
import HayonRPC
import HayonTestSupport
import HayonUsers
import Testing

/// The listening address a product printed.
private func listeningAddress(_ child: ChildProcess) async throws -> SocketAddress {
  let line = try await child.waitForLine(startingWith: "listening on ")
  return try #require(SocketAddress(parsing: String(line.dropFirst("listening on ".count))))
}

private func client(_ address: SocketAddress) throws -> RPCClient {
  var configuration = RPCClient.Configuration(target: address, credential: BearerCredential(token: connectionsTestToken))
  configuration.defaultTimeout = .seconds(20)
  configuration.maxAttempts = 1
  return try RPCClient(configuration: configuration)
}

private func key() -> String { Base64URL.encode(SecureRandom.bytes(32)) }

@Suite("auth-service executable", .serialized)
struct AuthExecutableTests {
  @Test("runs beside account-service and the sandbox executables: users, Bluesky and Mastodon connect, clean stop, no secret logged")
  func runsTheWholeIdentitySide() async throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hayon-auth-exe-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let vaultKey = key()
    try await withChildProcess(
      product: "platform-sandbox", environment: ["SANDBOX_LISTEN": "127.0.0.1:0", "SANDBOX_SEED_DEMO": "1"]
    ) { sandbox in
      let sandboxAddress = try await listeningAddress(sandbox)
      let sandboxURL = "http://127.0.0.1:\(sandboxAddress.port)"
      try await withChildProcess(
        product: "account-service",
        environment: [
          "ACCOUNT_SERVICE_LISTEN": "127.0.0.1:0", "HAYON_RPC_TOKEN": connectionsTestToken,
          "HAYON_DATA_DIR": directory.path,
        ]
      ) { accountService in
        let accountAddress = try await listeningAddress(accountService)
        let environment = [
          "AUTH_SERVICE_LISTEN": "127.0.0.1:0", "HAYON_RPC_TOKEN": connectionsTestToken, "HAYON_DATA_DIR": directory.path,
          "ACCOUNT_SERVICE_ADDRESS": accountAddress.description, "HAYON_VAULT_KEYS": "v1:\(vaultKey)",
          "HAYON_ACCESS_TOKEN_KEYS": "a1:\(key())", "BLUESKY_PDS_URL": sandboxURL, "MASTODON_INSTANCE_URL": sandboxURL,
          "MASTODON_REDIRECT_URI": sampleRedirect, "HAYON_PLATFORM_HOST_ALLOWLIST": "127.0.0.1:\(sandboxAddress.port)",
        ]
        try await withChildProcess(product: "auth-service", environment: environment) { auth in
          let authAddress = try await listeningAddress(auth)
          let rpc = try client(authAddress)
          let accountsRPC = try client(accountAddress)
          let accounts = Accounts.Client(accountsRPC)

          let session = try await Users.Client(rpc).signUp(Users.Credentials(email: "Ada@Example.com", password: "correct horse battery"))
          let userId = session.user.userId
          let connections = Connections.Client(rpc)
          let bluesky = try await connections.connectBluesky(
            Connections.ConnectBlueskyRequest(userId: userId, identifier: "@demo.bsky.social", appPassword: samplePassword))
          #expect(bluesky.handle == "demo.bsky.social")

          let begun = try await connections.beginConnect(Connections.BeginConnectRequest(userId: userId, platform: .mastodon))
          let redirect = try await URLSessionHTTPClient().send(
            PlatformHTTPRequest(method: "GET", url: try #require(URL(string: begun.authorizeUrl))))
          let items = URLComponents(string: try #require(redirect.header("location")))?.queryItems ?? []
          let mastodon = try await connections.completeConnect(
            Connections.CompleteConnectRequest(
              platform: .mastodon, state: items.first { $0.name == "state" }?.value, code: items.first { $0.name == "code" }?.value))
          #expect(mastodon.handle == "@demo@127.0.0.1:\(sandboxAddress.port)")

          let document = try await accounts.getAccount(Accounts.GetAccountRequest(userId: userId))
          #expect(document[.bluesky].connected)
          #expect(document[.mastodon].connected)
          let lease = try await connections.leaseCredential(Connections.AccountRequest(userId: userId, platform: .bluesky))
          await rpc.close()
          await accountsRPC.close()

          await auth.terminate()
          #expect(auth.terminationStatus == 0, "\(auth.stderrText)")
          let logs = auth.stderrText + accountService.stderrText
          #expect(logs.contains(#""message":"stopped""#))
          for secret in [connectionsTestToken, vaultKey, samplePassword, lease.accessToken, "correct horse battery"] {
            #expect(!logs.contains(secret))
          }
        }
      }
    }
    #expect(FileManager.default.fileExists(atPath: directory.appendingPathComponent("auth-service.sqlite").path))
  }

  @Test("bad configuration: one clear line, exit status 2, no key material echoed", arguments: [
    ([String: String](), "auth-service: HAYON_RPC_TOKEN is required"),
    (["HAYON_RPC_TOKEN": "t"], "auth-service: HAYON_VAULT_KEYS is required"),
    (["HAYON_RPC_TOKEN": "t", "HAYON_VAULT_KEYS": "k1:c2VjcmV0LXZhbHVl", "HAYON_ACCESS_TOKEN_KEYS": "a:\(String(repeating: "A", count: 43))"],
     "auth-service: HAYON_VAULT_KEYS: invalid key configuration: key 'k1' is 12 bytes; expected 32"),
    (["HAYON_RPC_TOKEN": "t", "HAYON_VAULT_KEYS": "k1:\(String(repeating: "A", count: 43))", "HAYON_ACCESS_TOKEN_KEYS": "a:x,b:y"],
     "auth-service: HAYON_ACCESS_TOKEN_KEY_ID is required when HAYON_ACCESS_TOKEN_KEYS holds more than one key"),
    (["HAYON_RPC_TOKEN": "t", "HAYON_VAULT_KEYS": "k1:\(String(repeating: "A", count: 43))",
      "HAYON_ACCESS_TOKEN_KEYS": "a:\(String(repeating: "A", count: 43))", "MASTODON_INSTANCE_URL": "ftp://m.example"],
     "auth-service: MASTODON_INSTANCE_URL must be an https URL"),
    (["HAYON_RPC_TOKEN": "t", "HAYON_VAULT_KEYS": "k1:\(String(repeating: "A", count: 43))",
      "HAYON_ACCESS_TOKEN_KEYS": "a:\(String(repeating: "A", count: 43))", "MASTODON_REDIRECT_URI": "callback"],
     "auth-service: MASTODON_REDIRECT_URI must be an absolute http(s) URL"),
  ])
  func badConfiguration(environment: [String: String], expected: String) async throws {
    var environment = environment
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hayon-auth-bad-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: directory) }
    environment["HAYON_DATA_DIR"] = directory.path
    let child = try ChildProcess(product: "auth-service", environment: environment)
    let exited = await child.waitForExit()
    if !exited { await child.terminate() }
    #expect(exited)
    #expect(child.terminationStatus == 2)
    #expect(child.stderrText == expected + "\n")
    #expect(!child.stderrText.contains("c2VjcmV0LXZhbHVl"))
    #expect(child.stdoutText.isEmpty)
  }
}
