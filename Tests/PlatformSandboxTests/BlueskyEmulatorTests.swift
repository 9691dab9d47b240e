import Foundation
import PlatformSandbox
import Testing

private let createSession = "/xrpc/com.atproto.server.createSession"
private let refreshSession = "/xrpc/com.atproto.server.refreshSession"
private let deleteSession = "/xrpc/com.atproto.server.deleteSession"
private let getSession = "/xrpc/com.atproto.server.getSession"
private let createRecord = "/xrpc/com.atproto.repo.createRecord"

private struct Session {
  var access: String
  var refresh: String
  var did: String
}

private func login(_ sandbox: PlatformSandbox, _ identifier: String = "alice.bsky.social", password: String = "abcd-efgh-ijkl-mnop")
  async throws -> Session
{
  let reply = try await sandbox.post(createSession, json: ["identifier": identifier, "password": password])
  try #require(reply.status == 200, "\(reply.text)")
  return Session(
    access: reply.json["accessJwt"] as? String ?? "", refresh: reply.json["refreshJwt"] as? String ?? "",
    did: reply.json["did"] as? String ?? "")
}

private func post(_ text: String, createdAt: String = "2026-01-01T12:00:00.000Z", extra: [String: Any] = [:]) -> [String: Any] {
  var record: [String: Any] = ["$type": "app.bsky.feed.post", "text": text, "createdAt": createdAt]
  for (key, value) in extra { record[key] = value }
  return record
}

@Suite("Bluesky emulator")
struct BlueskyEmulatorTests {
  @Test("createSession accepts handle, @handle, any case, and DID; returns real HS256 JWTs")
  func createSessionSuccess() async throws {
    try await withSandbox { sandbox in
      let did = sandbox.bluesky.addAccount(handle: "alice.bsky.social", password: "abcd-efgh-ijkl-mnop", displayName: "Alice")
      #expect(did.hasPrefix("did:plc:") && did.count == 32)
      #expect(did.dropFirst(8).allSatisfy { "abcdefghijklmnopqrstuvwxyz234567".contains($0) })
      #expect(sandbox.bluesky.addAccount(handle: "alice.bsky.social", password: "abcd-efgh-ijkl-mnop") == did)

      for identifier in ["alice.bsky.social", "@alice.bsky.social", "Alice.BSKY.social", did] {
        let reply = try await sandbox.post(createSession, json: ["identifier": identifier, "password": "abcd-efgh-ijkl-mnop"])
        #expect(reply.status == 200, "\(identifier): \(reply.text)")
        #expect(reply.json["did"] as? String == did)
        #expect(reply.json["handle"] as? String == "alice.bsky.social")
        #expect(reply.json["active"] as? Bool == true)
      }
      #expect(sandbox.bluesky.createSessionCount(identifier: "alice.bsky.social") == 3)
      #expect(sandbox.bluesky.createSessionCount(identifier: did) == 1)
      #expect(sandbox.bluesky.liveSessionCount(did: did) == 4)

      let session = try await login(sandbox)
      let now = Int(sandbox.clock.now.timeIntervalSince1970)
      let access = jwtParts(session.access)
      #expect(access.header["typ"] as? String == "at+jwt")
      #expect(access.header["alg"] as? String == "HS256")
      #expect(access.claims["sub"] as? String == did)
      #expect(access.claims["scope"] as? String == "com.atproto.appPass")
      #expect((access.claims["aud"] as? String)?.hasPrefix("did:web:") == true)
      #expect(access.claims["iat"] as? Int == now)
      #expect(access.claims["exp"] as? Int == now + 7200)
      #expect(access.claims["jti"] == nil)
      let refresh = jwtParts(session.refresh)
      #expect(refresh.header["typ"] as? String == "refresh+jwt")
      #expect(refresh.claims["scope"] as? String == "com.atproto.refresh")
      #expect(refresh.claims["exp"] as? Int == now + 90 * 86_400)
      #expect((refresh.claims["jti"] as? String)?.isEmpty == false)
    }
  }

  @Test("createSession errors: wrong password, unknown account, malformed body")
  func createSessionErrors() async throws {
    try await withSandbox { sandbox in
      sandbox.bluesky.addAccount(handle: "alice.bsky.social", password: "abcd-efgh-ijkl-mnop")
      let wrong = try await sandbox.post(createSession, json: ["identifier": "alice.bsky.social", "password": "nope"])
      #expect(wrong.status == 401)
      #expect(wrong.error == "AuthenticationRequired")
      #expect(wrong.message == "Invalid identifier or password")
      let unknown = try await sandbox.post(createSession, json: ["identifier": "bob.bsky.social", "password": "x"])
      #expect(unknown.status == 401 && unknown.error == "AuthenticationRequired")
      let malformed = try await sandbox.postRaw(createSession, body: Array("{not json".utf8), contentType: "application/json")
      #expect(malformed.status == 400 && malformed.error == "InvalidRequest")
      let missing = try await sandbox.post(createSession, json: ["identifier": "alice.bsky.social"])
      #expect(missing.status == 400 && missing.error == "InvalidRequest")
      let wrongType = try await sandbox.post(createSession, json: ["identifier": 5, "password": ["x"]])
      #expect(wrongType.status == 400 && wrongType.error == "InvalidRequest")
    }
  }

  @Test("an account with email 2FA needs authFactorToken")
  func authFactor() async throws {
    try await withSandbox { sandbox in
      let did = sandbox.bluesky.addAccount(handle: "carol.bsky.social", password: "pw", requiresAuthFactor: true)
      let first = try await sandbox.post(createSession, json: ["identifier": "carol.bsky.social", "password": "pw"])
      #expect(first.status == 401)
      #expect(first.error == "AuthFactorTokenRequired")
      #expect(first.message == "A sign in code has been sent to your email address")
      let bad = try await sandbox.post(
        createSession, json: ["identifier": "carol.bsky.social", "password": "pw", "authFactorToken": "WRONG-CODE1"])
      #expect(bad.status == 401)
      let code = try #require(sandbox.bluesky.authFactorToken(did: did))
      let good = try await sandbox.post(
        createSession, json: ["identifier": "carol.bsky.social", "password": "pw", "authFactorToken": code])
      #expect(good.status == 200)
    }
  }

  @Test("createSession is limited to 30 per identifier per 5 minutes of sandbox time")
  func createSessionRateLimit() async throws {
    try await withSandbox { sandbox in
      sandbox.bluesky.addAccount(handle: "alice.bsky.social", password: "pw")
      let start = Int(sandbox.clock.now.timeIntervalSince1970)
      for attempt in 1...30 {
        let reply = try await sandbox.post(createSession, json: ["identifier": "alice.bsky.social", "password": attempt == 3 ? "bad" : "pw"])
        #expect(reply.status == (attempt == 3 ? 401 : 200))
        #expect(reply.header("RateLimit-Remaining") == String(30 - attempt))
      }
      let limited = try await sandbox.post(createSession, json: ["identifier": "ALICE.bsky.social", "password": "pw"])
      #expect(limited.status == 429)
      #expect(limited.error == "RateLimitExceeded")
      #expect(limited.message == "Rate Limit Exceeded")
      #expect(limited.header("RateLimit-Limit") == "30")
      #expect(limited.header("RateLimit-Remaining") == "0")
      #expect(limited.header("RateLimit-Reset") == String(start + 300))
      #expect(limited.header("RateLimit-Policy") == "30;w=300")
      sandbox.clock.advance(by: 299)
      #expect(try await sandbox.post(createSession, json: ["identifier": "alice.bsky.social", "password": "pw"]).status == 429)
      sandbox.clock.advance(by: 1)
      #expect(try await sandbox.post(createSession, json: ["identifier": "alice.bsky.social", "password": "pw"]).status == 200)
      #expect(sandbox.bluesky.createSessionCount(identifier: "alice.bsky.social") == 33)
    }
  }

  @Test("refreshSession rotates both tokens; the old refresh token replays the same session for the 2 h grace")
  func refreshRotationAndGrace() async throws {
    try await withSandbox { sandbox in
      let did = sandbox.bluesky.addAccount(handle: "alice.bsky.social", password: "abcd-efgh-ijkl-mnop")
      let session = try await login(sandbox)
      sandbox.clock.advance(by: 60)
      let first = try await sandbox.post(refreshSession, bearer: session.refresh)
      #expect(first.status == 200)
      let next = try #require(first.json["refreshJwt"] as? String)
      let nextAccess = try #require(first.json["accessJwt"] as? String)
      #expect(next != session.refresh && nextAccess != session.access)
      #expect(first.json["did"] as? String == did && first.json["handle"] as? String == "alice.bsky.social")

      sandbox.clock.advance(by: 3600)
      let replay = try await sandbox.post(refreshSession, bearer: session.refresh)
      #expect(replay.status == 200)
      #expect(replay.json["refreshJwt"] as? String == next)
      #expect(replay.json["accessJwt"] as? String == nextAccess)

      sandbox.clock.advance(by: 3600)  // 2 h after the rotation
      let late = try await sandbox.post(refreshSession, bearer: session.refresh)
      #expect(late.status == 400)
      #expect(late.error == "ExpiredToken")
      #expect(late.message == "Token has been revoked")
      #expect(try await sandbox.post(refreshSession, bearer: next).status == 200)
      #expect(sandbox.bluesky.refreshCount(did: did) == 3)
      #expect(sandbox.bluesky.liveSessionCount(did: did) == 1)
    }
  }

  @Test("refreshSession errors: access token, expired, garbage, missing")
  func refreshErrors() async throws {
    try await withSandbox { sandbox in
      sandbox.bluesky.addAccount(handle: "alice.bsky.social", password: "pw")
      let session = try await login(sandbox, password: "pw")
      let scope = try await sandbox.post(refreshSession, bearer: session.access)
      #expect(scope.status == 400 && scope.error == "InvalidToken" && scope.message == "Bad token scope")
      let garbage = try await sandbox.post(refreshSession, bearer: "not.a.jwt")
      #expect(garbage.status == 400 && garbage.error == "InvalidToken" && garbage.message == "Token could not be verified")
      let missing = try await sandbox.post(refreshSession)
      #expect(missing.status == 401 && missing.error == "AuthMissing")
      sandbox.clock.advance(by: 90 * 86_400)
      let expired = try await sandbox.post(refreshSession, bearer: session.refresh)
      #expect(expired.status == 400 && expired.error == "ExpiredToken" && expired.message == "Token has expired")
    }
  }

  @Test("deleteSession revokes the refresh token; the access JWT stays valid until exp")
  func deleteSessionRevokes() async throws {
    try await withSandbox { sandbox in
      let did = sandbox.bluesky.addAccount(handle: "alice.bsky.social", password: "pw")
      let session = try await login(sandbox, password: "pw")
      #expect(sandbox.bluesky.liveSessionCount(did: did) == 1)
      let deleted = try await sandbox.post(deleteSession, bearer: session.refresh)
      #expect(deleted.status == 200)
      #expect(deleted.body.isEmpty)
      #expect(sandbox.bluesky.liveSessionCount(did: did) == 0)
      let after = try await sandbox.post(refreshSession, bearer: session.refresh)
      #expect(after.status == 400 && after.error == "ExpiredToken" && after.message == "Token has been revoked")
      #expect(try await sandbox.get(getSession, bearer: session.access).status == 200)
      let withAccess = try await sandbox.post(deleteSession, bearer: session.access)
      #expect(withAccess.status == 400 && withAccess.error == "InvalidToken")
    }
  }

  @Test("access tokens expire after 120 minutes of sandbox time and through expireAccessTokens")
  func accessExpiry() async throws {
    try await withSandbox { sandbox in
      let did = sandbox.bluesky.addAccount(handle: "alice.bsky.social", password: "pw")
      let session = try await login(sandbox, password: "pw")
      sandbox.clock.advance(by: 7199)
      #expect(try await sandbox.get(getSession, bearer: session.access).status == 200)
      sandbox.clock.advance(by: 1)
      let expired = try await sandbox.get(getSession, bearer: session.access)
      #expect(expired.status == 400 && expired.error == "ExpiredToken" && expired.message == "Token has expired")

      let fresh = try await login(sandbox, password: "pw")
      #expect(try await sandbox.get(getSession, bearer: fresh.access).status == 200)
      sandbox.bluesky.expireAccessTokens(did: did)
      let forced = try await sandbox.get(getSession, bearer: fresh.access)
      #expect(forced.status == 400 && forced.error == "ExpiredToken" && forced.message == "Token has expired")
      // Refresh still works and its new access token is valid.
      sandbox.clock.advance(by: 1)
      let refreshed = try await sandbox.post(refreshSession, bearer: fresh.refresh)
      let access = try #require(refreshed.json["accessJwt"] as? String)
      #expect(try await sandbox.get(getSession, bearer: access).status == 200)
    }
  }

  @Test("revokeSessions kills every refresh and access token of the DID")
  func revokeSessionsHook() async throws {
    try await withSandbox { sandbox in
      let did = sandbox.bluesky.addAccount(handle: "alice.bsky.social", password: "pw")
      let other = sandbox.bluesky.addAccount(handle: "bob.bsky.social", password: "pw")
      let a = try await login(sandbox, password: "pw")
      let b = try await login(sandbox, password: "pw")
      let bob = try await login(sandbox, "bob.bsky.social", password: "pw")
      sandbox.bluesky.revokeSessions(did: did)
      for session in [a, b] {
        let refresh = try await sandbox.post(refreshSession, bearer: session.refresh)
        #expect(refresh.status == 400 && refresh.error == "ExpiredToken" && refresh.message == "Token has been revoked")
        let access = try await sandbox.get(getSession, bearer: session.access)
        #expect(access.status == 400 && access.error == "InvalidToken")
      }
      #expect(sandbox.bluesky.liveSessionCount(did: did) == 0)
      #expect(sandbox.bluesky.liveSessionCount(did: other) == 1)
      #expect(try await sandbox.get(getSession, bearer: bob.access).status == 200)
      // A new login works again.
      let again = try await login(sandbox, password: "pw")
      #expect(try await sandbox.get(getSession, bearer: again.access).status == 200)
    }
  }

  @Test("authenticated calls: missing, garbage and forged tokens")
  func tokenChecks() async throws {
    try await withSandbox { sandbox in
      sandbox.bluesky.addAccount(handle: "alice.bsky.social", password: "pw")
      let session = try await login(sandbox, password: "pw")
      let missing = try await sandbox.get(getSession)
      #expect(missing.status == 401 && missing.error == "AuthMissing" && missing.message == "Authentication Required")
      let garbage = try await sandbox.get(getSession, bearer: "garbage")
      #expect(garbage.status == 400 && garbage.error == "InvalidToken" && garbage.message == "Token could not be verified")
      var parts = session.access.split(separator: ".").map(String.init)
      parts[2] = String(parts[2].reversed())
      let forged = try await sandbox.get(getSession, bearer: parts.joined(separator: "."))
      #expect(forged.status == 400 && forged.error == "InvalidToken" && forged.message == "Token could not be verified")
      let refreshAsAccess = try await sandbox.get(getSession, bearer: session.refresh)
      #expect(refreshAsAccess.status == 400 && refreshAsAccess.error == "InvalidToken")
      let basic = try await sandbox.get(getSession, headers: [("Authorization", "Basic Zm9vOmJhcg==")])
      #expect(basic.status == 401 && basic.error == "AuthMissing")
    }
  }

  @Test("getSession, getProfile and resolveHandle")
  func profileAndResolve() async throws {
    try await withSandbox { sandbox in
      let did = sandbox.bluesky.addAccount(
        handle: "alice.bsky.social", password: "pw", displayName: "Alice", avatarUrl: "https://cdn.example/a.jpg")
      let plain = sandbox.bluesky.addAccount(handle: "bob.bsky.social", password: "pw")
      let session = try await login(sandbox, password: "pw")
      let me = try await sandbox.get(getSession, bearer: session.access)
      #expect(me.json["did"] as? String == did && me.json["handle"] as? String == "alice.bsky.social")
      #expect(me.json["active"] as? Bool == true)

      for actor in [did, "alice.bsky.social"] {
        let profile = try await sandbox.get("/xrpc/app.bsky.actor.getProfile?actor=\(actor)", bearer: session.access)
        #expect(profile.status == 200)
        #expect(profile.json["did"] as? String == did)
        #expect(profile.json["handle"] as? String == "alice.bsky.social")
        #expect(profile.json["displayName"] as? String == "Alice")
        #expect(profile.json["avatar"] as? String == "https://cdn.example/a.jpg")
      }
      let bob = try await sandbox.get("/xrpc/app.bsky.actor.getProfile?actor=\(plain)", bearer: session.access)
      #expect(bob.status == 200 && bob.json["displayName"] == nil && bob.json["avatar"] == nil)
      let unknown = try await sandbox.get("/xrpc/app.bsky.actor.getProfile?actor=nobody.test", bearer: session.access)
      #expect(unknown.status == 400 && unknown.error == "InvalidRequest")
      let noActor = try await sandbox.get("/xrpc/app.bsky.actor.getProfile", bearer: session.access)
      #expect(noActor.status == 400 && noActor.error == "InvalidRequest")
      #expect(try await sandbox.get("/xrpc/app.bsky.actor.getProfile?actor=\(did)").status == 401)

      let resolved = try await sandbox.get("/xrpc/com.atproto.identity.resolveHandle?handle=alice.bsky.social")
      #expect(resolved.status == 200 && resolved.json["did"] as? String == did)
      let unresolved = try await sandbox.get("/xrpc/com.atproto.identity.resolveHandle?handle=nobody.test")
      #expect(unresolved.status == 400 && unresolved.error == "InvalidRequest" && unresolved.message == "Unable to resolve handle")
    }
  }

  @Test("createRecord stores the post and answers uri + cid")
  func createRecordSuccess() async throws {
    try await withSandbox { sandbox in
      let did = sandbox.bluesky.addAccount(handle: "alice.bsky.social", password: "pw")
      let session = try await login(sandbox, password: "pw")
      // The published test vector from platforms.md §1.6.
      let text = "✨ example mentioning @atproto.com to share the URL 👨‍❤️‍👨 https://en.wikipedia.org/wiki/CBOR."
      let facets: [[String: Any]] = [
        [
          "index": ["byteStart": 23, "byteEnd": 35],
          "features": [["$type": "app.bsky.richtext.facet#mention", "did": "did:plc:ewvi7nxzyoun6zhxrhs64oiz"]],
        ],
        [
          "index": ["byteStart": 74, "byteEnd": 108],
          "features": [["$type": "app.bsky.richtext.facet#link", "uri": "https://en.wikipedia.org/wiki/CBOR"]],
        ],
      ]
      let reply = try await sandbox.post(
        createRecord,
        json: [
          "repo": did, "collection": "app.bsky.feed.post",
          "record": post(text, extra: ["facets": facets, "langs": ["en"]]),
        ], bearer: session.access)
      #expect(reply.status == 200, "\(reply.text)")
      let uri = try #require(reply.json["uri"] as? String)
      #expect(uri.hasPrefix("at://\(did)/app.bsky.feed.post/"))
      #expect(uri.split(separator: "/").last?.count == 13)
      #expect((reply.json["cid"] as? String)?.hasPrefix("bafyrei") == true)

      // By handle, a second post gets a later record key.
      let second = try await sandbox.post(
        createRecord, json: ["repo": "alice.bsky.social", "collection": "app.bsky.feed.post", "record": post("second")],
        bearer: session.access)
      #expect(second.status == 200)
      let posts = sandbox.bluesky.posts(did: did)
      #expect(posts.count == 2)
      #expect(posts[0].uri == uri && posts[0].text == text && posts[0].langs == ["en"])
      #expect(posts[0].facetsJSON?.contains("\"byteStart\":74") == true)
      #expect(posts[1].facetsJSON == nil)
      #expect(posts[0].rkey < posts[1].rkey)
    }
  }

  static func invalidOverride(_ name: String) -> [String: Any] {
    switch name {
    case "repo": return ["repo": "did:plc:someoneelse00000000000000"]
    case "collection": return ["collection": "app.bsky.feed.like"]
    case "type": return ["record": ["text": "x", "createdAt": "2026-01-01T12:00:00Z"]]
    case "graphemes": return ["record": post(String(repeating: "é", count: 301))]
    case "bytes": return ["record": post(String(repeating: "👨‍❤️‍👨", count: 200))]
    case "createdAt missing": return ["record": ["$type": "app.bsky.feed.post", "text": "x"]]
    case "createdAt garbage": return ["record": post("x", createdAt: "yesterday")]
    case "langs": return ["record": post("x", extra: ["langs": ["en", "de", "fr", "es"]])]
    case "facet range": return ["record": post("hello", extra: ["facets": [["index": ["byteStart": 2, "byteEnd": 6], "features": [["$type": "app.bsky.richtext.facet#tag", "tag": "x"]]]]])]
    case "facet boundary": return ["record": post("hi 🚀", extra: ["facets": [["index": ["byteStart": 3, "byteEnd": 5], "features": [["$type": "app.bsky.richtext.facet#tag", "tag": "x"]]]]])]
    case "images": return ["record": post("x", extra: ["embed": ["$type": "app.bsky.embed.images", "images": [[String: Any]]()]])]
    case "record missing": return ["record": "text"]
    default: return [:]
    }
  }

  @Test("createRecord validation failures answer 400 InvalidRequest", arguments: ["repo", "collection", "type", "graphemes", "bytes", "createdAt missing", "createdAt garbage", "langs", "facet range", "facet boundary", "images", "record missing"])
  func createRecordValidation(name: String) async throws {
    let override = Self.invalidOverride(name)
    try await withSandbox { sandbox in
      let did = sandbox.bluesky.addAccount(handle: "alice.bsky.social", password: "pw")
      let session = try await login(sandbox, password: "pw")
      var body: [String: Any] = ["repo": did, "collection": "app.bsky.feed.post", "record": post("ok")]
      for (key, value) in override { body[key] = value }
      let reply = try await sandbox.post(createRecord, json: body, bearer: session.access)
      #expect(reply.status == 400, "\(name): \(reply.text)")
      #expect(reply.error == "InvalidRequest", "\(name)")
      #expect(sandbox.bluesky.posts(did: did).isEmpty)
    }
  }

  @Test("limits at the edge: 300 graphemes and a facet ending at the text end are accepted")
  func createRecordEdges() async throws {
    try await withSandbox { sandbox in
      let did = sandbox.bluesky.addAccount(handle: "alice.bsky.social", password: "pw")
      let session = try await login(sandbox, password: "pw")
      let text = String(repeating: "é", count: 300)
      let facet: [String: Any] = [
        "index": ["byteStart": 598, "byteEnd": 600], "features": [["$type": "app.bsky.richtext.facet#tag", "tag": "e"]],
      ]
      let reply = try await sandbox.post(
        createRecord,
        json: ["repo": did, "collection": "app.bsky.feed.post", "record": post(text, extra: ["facets": [facet], "langs": ["en", "fr", "de"]])],
        bearer: session.access)
      #expect(reply.status == 200, "\(reply.text)")
      let unauthenticated = try await sandbox.post(createRecord, json: ["repo": did])
      #expect(unauthenticated.status == 401 && unauthenticated.error == "AuthMissing")
    }
  }

  @Test("repo writes cost 3 points against the per-DID hourly and daily limits")
  func repoWriteLimits() async throws {
    try await withSandbox { sandbox in
      let did = sandbox.bluesky.addAccount(handle: "alice.bsky.social", password: "pw")
      let session = try await login(sandbox, password: "pw")
      let start = Int(sandbox.clock.now.timeIntervalSince1970)
      let body: [String: Any] = ["repo": did, "collection": "app.bsky.feed.post", "record": post("x")]
      let first = try await sandbox.post(createRecord, json: body, bearer: session.access)
      #expect(first.header("RateLimit-Limit") == "5000")
      #expect(first.header("RateLimit-Remaining") == "4997")
      #expect(first.header("RateLimit-Policy") == "5000;w=3600")

      sandbox.bluesky.setRepoWriteLimits(pointsPerHour: 9, pointsPerDay: 12)
      #expect(try await sandbox.post(createRecord, json: body, bearer: session.access).status == 200)
      let third = try await sandbox.post(createRecord, json: body, bearer: session.access)
      #expect(third.status == 200 && third.header("RateLimit-Remaining") == "0")
      let limited = try await sandbox.post(createRecord, json: body, bearer: session.access)
      #expect(limited.status == 429 && limited.error == "RateLimitExceeded")
      #expect(limited.header("RateLimit-Reset") == String(start + 3600))
      #expect(sandbox.bluesky.posts(did: did).count == 3)

      sandbox.clock.advance(by: 3600)
      #expect(try await sandbox.post(createRecord, json: body, bearer: session.access).status == 200)
      let daily = try await sandbox.post(createRecord, json: body, bearer: session.access)
      #expect(daily.status == 429)
      #expect(daily.header("RateLimit-Policy") == "12;w=86400")
      #expect(daily.header("RateLimit-Reset") == String(start + 86_400))
      #expect(sandbox.bluesky.posts(did: did).count == 4)
    }
  }

  @Test("unknown XRPC methods and wrong HTTP methods")
  func unknownMethods() async throws {
    try await withSandbox { sandbox in
      let unknown = try await sandbox.get("/xrpc/com.example.nothing")
      #expect(unknown.status == 404)
      #expect(unknown.error == "MethodNotImplemented")
      #expect(unknown.message != nil)
      let wrongMethod = try await sandbox.get(createSession)
      #expect(wrongMethod.status == 400 && wrongMethod.error == "InvalidRequest")
    }
  }
}
