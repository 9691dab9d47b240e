import Foundation
import Gateway
import PlatformSandbox
import Testing

@Suite("posts routes over the publish contract", .serialized)
struct PostsTests {
  @Test("create, list, get, patch, cancel, retry; someone else's post is 404", arguments: [WireProtocol.http1, .h2PriorKnowledge])
  func lifecycle(wire: WireProtocol) async throws {
    try await withStack { stack in
      let alice = try await stack.signUp()
      let bob = try await stack.signUp()
      let json = ["Content-Type": "application/json"]
      let created = try await curl(
        "POST", stack.url("/api/posts"), protocol: wire,
        headers: json.merging(bearer(alice.access)) { $1 }.merging(["Idempotency-Key": "k-1", "X-Request-Id": "post-req"]) { $1 },
        body: #"{"text":"hello","platforms":["bluesky","mastodon"],"scheduledAt":"2030-01-01T10:00:00+01:00","timeZone":"Europe/Berlin"}"#)
      #expect(created.status == 201, "\(created.text)")
      let id = try #require(created.json?["id"] as? String)
      #expect((created.json?["targets"] as? [[String: Any]])?.count == 2)
      #expect(stack.recorder.all.contains { $0.method == "Posts.CreatePost" && $0.requestId == "post-req" })

      let list = try await curl("GET", stack.url("/api/posts?status=scheduled&pageSize=10"), protocol: wire, headers: bearer(alice.access))
      #expect(list.status == 200)
      #expect((list.json?["posts"] as? [[String: Any]])?.count == 1)

      let got = try await curl("GET", stack.url("/api/posts/\(id)"), protocol: wire, headers: bearer(alice.access))
      #expect(got.status == 200)
      #expect(got.json?["text"] as? String == "hello")

      // Someone else's post: 404, exactly like a missing one.
      let stolen = try await curl("GET", stack.url("/api/posts/\(id)"), protocol: wire, headers: bearer(bob.access))
      #expect(stolen.status == 404)
      #expect(stolen.errorCode == "not_found")
      let stolenPatch = try await curl(
        "PATCH", stack.url("/api/posts/\(id)"), protocol: wire, headers: json.merging(bearer(bob.access)) { $1 },
        body: #"{"text":"mine now"}"#)
      #expect(stolenPatch.status == 404)
      let missing = try await curl("GET", stack.url("/api/posts/post_999"), protocol: wire, headers: bearer(alice.access))
      #expect(missing.status == 404)

      let patched = try await curl(
        "PATCH", stack.url("/api/posts/\(id)"), protocol: wire, headers: json.merging(bearer(alice.access)) { $1 },
        body: #"{"text":"hello again"}"#)
      #expect(patched.status == 200)
      #expect(patched.json?["text"] as? String == "hello again")

      let retry = try await curl("POST", stack.url("/api/posts/\(id)/retry"), protocol: wire, headers: bearer(alice.access))
      #expect(retry.status == 409, "\(retry.text)")
      #expect(retry.errorCode == "failed_precondition")

      let cancelOne = try await curl(
        "POST", stack.url("/api/posts/\(id)/cancel"), protocol: wire, headers: json.merging(bearer(alice.access)) { $1 },
        body: #"{"platforms":["bluesky"]}"#)
      #expect(cancelOne.status == 200)
      let cancelled = try await curl("POST", stack.url("/api/posts/\(id)/cancel"), protocol: wire, headers: bearer(alice.access))
      #expect(cancelled.status == 200)
      #expect(cancelled.json?["status"] as? String == "cancelled")
    }
  }

  @Test("bad post input is 400 and never reaches publish-service")
  func badInput() async throws {
    try await withStack { stack in
      let user = try await stack.signUp()
      stack.recorder.reset()
      let headers = ["Content-Type": "application/json"].merging(bearer(user.access)) { $1 }
      let cases: [(String, String, String?)] = [
        ("POST", "/api/posts", #"{"text":"x","platforms":["myspace"]}"#),
        ("POST", "/api/posts", #"{"platforms":["bluesky"]}"#),
        ("POST", "/api/posts", #"{"text":"x","platforms":["bluesky"],"overrides":{"orkut":"y"}}"#),
        ("POST", "/api/posts", "{\"text\":\"\(String(repeating: "a", count: 20_001))\",\"platforms\":[\"bluesky\"]}"),
        ("POST", "/api/posts", #"{"text":"x","platforms":"bluesky"}"#),
        ("POST", "/api/posts", "not json"),
        ("GET", "/api/posts?status=sideways", nil),
        ("GET", "/api/posts?pageSize=0", nil),
        ("GET", "/api/posts?pageSize=1000", nil),
        ("GET", "/api/posts?pageSize=1&pageSize=2", nil),
        ("PATCH", "/api/posts/p1", #"{"timeZone":"\#(String(repeating: "Z", count: 65))"}"#),
        ("POST", "/api/posts/p1/cancel", #"{"platforms":["bluesky","bluesky","bluesky","bluesky","bluesky","bluesky","bluesky"]}"#),
      ]
      for (method, path, body) in cases {
        let response = try await curl(method, stack.url(path), headers: headers, body: body)
        #expect(response.status == 400, "\(method) \(path): \(response.status) \(response.text)")
        #expect(response.errorCode == "invalid_argument")
      }
      // An unknown platform is named, bounded, with the known ones listed.
      let long = String(repeating: "x", count: 100)
      let unknown = try await curl(
        "POST", stack.url("/api/posts"), headers: headers, body: #"{"text":"x","platforms":["bluesky","\#(long)"]}"#)
      #expect(unknown.status == 400)
      #expect(
        unknown.errorMessage
          == "invalid value at 'platforms.[1]': unknown platform '\(String(repeating: "x", count: 32))…'; known: "
          + "bluesky, tumblr, facebook, instagram, threads, mastodon")
      let wrongType = try await curl(
        "POST", stack.url("/api/posts"), headers: bearer(user.access).merging(["Content-Type": "text/plain"]) { $1 },
        body: #"{"text":"x","platforms":["bluesky"]}"#)
      #expect(wrongType.status == 415)
      let badId = try await curl("GET", stack.url("/api/posts/has%20space"), headers: bearer(user.access))
      #expect(badId.status == 404)
      #expect(stack.recorder.all.filter { $0.method.hasPrefix("Posts.") }.isEmpty, "\(stack.recorder.all.map(\.method))")
    }
  }
}

@Suite("posts routes against publish-service's PostsService", .serialized)
struct RealPublishTests {
  @Test("create for a connected platform, text rules, not-connected platform, ownership, edit, cancel", arguments: [WireProtocol.http1, .h2PriorKnowledge])
  func realService(wire: WireProtocol) async throws {
    try await withStack(realPublish: true) { stack in
      let alice = try await stack.signUp()
      let bob = try await stack.signUp()
      stack.sandbox.bluesky.addAccount(handle: "alice.bsky.social", password: "abcd-efgh-ijkl-mnop")
      let json = ["Content-Type": "application/json"].merging(bearer(alice.access)) { $1 }
      let connected = try await curl(
        "POST", stack.url("/api/platform/bluesky/connect"), protocol: wire, headers: json,
        body: #"{"identifier":"alice.bsky.social","appPassword":"abcd-efgh-ijkl-mnop"}"#)
      #expect(connected.status == 200, "\(connected.text)")

      let formatter = ISO8601DateFormatter()
      let later = formatter.string(from: Date().addingTimeInterval(30 * 86_400))
      let created = try await curl(
        "POST", stack.url("/api/posts"), protocol: wire, headers: json,
        body: #"{"text":"hello from the gateway","platforms":["bluesky"],"scheduledAt":"\#(later)","timeZone":"Europe/Berlin"}"#)
      #expect(created.status == 201, "\(created.text)")
      let id = try #require(created.json?["id"] as? String)
      #expect(created.json?["status"] as? String == "scheduled")

      let tooLong = try await curl(
        "POST", stack.url("/api/posts"), protocol: wire, headers: json,
        body: "{\"text\":\"\(String(repeating: "é", count: 301))\",\"platforms\":[\"bluesky\"]}")
      #expect(tooLong.status == 400, "\(tooLong.text)")
      let noOffset = try await curl(
        "POST", stack.url("/api/posts"), protocol: wire, headers: json,
        body: #"{"text":"x","platforms":["bluesky"],"scheduledAt":"2030-06-01T12:00:00"}"#)
      #expect(noOffset.status == 400, "\(noOffset.text)")
      let notConnected = try await curl(
        "POST", stack.url("/api/posts"), protocol: wire, headers: json, body: #"{"text":"x","platforms":["mastodon"]}"#)
      #expect(notConnected.status == 409, "\(notConnected.text)")

      let foreign = try await curl("GET", stack.url("/api/posts/\(id)"), protocol: wire, headers: bearer(bob.access))
      #expect(foreign.status == 404)
      let mine = try await curl("GET", stack.url("/api/posts"), protocol: wire, headers: bearer(alice.access))
      #expect((mine.json?["posts"] as? [[String: Any]])?.count == 1)
      let theirs = try await curl("GET", stack.url("/api/posts"), protocol: wire, headers: bearer(bob.access))
      #expect((theirs.json?["posts"] as? [[String: Any]])?.isEmpty == true)

      let edited = try await curl(
        "PATCH", stack.url("/api/posts/\(id)"), protocol: wire, headers: json, body: #"{"text":"edited"}"#)
      #expect(edited.status == 200, "\(edited.text)")
      #expect(edited.json?["text"] as? String == "edited")
      let cancelled = try await curl("POST", stack.url("/api/posts/\(id)/cancel"), protocol: wire, headers: bearer(alice.access))
      #expect(cancelled.status == 200, "\(cancelled.text)")
      #expect(cancelled.json?["status"] as? String == "cancelled")
    }
  }
}
