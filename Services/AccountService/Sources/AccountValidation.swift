import Foundation
import HayonAccount
import HayonModel
import HayonRPC

/// Checks every request field against `Accounts.Limits` before anything is read or written.
/// A failure is `INVALID_ARGUMENT` naming the field and what it must be; messages never quote
/// the value (it could be anything, including something a caller should not have sent).
enum AccountValidation {
  static func invalid(_ message: String) -> RPCError { RPCError(.invalidArgument, message) }

  // MARK: Requests

  static func validate(_ request: Accounts.MarkConnectedRequest) throws(RPCError) {
    try validateUserId(request.userId)
    try validateIdentifier(request.platformId, field: "platformId", allowing: .text)
    try validate(request.profile)
    try validate(request.platformFields, for: request.platform)
  }

  static func validate(_ request: Accounts.RecordHealthEventRequest) throws(RPCError) {
    try validateUserId(request.userId)
    if case .error(let message) = request.event {
      guard !message.trimmingSpaces.isEmpty else { throw invalid("event.message must not be empty") }
      guard message.count <= Accounts.Limits.errorMessageLength else {
        throw invalid("event.message must be at most \(Accounts.Limits.errorMessageLength) characters")
      }
    }
  }

  /// The page size to use.
  static func validate(_ request: Accounts.ListNeedingReconnectionRequest) throws(RPCError) -> Int {
    let size = request.pageSize ?? Accounts.Limits.defaultPageSize
    guard (1...Accounts.Limits.maximumPageSize).contains(size) else {
      throw invalid("pageSize must be between 1 and \(Accounts.Limits.maximumPageSize)")
    }
    if let token = request.pageToken {
      guard !token.isEmpty, token.utf8.count <= 1024 else { throw invalid("pageToken is not a valid page token") }
    }
    return size
  }

  // MARK: Fields

  /// 1…64 characters of `[A-Za-z0-9_-]`.
  static func validateUserId(_ userId: String) throws(RPCError) {
    guard UserID.isValid(userId) else {
      throw invalid("userId must be 1 to \(Accounts.Limits.userIdLength) characters of A-Z, a-z, 0-9, '_' and '-'")
    }
  }

  static func validate(_ profile: Accounts.Profile, field: String = "profile") throws(RPCError) {
    if let displayName = profile.displayName {
      try validateText(displayName, field: "\(field).displayName", maximum: Accounts.Limits.displayNameLength, allowEmpty: true)
    }
    try validateText(profile.handle, field: "\(field).handle", maximum: Accounts.Limits.handleLength, allowEmpty: false)
    if let avatarUrl = profile.avatarUrl {
      try validateURL(avatarUrl, field: "\(field).avatarUrl", originOnly: false)
    }
  }

  /// Exactly the platform's own fields, each well-formed.
  static func validate(_ fields: Accounts.PlatformFields, for platform: Platform) throws(RPCError) {
    let wanted = Accounts.PlatformFields.fieldNames(for: platform)
    let present = fields.setFields
    if let extra = present.first(where: { !wanted.contains($0.name) }) {
      throw invalid("platformFields.\(extra.name) does not apply to \(platform)")
    }
    for name in wanted where !present.contains(where: { $0.name == name }) {
      throw invalid("platformFields.\(name) is required for \(platform)")
    }
    for (name, value) in present {
      let field = "platformFields.\(name)"
      switch name {
      case "did": try validateDID(value, field: field)
      case "pdsUrl", "instanceUrl": try validateURL(value, field: field, originOnly: true)
      // blog, accountId, facebookPageId: each ends up in a platform URL path.
      default: try validateIdentifier(value, field: field, allowing: .pathSegment)
      }
    }
  }

  enum IdentifierKind {
    /// Any printable text without control characters.
    case text
    /// `[A-Za-z0-9._:-]`: safe inside a URL path segment (`/v2/blog/{blog}/posts`).
    case pathSegment
  }

  static func validateIdentifier(_ value: String, field: String, allowing kind: IdentifierKind) throws(RPCError) {
    let limit = Accounts.Limits.identifierLength
    switch kind {
    case .text:
      try validateText(value, field: field, maximum: limit, allowEmpty: false)
    case .pathSegment:
      let bytes = value.utf8
      guard !bytes.isEmpty, bytes.count <= limit, bytes.allSatisfy({ CharacterClass.pathSegment.contains($0) }) else {
        throw invalid("\(field) must be 1 to \(limit) characters of A-Z, a-z, 0-9, '.', '_', ':' and '-'")
      }
    }
  }

  /// At most `maximum` characters, no control characters, not only spaces.
  static func validateText(_ value: String, field: String, maximum: Int, allowEmpty: Bool) throws(RPCError) {
    if value.isEmpty {
      if allowEmpty { return }
      throw invalid("\(field) must not be empty")
    }
    guard value.count <= maximum else { throw invalid("\(field) must be at most \(maximum) characters") }
    guard !value.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
      throw invalid("\(field) must not contain control characters")
    }
    guard !value.trimmingSpaces.isEmpty else { throw invalid("\(field) must not be blank") }
  }

  /// `did:<method>:<id>` with a lower-case method and `[A-Za-z0-9._:%-]` id (the W3C DID syntax).
  static func validateDID(_ value: String, field: String) throws(RPCError) {
    let parts = value.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
    guard value.utf8.count <= Accounts.Limits.identifierLength, parts.count == 3, parts[0] == "did",
      !parts[1].isEmpty, parts[1].utf8.allSatisfy({ CharacterClass.lowercaseAlphanumeric.contains($0) }),
      !parts[2].isEmpty, parts[2].utf8.allSatisfy({ CharacterClass.didIdentifier.contains($0) }),
      parts[2].last != ":"
    else {
      throw invalid("\(field) must be a DID such as did:plc:abc123 (at most \(Accounts.Limits.identifierLength) characters)")
    }
  }

  /// An absolute `http`/`https` URL with a host and no user info; `originOnly` also refuses a
  /// path, query or fragment (instance and PDS base URLs).
  static func validateURL(_ value: String, field: String, originOnly: Bool) throws(RPCError) {
    let limit = Accounts.Limits.urlLength
    let what = originOnly ? "an http(s) URL with a host and no path, query or fragment" : "an http(s) URL"
    guard value.utf8.count <= limit else { throw invalid("\(field) must be \(what) of at most \(limit) characters") }
    guard value.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }), let components = URLComponents(string: value),
      let scheme = components.scheme?.lowercased(), scheme == "http" || scheme == "https",
      let host = components.host, !host.isEmpty, components.user == nil, components.password == nil
    else {
      throw invalid("\(field) must be \(what)")
    }
    if originOnly {
      guard components.path.isEmpty || components.path == "/", components.query == nil, components.fragment == nil else {
        throw invalid("\(field) must be \(what)")
      }
    }
  }
}

/// Byte classes for the ASCII-only identifiers.
struct CharacterClass {
  private let allowed: Set<UInt8>
  private init(_ characters: String) { allowed = Set(characters.utf8) }

  func contains(_ byte: UInt8) -> Bool { allowed.contains(byte) }

  private static let alphanumeric = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
  static let pathSegment = CharacterClass(alphanumeric + "._:-")
  static let lowercaseAlphanumeric = CharacterClass("abcdefghijklmnopqrstuvwxyz0123456789")
  static let didIdentifier = CharacterClass(alphanumeric + "._:%-")
}
