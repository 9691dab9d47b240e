import Foundation
import PlatformSandbox
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("Platform sandbox")
struct PlatformSandboxTests {
  @Test("the clock starts at a fixed instant and moves only when told")
  func clock() async throws {
    let clock = SandboxClock()
    #expect(clock.now == Date(timeIntervalSince1970: 1_767_268_800))
    clock.advance(by: 90)
    #expect(clock.now.timeIntervalSince1970 == 1_767_268_890)
    clock.set(Date(timeIntervalSince1970: 10))
    #expect(clock.now.timeIntervalSince1970 == 10)
    let custom = SandboxClock(start: Date(timeIntervalSince1970: 5))
    #expect(custom.now.timeIntervalSince1970 == 5)

    var configuration = PlatformSandbox.Configuration()
    configuration.group = sandboxTestGroup
    configuration.clock = custom
    let sandbox = try await PlatformSandbox.start(configuration)
    #expect(sandbox.clock === custom)
    #expect(sandbox.baseURL.hasPrefix("http://127.0.0.1:") && !sandbox.baseURL.hasSuffix("/"))
    await sandbox.shutdown()
  }

  @Test("failNext answers Bluesky paths with XRPC errors and 429 rate-limit headers, then stops")
  func failNextBluesky() async throws {
    try await withSandbox { sandbox in
      sandbox.bluesky.addAccount(handle: "alice.bsky.social", password: "pw")
      sandbox.failNext(2, pathPrefix: "/xrpc/com.atproto.server.createSession", status: 429, retryAfterSeconds: 120)
      let body: [String: Any] = ["identifier": "alice.bsky.social", "password": "pw"]
      let now = Int(sandbox.clock.now.timeIntervalSince1970)
      for _ in 0..<2 {
        let limited = try await sandbox.post("/xrpc/com.atproto.server.createSession", json: body)
        #expect(limited.status == 429)
        #expect(limited.error == "RateLimitExceeded" && limited.message == "Rate Limit Exceeded")
        #expect(limited.header("RateLimit-Remaining") == "0")
        #expect(limited.header("RateLimit-Reset") == String(now + 120))
        #expect(limited.header("RateLimit-Limit") != nil && limited.header("RateLimit-Policy") != nil)
      }
      #expect(try await sandbox.post("/xrpc/com.atproto.server.createSession", json: body).status == 200)
      // Failed requests were not processed.
      #expect(sandbox.bluesky.createSessionCount(identifier: "alice.bsky.social") == 1)

      sandbox.failNext(1, pathPrefix: "/xrpc/", status: 502)
      let upstream = try await sandbox.post("/xrpc/com.atproto.server.createSession", json: body)
      #expect(upstream.status == 502 && upstream.error == "UpstreamFailure")
      sandbox.failNext(1, pathPrefix: "/xrpc/", status: 500)
      let internalError = try await sandbox.get("/xrpc/com.atproto.identity.resolveHandle?handle=alice.bsky.social")
      #expect(internalError.status == 500 && internalError.error == "InternalServerError" && internalError.message != nil)
      // Other prefixes are untouched.
      sandbox.failNext(1, pathPrefix: "/api/", status: 503)
      #expect(try await sandbox.get("/xrpc/com.atproto.identity.resolveHandle?handle=alice.bsky.social").status == 200)
    }
  }

  @Test("failNext answers Mastodon paths with {\"error\":…} and X-RateLimit headers on 429")
  func failNextMastodon() async throws {
    try await withSandbox { sandbox in
      sandbox.failNext(1, pathPrefix: "/api/v1/statuses", status: 429, retryAfterSeconds: 300)
      let limited = try await sandbox.post("/api/v1/statuses", json: ["status": "x"], bearer: "whatever")
      #expect(limited.status == 429)
      #expect(limited.error == "Too many requests")
      #expect(limited.header("X-RateLimit-Remaining") == "0")
      #expect(limited.header("X-RateLimit-Reset") == "2026-01-01T12:05:00.000000Z")
      #expect(limited.header("X-RateLimit-Limit") == "300")
      sandbox.failNext(1, pathPrefix: "/oauth/token", status: 503)
      let unavailable = try await sandbox.post("/oauth/token", form: [("grant_type", "authorization_code")])
      #expect(unavailable.status == 503 && unavailable.error != nil)
      #expect(try await sandbox.post("/oauth/token", form: [("grant_type", "authorization_code")]).status == 401)
    }
  }

  @Test("dropResponseNext processes the request but closes without answering")
  func dropResponse() async throws {
    try await withSandbox { sandbox in
      let accountId = sandbox.mastodon.addAccount(username: "alice")
      let did = sandbox.bluesky.addAccount(handle: "alice.bsky.social", password: "pw")
      let session = try await sandbox.post("/xrpc/com.atproto.server.createSession", json: ["identifier": did, "password": "pw"])
      let access = try #require(session.json["accessJwt"] as? String)
      sandbox.dropResponseNext(1, pathPrefix: "/xrpc/com.atproto.repo.createRecord")
      let record: [String: Any] = [
        "repo": did, "collection": "app.bsky.feed.post",
        "record": ["$type": "app.bsky.feed.post", "text": "lost answer", "createdAt": "2026-01-01T12:00:00Z"],
      ]
      let body = Array(try JSONSerialization.data(withJSONObject: record))
      let lost = try await exchange(
        sandbox, "POST", "/xrpc/com.atproto.repo.createRecord",
        headers: [("Authorization", "Bearer \(access)"), ("Content-Type", "application/json")], body: body)
      #expect(lost == nil)
      #expect(sandbox.bluesky.posts(did: did).map(\.text) == ["lost answer"])
      let retried = try await sandbox.post("/xrpc/com.atproto.repo.createRecord", json: record, bearer: access)
      #expect(retried.status == 200)
      #expect(sandbox.bluesky.posts(did: did).count == 2)

      // Mastodon: the status exists, and an Idempotency-Key retry finds it.
      let app = try await sandbox.post("/api/v1/apps", json: ["client_name": "x", "redirect_uris": "https://a.example/cb", "scopes": "write"])
      let clientId = try #require(app.json["client_id"] as? String)
      let secret = try #require(app.json["client_secret"] as? String)
      let authorize = try await sandbox.get(
        "/oauth/authorize?response_type=code&client_id=\(clientId)&redirect_uri=https%3A%2F%2Fa.example%2Fcb&scope=write")
      let code = try #require(queryItems(authorize.header("Location") ?? "")["code"])
      let token = try await sandbox.post(
        "/oauth/token",
        form: [("grant_type", "authorization_code"), ("code", code), ("client_id", clientId), ("client_secret", secret), ("redirect_uri", "https://a.example/cb")])
      let bearer = try #require(token.json["access_token"] as? String)
      sandbox.dropResponseNext(1, pathPrefix: "/api/v1/statuses")
      let statusBody = Array(try JSONSerialization.data(withJSONObject: ["status": "hello"]))
      let lostStatus = try await exchange(
        sandbox, "POST", "/api/v1/statuses",
        headers: [("Authorization", "Bearer \(bearer)"), ("Content-Type", "application/json"), ("Idempotency-Key", "k")],
        body: statusBody)
      #expect(lostStatus == nil)
      let retry = try await sandbox.post("/api/v1/statuses", json: ["status": "hello"], bearer: bearer, headers: [("Idempotency-Key", "k")])
      #expect(retry.status == 200)
      #expect(sandbox.mastodon.statuses(accountId: accountId).count == 1)
      #expect(retry.json["id"] as? String == sandbox.mastodon.statuses(accountId: accountId).first?.id)

      let dropped = sandbox.requests().filter(\.responseDropped)
      #expect(dropped.map(\.path) == ["/xrpc/com.atproto.repo.createRecord", "/api/v1/statuses"])
      #expect(dropped.map(\.status) == [200, 200])
    }
  }

  @Test("the request log records every platform request in order, with the answered status")
  func requestLog() async throws {
    try await withSandbox { sandbox in
      _ = try await sandbox.get("/xrpc/com.atproto.identity.resolveHandle?handle=x.test", headers: [("X-Test", "1")])
      _ = try await sandbox.post("/api/v1/apps", form: [("client_name", "n"), ("redirect_uris", "https://a.example/cb")])
      _ = try await sandbox.post("/_sandbox/clock/advance", json: ["seconds": 5])
      let log = sandbox.requests()
      #expect(log.count == 2)
      #expect(log[0].method == "GET")
      #expect(log[0].path == "/xrpc/com.atproto.identity.resolveHandle")
      #expect(log[0].query == "handle=x.test")
      #expect(log[0].header("x-test") == "1")
      #expect(log[0].headers.contains { $0.name == "X-Test" && $0.value == "1" })
      #expect(log[0].status == 400)
      #expect(log[1].method == "POST" && log[1].path == "/api/v1/apps" && log[1].query == nil)
      #expect(log[1].bodyText == "client_name=n&redirect_uris=https%3A%2F%2Fa.example%2Fcb")
      #expect(log[1].status == 200)
      sandbox.resetRequestLog()
      #expect(sandbox.requests().isEmpty)
      _ = try await sandbox.get("/nothing")
      #expect(sandbox.requests().map(\.status) == [404])
    }
  }

  @Test("admin routes: accounts, clock, hooks, failures and a redacted request log")
  func adminRoutes() async throws {
    try await withSandbox { sandbox in
      let created = try await sandbox.post(
        "/_sandbox/accounts/bluesky", json: ["handle": "demo.bsky.social", "password": "abcd-efgh-ijkl-mnop", "displayName": "Demo"])
      #expect(created.status == 200)
      let did = try #require(created.json["did"] as? String)
      #expect(did.hasPrefix("did:plc:"))
      let mastodon = try await sandbox.post("/_sandbox/accounts/mastodon", json: ["username": "demo", "displayName": "Demo"])
      let accountId = try #require(mastodon.json["id"] as? String)
      #expect(sandbox.mastodon.liveTokenCount(accountId: accountId) == 0)

      let session = try await sandbox.post(
        "/xrpc/com.atproto.server.createSession", json: ["identifier": "demo.bsky.social", "password": "abcd-efgh-ijkl-mnop"])
      let access = try #require(session.json["accessJwt"] as? String)
      let refresh = try #require(session.json["refreshJwt"] as? String)

      #expect(try await sandbox.post("/_sandbox/bluesky/expire", json: ["did": did]).status == 200)
      #expect(try await sandbox.get("/xrpc/com.atproto.server.getSession", bearer: access).error == "ExpiredToken")
      #expect(try await sandbox.post("/_sandbox/bluesky/revoke", json: ["did": did]).status == 200)
      #expect(try await sandbox.post("/xrpc/com.atproto.server.refreshSession", bearer: refresh).message == "Token has been revoked")
      #expect(try await sandbox.post("/_sandbox/mastodon/revoke", json: ["accountId": accountId]).status == 200)

      let before = sandbox.clock.now
      #expect(try await sandbox.post("/_sandbox/clock/advance", json: ["seconds": 7200]).status == 200)
      #expect(sandbox.clock.now.timeIntervalSince(before) == 7200)

      #expect(try await sandbox.post("/_sandbox/fail", json: ["count": 1, "pathPrefix": "/api/", "status": 429, "retryAfterSeconds": 30]).status == 200)
      #expect(try await sandbox.get("/api/v2/instance").status == 429)
      #expect(try await sandbox.post("/_sandbox/drop", json: ["count": 1, "pathPrefix": "/api/"]).status == 200)
      #expect(try await exchange(sandbox, "GET", "/api/v2/instance") == nil)
      #expect(try await sandbox.get("/api/v2/instance").status == 200)

      let log = try await sandbox.get("/_sandbox/requests")
      #expect(log.status == 200)
      let entries = try #require(log.json["requests"] as? [[String: Any]])
      #expect(entries.count == sandbox.requests().count)
      #expect(entries.allSatisfy { !(($0["path"] as? String) ?? "").hasPrefix("/_sandbox") })
      #expect(!log.text.contains(access) && !log.text.contains(refresh))
      #expect(log.text.contains("[redacted]"))

      let bad = try await sandbox.post("/_sandbox/fail", json: ["count": "many"])
      #expect(bad.status == 400)
      #expect(try await sandbox.post("/_sandbox/accounts/bluesky", json: ["handle": 1]).status == 400)
      #expect(try await sandbox.get("/_sandbox/nothing").status == 404)
    }
  }

  @Test("garbage input never crashes the sandbox")
  func garbage() async throws {
    try await withSandbox { sandbox in
      let bodies: [[UInt8]] = [
        Array("{".utf8), Array("[]".utf8), Array("null".utf8), [0xFF, 0xFE, 0x00], Array("%zz=%".utf8),
        Array(String(repeating: "a", count: 100_000).utf8),
        Array(("{\"identifier\":\"" + String(repeating: "x", count: 50_000) + "\",\"password\":\"y\"}").utf8),
      ]
      let targets = [
        "/xrpc/com.atproto.server.createSession", "/xrpc/com.atproto.repo.createRecord", "/api/v1/apps", "/oauth/token",
        "/oauth/revoke", "/api/v1/statuses", "/_sandbox/fail", "/_sandbox/accounts/bluesky",
      ]
      for target in targets {
        for body in bodies {
          for contentType in ["application/json", "application/x-www-form-urlencoded", "text/plain"] {
            let reply = try await sandbox.postRaw(target, body: body, contentType: contentType, bearer: "x.y.z")
            #expect((400..<500).contains(reply.status), "\(target) \(contentType): \(reply.status)")
          }
        }
      }
      for target in [
        "/oauth/authorize?client_id=%zz", "/oauth/authorize", "/xrpc/app.bsky.actor.getProfile?actor=%FF",
        "/xrpc/com.atproto.identity.resolveHandle?handle=" + String(repeating: "a", count: 2000), "/%2e%2e/etc/passwd",
      ] {
        let reply = try await sandbox.get(target)
        #expect((400..<500).contains(reply.status), "\(target): \(reply.status)")
      }
      let huge = try await exchange(
        sandbox, "POST", "/api/v1/apps", headers: [("Content-Type", "application/json")], body: [UInt8](repeating: 0x61, count: 300_000))
      #expect(huge?.status == 413 || huge == nil)
      #expect(try await sandbox.get("/api/v2/instance").status == 200)
    }
  }

  @Test("the platform-sandbox executable prints its address, serves the demo accounts and exits 0 on SIGTERM")
  func executable() async throws {
    let binary = productsDirectory.appendingPathComponent("platform-sandbox")
    try #require(FileManager.default.isExecutableFile(atPath: binary.path), "build platform-sandbox first")
    let process = Process()
    process.executableURL = binary
    process.environment = ["SANDBOX_LISTEN": "127.0.0.1:0", "SANDBOX_SEED_DEMO": "1"]
    let output = Pipe()
    process.standardOutput = output
    process.standardError = FileHandle.nullDevice
    process.standardInput = FileHandle.nullDevice
    try process.run()
    let handle = output.fileHandleForReading
    let line = try await offPool { () -> String in
      var data = Data()
      while !data.contains(0x0A) {
        let chunk = handle.availableData
        if chunk.isEmpty { break }
        data.append(chunk)
      }
      return String(decoding: data, as: UTF8.self)
    }
    guard line.hasPrefix("listening on 127.0.0.1:"), let port = Int(line.dropFirst("listening on 127.0.0.1:".count).prefix { $0.isNumber })
    else {
      process.terminate()
      Issue.record("unexpected first line: \(line)")
      return
    }
    let reply = try await offPool { () -> Reply? in
      try rawRequest(port: port, "POST /xrpc/com.atproto.server.createSession HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: 66\r\n\r\n{\"identifier\":\"demo.bsky.social\",\"password\":\"abcd-efgh-ijkl-mnop\"}")
    }
    #expect(reply?.status == 200)
    let apps = try await offPool { () -> Reply? in
      try rawRequest(port: port, "GET /api/v2/instance HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    }
    #expect(apps?.status == 200)
    kill(process.processIdentifier, SIGTERM)
    try await offPool { process.waitUntilExit() }
    #expect(process.terminationReason == .exit)
    #expect(process.terminationStatus == 0)
  }
}

/// The directory `swift build` put the products in (the test bundle sits beside them).
let productsDirectory: URL = {
  let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
  if FileManager.default.isExecutableFile(atPath: beside.appendingPathComponent("platform-sandbox").path) { return beside }
  return URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent(".build/debug")
}()

@Suite("Sandbox admin reads")
struct SandboxAdminReadTests {
  @Test func accountStateIsReadableOverHTTP() async throws {
    try await withSandbox { sandbox in
      let did = sandbox.bluesky.addAccount(handle: "reader.bsky.social", password: "abcd-efgh-ijkl-mnop")
      let id = sandbox.mastodon.addAccount(username: "reader")
      let session = try await sandbox.post(
        "/xrpc/com.atproto.server.createSession", json: ["identifier": "reader.bsky.social", "password": "abcd-efgh-ijkl-mnop"])
      #expect(session.status == 200)
      let bluesky = try await sandbox.get("/_sandbox/bluesky/account?did=\(did)")
      #expect(bluesky.status == 200)
      #expect((bluesky.json["posts"] as? [Any])?.isEmpty == true)
      #expect(bluesky.json["liveSessions"] as? Int == 1)
      let mastodon = try await sandbox.get("/_sandbox/mastodon/account?accountId=\(id)")
      #expect(mastodon.json["liveTokens"] as? Int == 0)
      #expect((mastodon.json["statuses"] as? [Any])?.isEmpty == true)
      #expect(try await sandbox.get("/_sandbox/bluesky/account").status == 400)
      #expect(try await sandbox.get("/_sandbox/nothing").status == 404)
      // Admin reads are not part of the platform traffic the log records.
      #expect(sandbox.requests().map(\.path) == ["/xrpc/com.atproto.server.createSession"])
    }
  }
}
