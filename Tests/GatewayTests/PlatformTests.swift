import Foundation
import Gateway
import HayonModel
import PlatformSandbox
import Testing

@Suite("platform routes against auth-service and the platform sandbox", .serialized)
struct PlatformTests {
  @Test("Bluesky: connect with an app password, refresh, disconnect", arguments: WireProtocol.allCases)
  func bluesky(wire: WireProtocol) async throws {
    try await withStack { stack in
      let user = try await stack.signUp()
      stack.sandbox.bluesky.addAccount(
        handle: "alice.bsky.social", password: "abcd-efgh-ijkl-mnop", displayName: "Alice <Admin>",
        avatarUrl: "https://cdn.example/alice.png")
      let json = ["Content-Type": "application/json"].merging(bearer(user.access)) { $1 }

      let wrong = try await curl(
        "POST", stack.url("/api/platform/bluesky/connect"), protocol: wire, headers: json,
        body: #"{"identifier":"alice.bsky.social","appPassword":"zzzz-zzzz-zzzz-zzzz"}"#)
      #expect((400..<500).contains(wrong.status), "\(wrong.status) \(wrong.text)")
      #expect(wrong.errorCode != nil)

      let connected = try await curl(
        "POST", stack.url("/api/platform/bluesky/connect"), protocol: wire, headers: json,
        body: #"{"identifier":"alice.bsky.social","appPassword":"abcd-efgh-ijkl-mnop"}"#)
      #expect(connected.status == 200, "\(connected.text)")
      #expect(connected.json?["connected"] as? Bool == true)
      #expect((connected.json?["profile"] as? [String: Any])?["handle"] as? String == "alice.bsky.social")
      #expect(!connected.text.contains("abcd-efgh"))
      #expect(!connected.text.contains("accessJwt"))

      let refreshed = try await curl("GET", stack.url("/api/platform/bluesky/refresh"), protocol: wire, headers: bearer(user.access))
      #expect(refreshed.status == 200, "\(refreshed.text)")
      #expect(refreshed.json?["platform"] as? String == "bluesky")
      #expect((refreshed.json?["health"] as? [String: Any])?["status"] as? String == "active")

      let disconnected = try await curl(
        "DELETE", stack.url("/api/platform/bluesky/disconnect"), protocol: wire, headers: bearer(user.access))
      #expect(disconnected.status == 200, "\(disconnected.text)")
      #expect((disconnected.json?["account"] as? [String: Any])?["connected"] as? Bool == false)
      #expect(disconnected.json?["revoked"] is Bool)

      let notConnected = try await curl(
        "GET", stack.url("/api/platform/bluesky/refresh"), protocol: wire, headers: bearer(user.access))
      #expect(notConnected.status == 409, "\(notConnected.text)")
    }
  }

  @Test("Mastodon: connect URL, the sandbox's consent redirect, callback back to /settings", arguments: WireProtocol.allCases)
  func mastodon(wire: WireProtocol) async throws {
    try await withStack { stack in
      let user = try await stack.signUp()
      _ = stack.sandbox.mastodon.addAccount(username: "alice", displayName: "Alice M")

      func beginAndConsent() async throws -> String {
        let begin = try await curl(
          "GET", stack.url("/api/platform/mastodon/connect"), protocol: wire, headers: bearer(user.access))
        #expect(begin.status == 200, "\(begin.text)")
        let authorize = try #require(begin.json?["url"] as? String)
        #expect(authorize.hasPrefix(stack.sandbox.baseURL + "/oauth/authorize"))
        let consent = try await curl("GET", authorize)
        #expect(consent.status == 302)
        let location = try #require(consent.header("location"))
        return String(location[location.firstIndex(of: "?")!...])
      }

      // The user refuses: back to the page with the reason, nothing connected.
      stack.sandbox.mastodon.denyNextAuthorization()
      let deniedQuery = try await beginAndConsent()
      let denied = try await curl("GET", stack.url("/api/platform/mastodon/callback" + deniedQuery), protocol: wire)
      #expect(denied.status == 302)
      #expect(denied.header("location") == "/settings?error=access_denied")

      let query = try await beginAndConsent()
      let callback = try await curl("GET", stack.url("/api/platform/mastodon/callback" + query), protocol: wire)
      #expect(callback.status == 302, "\(callback.text)")
      #expect(callback.header("location") == "/settings")

      // The state is single use.
      let replay = try await curl("GET", stack.url("/api/platform/mastodon/callback" + query), protocol: wire)
      #expect(replay.status == 302)
      #expect(replay.header("location") == "/settings?error=expired_or_unknown_state")
      let forged = try await curl(
        "GET", stack.url("/api/platform/mastodon/callback?state=\(String(repeating: "A", count: 43))&code=abc"), protocol: wire)
      #expect(forged.header("location") == "/settings?error=expired_or_unknown_state")
      let empty = try await curl("GET", stack.url("/api/platform/mastodon/callback"), protocol: wire)
      #expect(empty.status == 302)
      #expect(empty.header("location")?.hasPrefix("/settings?error=") == true)

      let accounts = try await curl("GET", stack.url("/api/accounts"), protocol: wire, headers: bearer(user.access))
      let mastodon = try #require((accounts.json?["platforms"] as? [[String: Any]])?.first { $0["platform"] as? String == "mastodon" })
      #expect(mastodon["connected"] as? Bool == true)
      #expect((mastodon["profile"] as? [String: Any])?["displayName"] as? String == "Alice M")

      let disconnected = try await curl(
        "DELETE", stack.url("/api/platform/mastodon/disconnect"), protocol: wire, headers: bearer(user.access))
      #expect(disconnected.status == 200)
      #expect(disconnected.json?["revoked"] as? Bool == true, "\(disconnected.text)")
    }
  }

  @Test("callbacks: unavailable platforms redirect with a reason, unknown platforms are 404")
  func callbacks() async throws {
    try await withStack { stack in
      for platform in ["tumblr", "facebook", "instagram", "threads"] {
        let response = try await curl("GET", stack.url("/api/platform/\(platform)/callback?state=s&code=c"))
        #expect(response.status == 302)
        #expect(response.header("location") == "/settings?error=not_available", "\(platform)")
      }
      let unknown = try await curl("GET", stack.url("/api/platform/orkut/callback?state=s&code=c"))
      #expect(unknown.status == 404)
      #expect(unknown.errorCode == "not_found")
      let tooLong = try await curl(
        "GET", stack.url("/api/platform/mastodon/callback?state=\(String(repeating: "a", count: 200))&code=c"))
      #expect(tooLong.header("location") == "/settings?error=invalid_callback")
    }
  }
}
