import AccountService
import Foundation
import HayonAccount
import HayonModel
import HayonRPC
import Testing

@Suite("SocialAccount documents and messages")
struct DocumentTests {
  @Test("a user with nothing connected has all six platforms, not connected, in order")
  func emptyDocument() {
    let account = Accounts.SocialAccount.empty(userId: "u1")
    #expect(account.userId == "u1")
    #expect(account.platforms.map(\.platform) == Platform.allCases)
    for platform in account.platforms {
      #expect(platform == .notConnected(platform.platform))
      #expect(!platform.connected)
      #expect(platform.platformId == nil && platform.profile == nil && platform.health == nil)
      #expect(platform.platformFields == nil && platform.connectedAt == nil)
      #expect(!platform.needsReconnection)
    }
  }

  @Test("normalized fills missing platforms and orders them")
  func normalized() {
    var partial = Accounts.SocialAccount(userId: "u1", platforms: [.notConnected(.mastodon)])
    partial.platforms[0].platformId = "m"
    let normal = partial.normalized
    #expect(normal.platforms.map(\.platform) == Platform.allCases)
    #expect(normal[.mastodon].platformId == "m")
  }

  @Test("the JSON of a not-connected platform has only platform and connected")
  func notConnectedJSON() throws {
    let bytes = try JSONMessageCodec().encode(Accounts.PlatformAccount.notConnected(.bluesky))
    #expect(String(decoding: bytes, as: UTF8.self) == #"{"platform":"bluesky","connected":false}"#)
  }

  @Test("timestamps are ISO 8601 UTC with milliseconds and round-trip exactly")
  func timestamps() throws {
    let stamp = Timestamp(millisecondsSince1970: 1_796_000_000_123)
    #expect(stamp.iso8601 == "2026-11-30T00:53:20.123Z")
    #expect(Timestamp(iso8601: "2026-11-30T00:53:20.123Z") == stamp)
    #expect(Timestamp(iso8601: "2026-11-30T01:53:20.123+01:00") == stamp)
    #expect(Timestamp(iso8601: "2026-11-30T00:53:20Z") == Timestamp(millisecondsSince1970: 1_796_000_000_000))
    #expect(Timestamp(millisecondsSince1970: 5).iso8601 == "1970-01-01T00:00:00.005Z")
    #expect(Timestamp(iso8601: "2026-11-30T00:53:20") == nil, "no offset names no instant")
    #expect(Timestamp(iso8601: "yesterday") == nil)
    let bytes = try JSONMessageCodec().encode(stamp)
    #expect(String(decoding: bytes, as: UTF8.self) == #""2026-11-30T00:53:20.123Z""#)
    #expect(try JSONMessageCodec().decode(Timestamp.self, from: bytes) == stamp)
  }

  @Test("health events encode as kind plus message", arguments: [
    (Accounts.HealthEvent.success, #"{"kind":"success"}"#),
    (.authExpired, #"{"kind":"authExpired"}"#),
    (.authRevoked, #"{"kind":"authRevoked"}"#),
    (.error(message: "HTTP 503"), #"{"kind":"error","message":"HTTP 503"}"#),
  ])
  func eventCoding(event: Accounts.HealthEvent, json: String) throws {
    let codec = JSONMessageCodec()
    #expect(String(decoding: try codec.encode(event), as: UTF8.self) == json)
    #expect(try codec.decode(Accounts.HealthEvent.self, from: Array(json.utf8)) == event)
  }

  @Test("malformed health events are INVALID_ARGUMENT naming the field", arguments: [
    (#"{"kind":"error"}"#, "missing field 'message'"),
    (#"{"kind":"success","message":"x"}"#, "invalid value at 'message': only error events carry a message"),
    (#"{"kind":"exploded"}"#, "invalid value at 'kind'"),
  ])
  func malformedEvents(json: String, expected: String) {
    do {
      _ = try JSONMessageCodec().decode(Accounts.HealthEvent.self, from: Array(json.utf8))
      Issue.record("decoded \(json)")
    } catch {
      #expect(error.code == .invalidArgument)
      #expect(error.message.hasPrefix(expected), "\(error.message)")
    }
  }

  @Test("platform fields name exactly each platform's own fields")
  func fieldNames() {
    for platform in Platform.allCases {
      let sample = Sample.fields(for: platform)
      #expect(sample.setFields.map(\.name) == Accounts.PlatformFields.fieldNames(for: platform))
    }
  }

  @Test("method descriptors: paths and idempotency")
  func descriptors() {
    typealias M = Accounts.Method
    let all: [(MethodDescriptor, Bool)] = [
      (M.GetAccount.descriptor, true), (M.MarkConnected.descriptor, true), (M.MarkDisconnected.descriptor, true),
      (M.UpdateProfile.descriptor, true), (M.RecordHealthEvent.descriptor, false),
      (M.ListNeedingReconnection.descriptor, true),
    ]
    #expect(all.map(\.0.path) == [
      "/hayon.account.v1.AccountService/GetAccount", "/hayon.account.v1.AccountService/MarkConnected",
      "/hayon.account.v1.AccountService/MarkDisconnected", "/hayon.account.v1.AccountService/UpdateProfile",
      "/hayon.account.v1.AccountService/RecordHealthEvent", "/hayon.account.v1.AccountService/ListNeedingReconnection",
    ])
    for (descriptor, idempotent) in all { #expect(descriptor.isIdempotent == idempotent, "\(descriptor)") }
  }
}
