public import Foundation

/// The claims of a Hayon signed token. JSON names are the JWT ones (`sub`, `iat`, `exp`, `jti`,
/// `typ`); times are whole seconds since 1970 (JWT NumericDate).
public struct TokenClaims: Codable, Sendable, Hashable {
  /// `sub`: the user id.
  public var subject: String
  /// `iat`: when the token was issued.
  public var issuedAt: Int64
  /// `exp`: the first second at which the token is no longer valid.
  public var expiresAt: Int64
  /// `jti`: a unique random token id (for revocation lists and logs).
  public var tokenID: String
  /// `typ`: what the token is for, e.g. `"access"`; verification demands the expected type.
  public var type: String

  public init(subject: String, issuedAt: Int64, expiresAt: Int64, tokenID: String, type: String) {
    self.subject = subject
    self.issuedAt = issuedAt
    self.expiresAt = expiresAt
    self.tokenID = tokenID
    self.type = type
  }

  enum CodingKeys: String, CodingKey {
    case subject = "sub"
    case issuedAt = "iat"
    case expiresAt = "exp"
    case tokenID = "jti"
    case type = "typ"
  }
}

/// Issues and verifies compact HMAC-SHA256 tokens shaped like a JWS/JWT:
/// `base64url(header).base64url(claims).base64url(signature)` with header
/// `{"alg":"HS256","kid":"<key id>","typ":"JWT"}`.
///
/// Verification accepts `alg` exactly `HS256` (never `none` or anything else), a known `kid`, a
/// signature checked in constant time, the expected `typ`, and `now < exp` against the injected
/// clock (or an explicit instant). Tokens over `maximumTokenBytes` are refused before any parsing.
public struct TokenSigner: Sendable, CustomStringConvertible, CustomDebugStringConvertible,
  CustomReflectable
{
  public static let algorithm = "HS256"

  public struct Configuration: Sendable, Hashable {
    /// Lifetime of tokens from `issue` unless the call gives one.
    public var lifetime: Duration
    /// Longest token `verify` will look at, in bytes; `sign` refuses to make longer ones.
    public var maximumTokenBytes: Int
    /// Grace added to `exp` when checking, for clock skew between replicas.
    public var clockSkewTolerance: Duration

    /// 15-minute tokens, at most 4 KiB, no skew tolerance.
    public static var defaults: Configuration {
      Configuration(lifetime: .seconds(15 * 60), maximumTokenBytes: 4096, clockSkewTolerance: .zero)
    }

    public static func defaults(configure: (inout Configuration) -> Void) -> Configuration {
      var configuration = defaults
      configure(&configuration)
      return configuration
    }
  }

  /// A freshly issued token and the claims inside it.
  public struct IssuedToken: Sendable, Hashable {
    public var token: String
    public var claims: TokenClaims
  }

  public let keyRing: KeyRing
  public let configuration: Configuration
  public let clock: any WallClock

  /// `keyRing` keys must be 32–64 bytes (RFC 7518 §3.2: at least the hash length).
  public init(
    keyRing: KeyRing, configuration: Configuration = .defaults,
    clock: any WallClock = SystemWallClock()
  ) throws(CryptoError) {
    for id in keyRing.keyIDs where !(32...64).contains(keyRing.key(for: id)!.byteCount) {
      throw .invalidKeyConfiguration("signing key '\(id)' must be 32-64 bytes")
    }
    guard configuration.lifetime >= .seconds(1), configuration.clockSkewTolerance >= .zero,
      (256...65536).contains(configuration.maximumTokenBytes)
    else { throw .invalidArgument("token configuration out of range") }
    self.keyRing = keyRing
    self.configuration = configuration
    self.clock = clock
  }

  /// Signing keys from configuration text `k1:BASE64KEY,k2:BASE64KEY`.
  public init(
    keyConfiguration keys: String, current: String, configuration: Configuration = .defaults,
    clock: any WallClock = SystemWallClock()
  ) throws(CryptoError) {
    try self.init(
      keyRing: KeyRing(parsing: keys, current: current, allowedKeyLengths: 32...64),
      configuration: configuration, clock: clock)
  }

  /// The same keys and settings, signing with `keyID` from now on.
  public func rotated(to keyID: String) throws(CryptoError) -> TokenSigner {
    try TokenSigner(keyRing: keyRing.rotated(to: keyID), configuration: configuration, clock: clock)
  }

  /// Issues a token for `subject` of `type`, valid from the clock's now for `lifetime` (default:
  /// the configured lifetime), with a random 128-bit `jti`.
  public func issue(subject: String, type: String, lifetime: Duration? = nil) throws(CryptoError)
    -> IssuedToken
  {
    let lifetime = lifetime ?? configuration.lifetime
    guard lifetime >= .seconds(1) else {
      throw .invalidArgument("token lifetime must be at least 1 second")
    }
    let issuedAt = Int64(clock.now.timeIntervalSince1970.rounded(.down))
    let claims = TokenClaims(
      subject: subject, issuedAt: issuedAt, expiresAt: issuedAt + lifetime.components.seconds,
      tokenID: SecureRandom.token(bytes: 16), type: type)
    return IssuedToken(token: try sign(claims), claims: claims)
  }

  /// Signs `claims` as they are, with the current key.
  public func sign(_ claims: TokenClaims) throws(CryptoError) -> String {
    guard !claims.subject.isEmpty, !claims.type.isEmpty, claims.expiresAt >= claims.issuedAt else {
      throw .invalidArgument("claims need a subject, a type, and exp not before iat")
    }
    // The key id is validated to [A-Za-z0-9_-], so it needs no JSON escaping.
    let header = #"{"alg":"HS256","kid":"\#(keyRing.currentKeyID)","typ":"JWT"}"#
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    let payload: Data
    do { payload = try encoder.encode(claims) } catch {
      throw .invalidArgument("claims could not be encoded")
    }
    let signingInput = Base64URL.encode(Array(header.utf8)) + "." + Base64URL.encode(payload)
    let signature = try HMAC.sha256(
      key: keyRing.currentKey.bytes, message: Array(signingInput.utf8))
    let token = signingInput + "." + Base64URL.encode(signature)
    guard token.utf8.count <= configuration.maximumTokenBytes else {
      throw .tokenTooLong(limit: configuration.maximumTokenBytes)
    }
    return token
  }

  /// Verifies `token` at the clock's current time.
  public func verify(_ token: String, type: String) throws(CryptoError) -> TokenClaims {
    try verify(token, type: type, now: clock.now)
  }

  /// Verifies `token` as of `now`, returning its claims. Checks, in order: length, three
  /// base64url segments, header (`alg` exactly HS256, no `crit`, known `kid`), signature
  /// (constant time), claims JSON, `typ` equals `type`, `now < exp` (+ skew tolerance).
  public func verify(_ token: String, type: String, now: Date) throws(CryptoError) -> TokenClaims {
    let limit = configuration.maximumTokenBytes
    guard token.utf8.count <= limit else { throw .tokenTooLong(limit: limit) }
    let segments = token.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
    guard segments.count == 3 else { throw .malformedToken("expected 3 dot-separated segments") }
    guard let headerBytes = Base64URL.decode(Substring(segments[0])) else {
      throw .malformedToken("header is not base64url")
    }
    guard let payloadBytes = Base64URL.decode(Substring(segments[1])) else {
      throw .malformedToken("claims are not base64url")
    }
    guard let signature = Base64URL.decode(Substring(segments[2])) else {
      throw .malformedToken("signature is not base64url")
    }

    let header: TokenHeader
    do { header = try JSONDecoder().decode(TokenHeader.self, from: Data(headerBytes)) } catch {
      throw .malformedToken("header is not a JSON object with a string alg")
    }
    guard header.alg == Self.algorithm else {
      throw .unsupportedAlgorithm(sanitizedForError(header.alg))
    }
    guard header.crit == nil else {
      throw .malformedToken("crit header parameters are not supported")
    }
    guard let keyID = header.kid else { throw .malformedToken("header has no kid") }
    guard KeyRing.isValidKeyID(keyID) else {
      throw .malformedToken("kid is not 1-32 characters of [A-Za-z0-9_-]")
    }
    guard let key = keyRing.key(for: keyID) else { throw .unknownKeyID(keyID) }

    let signingInput = Array(token.utf8[..<segments[1].endIndex])
    let expected = try HMAC.sha256(key: key.bytes, message: signingInput)
    guard ConstantTime.equals(expected, signature) else { throw .invalidSignature }

    let claims: TokenClaims
    do { claims = try JSONDecoder().decode(TokenClaims.self, from: Data(payloadBytes)) } catch {
      throw .malformedToken("claims are not valid JSON with sub, iat, exp, jti, typ")
    }
    guard claims.type == type else {
      throw .wrongTokenType(
        expected: sanitizedForError(type), actual: sanitizedForError(claims.type))
    }
    let tolerance =
      Double(configuration.clockSkewTolerance.components.seconds)
      + Double(configuration.clockSkewTolerance.components.attoseconds) / 1e18
    guard now.timeIntervalSince1970 < Double(claims.expiresAt) + tolerance else {
      throw .tokenExpired
    }
    return claims
  }

  public var description: String { "TokenSigner(\(keyRing))" }
  public var debugDescription: String { description }
  public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }
}

/// The JOSE header fields verification looks at.
struct TokenHeader: Decodable {
  var alg: String
  var kid: String?
  var crit: [String]?
}
