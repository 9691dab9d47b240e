/// The internal bearer credential services present to each other.
public struct BearerCredential: Sendable, Hashable {
  let headerValue: [UInt8]

  public init?(token: String) {
    guard !token.isEmpty, token.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { return nil }
    headerValue = Array("Bearer \(token)".utf8)
  }

  var authorizationHeader: String { String(decoding: headerValue, as: UTF8.self) }

  /// Compares in time independent of where the first difference is.
  func matches(_ presented: String?) -> Bool {
    guard var presented else { return false }
    return presented.withUTF8 { matches(UnsafeRawBufferPointer($0)) }
  }

  /// The same comparison on the header value's bytes.
  func matches(_ bytes: UnsafeRawBufferPointer) -> Bool {
    // Every byte of the expected value is compared whatever the input, so timing reveals
    // neither where a guess went wrong nor (beyond its own length) how long the token is.
    var difference: UInt8 = 0
    for index in 0..<headerValue.count {
      let other = index < bytes.count ? bytes[index] : 0
      difference |= headerValue[index] ^ other
    }
    return difference == 0 && bytes.count == headerValue.count
  }
}
