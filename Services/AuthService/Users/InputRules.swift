import HayonModel
import Foundation
import HayonUsers

/// An email address as the service keys accounts by: trimmed, lower-cased, and checked against
/// a deliberately plain rule (ASCII `local@domain.tld`; no quoted local parts, IP literals or
/// internationalised names).
struct EmailAddress: Sendable, Hashable, CustomStringConvertible {
  let normalized: String

  /// Refuses what cannot be an address, naming the problem but never echoing the input.
  init(_ raw: String) throws(UsersError) {
    // Anything this long cannot trim down to a valid address; refuse before copying it.
    guard raw.utf8.count <= Users.Limits.emailBytes * 4 else { throw Self.tooLong }
    let trimmed = raw.trimmingCharacters(in: .whitespacesAndNewlines)
    guard !trimmed.isEmpty else { throw .invalidArgument("email is required") }
    guard trimmed.utf8.count <= Users.Limits.emailBytes else { throw Self.tooLong }
    guard trimmed.utf8.allSatisfy({ $0 < 0x80 }) else {
      throw .invalidArgument("email must contain only ASCII letters, digits and punctuation")
    }
    let address = trimmed.lowercased()
    let parts = address.utf8.split(separator: UInt8(ascii: "@"), omittingEmptySubsequences: false)
    guard parts.count == 2 else { throw .invalidArgument("email must contain exactly one @") }
    let local = parts[0]
    let domain = parts[1]
    guard !local.isEmpty, !domain.isEmpty else {
      throw .invalidArgument("email needs a name before the @ and a domain after it")
    }
    guard local.count <= Users.Limits.emailLocalPartBytes else {
      throw .invalidArgument("email must have at most \(Users.Limits.emailLocalPartBytes) characters before the @")
    }
    guard Self.isValidLocalPart(local) else {
      throw .invalidArgument("email has characters before the @ that are not allowed")
    }
    guard Self.isValidDomain(domain) else {
      throw .invalidArgument("email must end in a domain name such as example.com")
    }
    normalized = address
  }

  var description: String { normalized }

  private static let tooLong = UsersError.invalidArgument(
    "email must be at most \(Users.Limits.emailBytes) characters")

  /// RFC 5322 dot-atom: atext characters, dots only between them.
  private static func isValidLocalPart(_ bytes: Substring.UTF8View.SubSequence) -> Bool {
    let dot = UInt8(ascii: ".")
    guard bytes.first != dot, bytes.last != dot else { return false }
    var previous: UInt8 = 0
    for byte in bytes {
      if byte == dot && previous == dot { return false }
      guard byte == dot || isAtext(byte) else { return false }
      previous = byte
    }
    return true
  }

  private static func isAtext(_ byte: UInt8) -> Bool {
    switch byte {
    case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"): true
    default: "!#$%&'*+/=?^_`{|}~-".utf8.contains(byte)
    }
  }

  /// Two or more dot-separated labels of 1…63 letters, digits and inner hyphens.
  private static func isValidDomain(_ bytes: Substring.UTF8View.SubSequence) -> Bool {
    let labels = bytes.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
    guard labels.count >= 2 else { return false }
    let hyphen = UInt8(ascii: "-")
    return labels.allSatisfy { label in
      (1...63).contains(label.count) && label.first != hyphen && label.last != hyphen
        && label.allSatisfy { byte in
          byte == hyphen || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
        }
    }
  }
}

/// The password rules. `SignUp` applies all of them; `Login` only the bounds, so a password
/// made under an older policy can still sign in.
enum PasswordPolicy {
  /// Non-empty and within the byte bound: what any password must be before it is hashed.
  static func checkBounds(_ password: String) throws(UsersError) {
    guard !password.isEmpty else { throw .invalidArgument("password is required") }
    guard password.utf8.count <= Users.Limits.passwordMaximumBytes else {
      throw .invalidArgument("password must be at most \(Users.Limits.passwordMaximumBytes) bytes of UTF-8")
    }
  }

  /// The sign-up rule: 8…128 characters (as a person counts them) within 1024 bytes of UTF-8.
  static func checkNewPassword(_ password: String) throws(UsersError) {
    try checkBounds(password)
    let characters = password.count
    guard characters >= Users.Limits.passwordMinimumCharacters else {
      throw .invalidArgument("password must be at least \(Users.Limits.passwordMinimumCharacters) characters")
    }
    guard characters <= Users.Limits.passwordMaximumCharacters else {
      throw .invalidArgument("password must be at most \(Users.Limits.passwordMaximumCharacters) characters")
    }
  }
}

/// Shape checks for tokens and ids arriving in requests. They bound the input; whether a token
/// is genuine is decided later.
enum TokenInput {
  static func checkAccessToken(_ token: String) throws(UsersError) {
    guard !token.isEmpty else { throw .invalidArgument("accessToken is required") }
    guard token.utf8.count <= Users.Limits.accessTokenBytes else {
      throw .invalidArgument("accessToken must be at most \(Users.Limits.accessTokenBytes) bytes")
    }
  }

  static func checkRefreshToken(_ token: String) throws(UsersError) {
    guard !token.isEmpty else { throw .invalidArgument("refreshToken is required") }
    guard token.utf8.count <= Users.Limits.refreshTokenBytes else {
      throw .invalidArgument("refreshToken must be at most \(Users.Limits.refreshTokenBytes) bytes")
    }
  }

  static func checkUserID(_ id: String) throws(UsersError) {
    guard UserID.isValid(id) else {
      throw .invalidArgument("userId must be 1-\(Users.Limits.userIdLength) characters of [A-Za-z0-9_-]")
    }
  }
}
