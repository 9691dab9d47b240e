import Foundation
import Testing

@testable import HayonPlatforms

@Suite("Host policy for user-supplied instance URLs")
struct HostPolicyTests {
  /// A resolver answering from a table, so no test depends on DNS.
  static func policy(_ table: [String: [String]], allow: [String] = []) -> HostPolicy {
    HostPolicy(allowList: allow) { host in table[host]?.compactMap(IPAddress.init) }
  }

  static let publicTable = ["mastodon.social": ["151.101.1.91", "2a04:4e42::347"], "example.social": ["93.184.216.34"]]

  @Test(arguments: [
    ("mastodon.social", "https://mastodon.social"),
    ("https://Mastodon.Social/", "https://mastodon.social"),
    ("  https://mastodon.social:443  ", "https://mastodon.social"),
    ("https://example.social:8443", "https://example.social:8443"),
  ])
  func inputsAreNormalisedToAnOrigin(input: String, origin: String) throws {
    #expect(try Self.policy(Self.publicTable).check(input).absoluteString == origin)
  }

  @Test(arguments: [
    ("", HostPolicy.Refusal.malformed("is empty")),
    ("http://mastodon.social", .notHTTPS),
    ("ftp://mastodon.social", .malformed("must be an https URL")),
    ("https://user:pw@mastodon.social", .malformed("must not contain a user name or password")),
    ("https://mastodon.social/@alice", .malformed("must be the instance's address only, without a path")),
    ("https://mastodon.social/?x=1", .malformed("must not contain a query or fragment")),
    ("https://mastodon .social", .malformed("must be an ASCII URL without spaces (use the punycode form of international names)")),
    ("https://unknown.example", .unresolvable("unknown.example")),
  ])
  func badInputsAreRefused(input: String, refusal: HostPolicy.Refusal) {
    #expect(throws: refusal) { try Self.policy(Self.publicTable).check(input) }
  }

  @Test(arguments: [
    "127.0.0.1", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0",
    "224.0.0.1", "::1", "::", "fe80::1", "fd00::1", "fc00::5", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "64:ff9b::a00:1",
  ])
  func nonPublicAddressesAreRefused(address: String) {
    let policy = Self.policy(["sneaky.example": ["93.184.216.34", address]])
    #expect(throws: HostPolicy.Refusal.nonPublicAddress("sneaky.example")) { try policy.check("https://sneaky.example") }
  }

  @Test func publicAddressesPass() {
    for text in ["8.8.8.8", "151.101.1.91", "172.32.0.1", "2a04:4e42::347", "::ffff:8.8.8.8"] {
      #expect(IPAddress(text)?.isPublic == true, "\(text)")
    }
  }

  @Test func theAllowListAdmitsLoopbackAndHTTP() throws {
    let policy = Self.policy([:], allow: ["127.0.0.1:8090", "sandbox.local"])
    #expect(try policy.check("http://127.0.0.1:8090").absoluteString == "http://127.0.0.1:8090")
    #expect(try policy.check("http://sandbox.local").absoluteString == "http://sandbox.local")
    #expect(throws: HostPolicy.Refusal.notHTTPS) { try policy.check("http://127.0.0.1:8091") }
  }

  @Test func realResolutionOfLoopbackIsRefused() {
    #expect(throws: HostPolicy.Refusal.nonPublicAddress("localhost")) { try HostPolicy().check("https://localhost") }
  }

  @Test func formEncodingKeepsOnlyUnreservedCharacters() {
    #expect(FormEncoding.encode([("a b", "x&y=z"), ("é", "~._-")]) == "a%20b=x%26y%3Dz&%C3%A9=~._-")
  }
}
