public import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Which hosts a user may point Hayon at (a Mastodon instance today; any user-supplied platform
/// URL later). Without it a user could make auth-service call into the deployment's own network.
///
/// The rule: `https` only, no user info, path, query or fragment; and every address the name
/// resolves to must be public: not loopback, private (RFC 1918, unique-local), link-local,
/// carrier-grade NAT, unspecified, multicast or reserved. Hosts on `allowList` (exact
/// `host` or `host:port`, compared lowercased) skip the address check and may use `http`; tests
/// and the local run list the sandbox there.
///
/// The check happens before the first request; a name whose DNS answer changes afterwards
/// (rebinding) is not re-checked per request, which a deployment that cares closes with an
/// egress proxy.
public struct HostPolicy: Sendable {
  public var allowList: Set<String>
  public var resolver: @Sendable (String) -> [IPAddress]?

  public init(allowList: some Sequence<String> = [], resolver: @escaping @Sendable (String) -> [IPAddress]? = HostPolicy.resolve) {
    self.allowList = Set(allowList.map { $0.lowercased() })
    self.resolver = resolver
  }

  public enum Refusal: Error, Sendable, Hashable, CustomStringConvertible {
    case malformed(String)
    case notHTTPS
    case unresolvable(String)
    case nonPublicAddress(String)

    public var description: String {
      switch self {
      case .malformed(let why): why
      case .notHTTPS: "must use https"
      case .unresolvable(let host): "\(host) could not be resolved"
      case .nonPublicAddress(let host): "\(host) is not a public internet address"
      }
    }
  }

  /// The normalised origin (`https://mastodon.social`, lowercased, no trailing slash, default
  /// port dropped) of a user's input: a bare host (`mastodon.social`) means https.
  public static func normaliseOrigin(_ input: String, maximumLength: Int = 2048) throws(Refusal) -> URL {
    let trimmed = input.trimmingCharacters(in: .whitespacesAndNewlines)
    guard !trimmed.isEmpty else { throw .malformed("is empty") }
    guard trimmed.utf8.count <= maximumLength else { throw .malformed("is longer than \(maximumLength) characters") }
    guard trimmed.unicodeScalars.allSatisfy({ $0.isASCII && $0.value > 0x20 && $0.value != 0x7F }) else {
      throw .malformed("must be an ASCII URL without spaces (use the punycode form of international names)")
    }
    let withScheme = trimmed.contains("://") ? trimmed : "https://\(trimmed)"
    guard let components = URLComponents(string: withScheme), let scheme = components.scheme?.lowercased(),
      let host = components.host?.lowercased(), !host.isEmpty
    else { throw .malformed("is not a valid URL") }
    guard scheme == "https" || scheme == "http" else { throw .malformed("must be an https URL") }
    guard components.user == nil, components.password == nil else { throw .malformed("must not contain a user name or password") }
    guard components.path.isEmpty || components.path == "/" else { throw .malformed("must be the instance's address only, without a path") }
    guard components.query == nil, components.fragment == nil else { throw .malformed("must not contain a query or fragment") }
    guard host.utf8.allSatisfy({ isHostByte($0) }) else { throw .malformed("has an invalid host name") }
    var origin = "\(scheme)://\(host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host)"
    if let port = components.port {
      guard (1...65535).contains(port) else { throw .malformed("has an invalid port") }
      if !(scheme == "https" && port == 443) && !(scheme == "http" && port == 80) { origin += ":\(port)" }
    }
    guard let url = URL(string: origin) else { throw .malformed("is not a valid URL") }
    return url
  }

  /// An origin as stored and shown (`https://mastodon.social`): no trailing slash.
  public static func originText(_ url: URL) -> String {
    var text = url.absoluteString
    while text.hasSuffix("/") { text.removeLast() }
    return text
  }

  /// Normalises `input` and checks it against the rule.
  public func check(_ input: String) throws(Refusal) -> URL {
    let origin = try Self.normaliseOrigin(input)
    try check(origin: origin)
    return origin
  }

  /// Checks an already normalised origin.
  public func check(origin: URL) throws(Refusal) {
    guard let host = origin.host?.lowercased() else { throw .malformed("is not a valid URL") }
    let bareHost = host.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
    if isAllowListed(origin) { return }
    guard origin.scheme == "https" else { throw .notHTTPS }
    guard let addresses = resolver(bareHost), !addresses.isEmpty else { throw .unresolvable(bareHost) }
    guard addresses.allSatisfy(\.isPublic) else { throw .nonPublicAddress(bareHost) }
  }

  public func isAllowListed(_ origin: URL) -> Bool {
    guard let host = origin.host?.lowercased() else { return false }
    if allowList.contains(host) { return true }
    if let port = origin.port, allowList.contains("\(host):\(port)") { return true }
    return false
  }

  private static func isHostByte(_ byte: UInt8) -> Bool {
    switch byte {
    case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"),
      UInt8(ascii: "."), UInt8(ascii: ":"), UInt8(ascii: "["), UInt8(ascii: "]"), UInt8(ascii: "_"):
      true
    default: false
    }
  }

  /// Every address `host` resolves to (A and AAAA), or nil when it does not resolve.
  @Sendable public static func resolve(_ host: String) -> [IPAddress]? {
    var hints = addrinfo()
    hints.ai_family = AF_UNSPEC
    hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
    var result: UnsafeMutablePointer<addrinfo>?
    guard getaddrinfo(host, nil, &hints, &result) == 0, let first = result else { return nil }
    defer { freeaddrinfo(first) }
    var addresses: [IPAddress] = []
    var cursor: UnsafeMutablePointer<addrinfo>? = first
    while let entry = cursor {
      if let address = entry.pointee.ai_addr {
        switch Int32(address.pointee.sa_family) {
        case AF_INET:
          address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { pointer in
            let raw = UInt32(bigEndian: pointer.pointee.sin_addr.s_addr)
            addresses.append(.v4([UInt8(raw >> 24), UInt8((raw >> 16) & 0xFF), UInt8((raw >> 8) & 0xFF), UInt8(raw & 0xFF)]))
          }
        case AF_INET6:
          address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { pointer in
            var bytes = [UInt8](repeating: 0, count: 16)
            withUnsafeBytes(of: pointer.pointee.sin6_addr) { raw in
              for index in 0..<16 { bytes[index] = raw[index] }
            }
            addresses.append(.v6(bytes))
          }
        default:
          break
        }
      }
      cursor = entry.pointee.ai_next
    }
    return addresses
  }
}

/// An IPv4 or IPv6 address as bytes, and whether it is reachable on the public internet.
public enum IPAddress: Sendable, Hashable {
  case v4([UInt8])
  case v6([UInt8])

  /// Parses dotted IPv4 or textual IPv6.
  public init?(_ text: String) {
    var v4 = in_addr()
    if inet_pton(AF_INET, text, &v4) == 1 {
      let raw = UInt32(bigEndian: v4.s_addr)
      self = .v4([UInt8(raw >> 24), UInt8((raw >> 16) & 0xFF), UInt8((raw >> 8) & 0xFF), UInt8(raw & 0xFF)])
      return
    }
    var v6 = in6_addr()
    if inet_pton(AF_INET6, text, &v6) == 1 {
      var bytes = [UInt8](repeating: 0, count: 16)
      withUnsafeBytes(of: v6) { raw in for index in 0..<16 { bytes[index] = raw[index] } }
      self = .v6(bytes)
      return
    }
    return nil
  }

  public var isPublic: Bool {
    switch self {
    case .v4(let b):
      guard b.count == 4 else { return false }
      if b[0] == 0 || b[0] == 10 || b[0] == 127 { return false }  // this network, private, loopback
      if b[0] == 100 && (64...127).contains(b[1]) { return false }  // carrier-grade NAT
      if b[0] == 169 && b[1] == 254 { return false }  // link-local (cloud metadata lives here)
      if b[0] == 172 && (16...31).contains(b[1]) { return false }
      if b[0] == 192 && b[1] == 168 { return false }
      if b[0] == 192 && b[1] == 0 && (b[2] == 0 || b[2] == 2) { return false }  // IETF, TEST-NET-1
      if b[0] == 198 && (b[1] == 18 || b[1] == 19) { return false }  // benchmarking
      if b[0] == 198 && b[1] == 51 && b[2] == 100 { return false }
      if b[0] == 203 && b[1] == 0 && b[2] == 113 { return false }
      if b[0] >= 224 { return false }  // multicast, reserved, broadcast
      return true
    case .v6(let b):
      guard b.count == 16 else { return false }
      if b[0..<15].allSatisfy({ $0 == 0 }) { return false }  // :: and ::1
      if b[0..<10].allSatisfy({ $0 == 0 }) && b[10] == 0xFF && b[11] == 0xFF {  // IPv4-mapped
        return IPAddress.v4(Array(b[12..<16])).isPublic
      }
      if b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xFF && b[3] == 0x9B {  // NAT64 embeds IPv4
        return IPAddress.v4(Array(b[12..<16])).isPublic
      }
      if b[0] & 0xFE == 0xFC { return false }  // unique local fc00::/7
      if b[0] == 0xFE && b[1] & 0xC0 == 0x80 { return false }  // link-local fe80::/10
      if b[0] == 0xFE && b[1] & 0xC0 == 0xC0 { return false }  // site-local (deprecated)
      if b[0] == 0xFF { return false }  // multicast
      if b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0D && b[3] == 0xB8 { return false }  // documentation
      return true
    }
  }
}
