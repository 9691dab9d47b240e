import Foundation
import HayonCrypto
import Testing

@Suite("Signed access tokens (HS256)")
struct TokenSignerTests {
  static let issuedAt: Int64 = 1_750_000_000
  static let clock = FixedWallClock(secondsSince1970: issuedAt)
  static let keyABytes = [UInt8](repeating: 0xA1, count: 32)
  static let keyA = SymmetricKey(bytes: keyABytes)
  static let keyB = SymmetricKey(bytes: [UInt8](repeating: 0xB2, count: 48))
  static let ring = try! KeyRing(
    keys: ["a": keyA, "b": keyB], current: "a", allowedKeyLengths: 32...64)
  static let signer = try! TokenSigner(keyRing: ring, clock: clock)

  static func at(_ seconds: Int64, plus fraction: Double = 0) -> Date {
    Date(timeIntervalSince1970: Double(seconds) + fraction)
  }

  /// Assembles a token from raw parts, signed with `key` (for forging test tokens).
  static func forge(header: String, claims: String, key: [UInt8] = keyABytes) throws -> String {
    let input = Base64URL.encode(utf8(header)) + "." + Base64URL.encode(utf8(claims))
    return input + "." + Base64URL.encode(try HMAC.sha256(key: key, message: utf8(input)))
  }

  static let goodClaims =
    #"{"exp":1750000900,"iat":1750000000,"jti":"j","sub":"user-1","typ":"access"}"#

  @Test func issueAndVerify() throws {
    let issued = try Self.signer.issue(subject: "user-1", type: "access")
    #expect(issued.claims.subject == "user-1")
    #expect(issued.claims.issuedAt == Self.issuedAt)
    #expect(issued.claims.expiresAt == Self.issuedAt + 900)
    #expect(issued.claims.type == "access")
    #expect(Base64URL.decode(issued.claims.tokenID)?.count == 16)
    let segments = issued.token.split(separator: ".", omittingEmptySubsequences: false)
    #expect(segments.count == 3)
    let header = String(decoding: Base64URL.decode(segments[0])!, as: UTF8.self)
    #expect(header == #"{"alg":"HS256","kid":"a","typ":"JWT"}"#)
    let claimsJSON =
      try JSONSerialization.jsonObject(with: Data(Base64URL.decode(segments[1])!)) as? [String: Any]
    #expect(Set(claimsJSON?.keys.map { $0 } ?? []) == ["sub", "iat", "exp", "jti", "typ"])
    #expect(try Self.signer.verify(issued.token, type: "access") == issued.claims)
    #expect(issued.token.utf8.count < 300)
  }

  @Test func jtisAreUnique() throws {
    let first = try Self.signer.issue(subject: "u", type: "access")
    let second = try Self.signer.issue(subject: "u", type: "access")
    #expect(first.claims.tokenID != second.claims.tokenID)
    #expect(first.token != second.token)
  }

  @Test func expiryBoundariesWithAFixedClock() throws {
    let issued = try Self.signer.issue(subject: "user-1", type: "access", lifetime: .seconds(60))
    let exp = Self.issuedAt + 60
    #expect(throws: Never.self) {
      try Self.signer.verify(issued.token, type: "access", now: Self.at(Self.issuedAt))
    }
    #expect(throws: Never.self) {
      try Self.signer.verify(issued.token, type: "access", now: Self.at(exp - 1))
    }
    #expect(throws: Never.self) {
      try Self.signer.verify(issued.token, type: "access", now: Self.at(exp - 1, plus: 0.999))
    }
    #expect(throws: CryptoError.tokenExpired) {
      try Self.signer.verify(issued.token, type: "access", now: Self.at(exp))
    }
    #expect(throws: CryptoError.tokenExpired) {
      try Self.signer.verify(issued.token, type: "access", now: Self.at(exp + 1))
    }
    // The signer's own clock is used when no instant is given.
    let later = try TokenSigner(keyRing: Self.ring, clock: FixedWallClock(secondsSince1970: exp))
    #expect(throws: CryptoError.tokenExpired) { try later.verify(issued.token, type: "access") }
    let earlier = try TokenSigner(
      keyRing: Self.ring, clock: FixedWallClock(secondsSince1970: exp - 1))
    #expect(try earlier.verify(issued.token, type: "access").subject == "user-1")
  }

  @Test func clockSkewToleranceExtendsExpiry() throws {
    let tolerant = try TokenSigner(
      keyRing: Self.ring, configuration: .defaults { $0.clockSkewTolerance = .seconds(30) },
      clock: Self.clock)
    let issued = try tolerant.issue(subject: "u", type: "access", lifetime: .seconds(60))
    let exp = Self.issuedAt + 60
    #expect(throws: Never.self) {
      try tolerant.verify(issued.token, type: "access", now: Self.at(exp + 29))
    }
    #expect(throws: CryptoError.tokenExpired) {
      try tolerant.verify(issued.token, type: "access", now: Self.at(exp + 30))
    }
  }

  @Test func wrongTypeIsRejected() throws {
    let issued = try Self.signer.issue(subject: "user-1", type: "refresh")
    #expect(throws: CryptoError.wrongTokenType(expected: "access", actual: "refresh")) {
      try Self.signer.verify(issued.token, type: "access")
    }
  }

  @Test(
    "alg other than exactly HS256 is rejected",
    arguments: [
      "none", "None", "NONE", "hs256", "HS384", "HS512", "RS256", "ES256", "", "HS256 ",
    ])
  func rejectsAlgorithms(alg: String) throws {
    let token = try Self.forge(
      header: #"{"alg":"\#(alg)","kid":"a","typ":"JWT"}"#, claims: Self.goodClaims)
    #expect(throws: CryptoError.unsupportedAlgorithm(alg)) {
      try Self.signer.verify(token, type: "access", now: Self.at(Self.issuedAt))
    }
  }

  @Test func algNoneWithEmptySignatureIsRejected() {
    let token =
      Base64URL.encode(utf8(#"{"alg":"none","typ":"JWT"}"#)) + "."
      + Base64URL.encode(utf8(Self.goodClaims)) + "."
    #expect(throws: CryptoError.unsupportedAlgorithm("none")) {
      try Self.signer.verify(token, type: "access")
    }
  }

  @Test func forgedWithTheRightKeyVerifies() throws {
    // Sanity check for the forging helper, so the rejections above are about alg, not the helper.
    let token = try Self.forge(
      header: #"{"alg":"HS256","kid":"a","typ":"JWT"}"#, claims: Self.goodClaims)
    #expect(
      try Self.signer.verify(token, type: "access", now: Self.at(Self.issuedAt)).subject == "user-1"
    )
  }

  @Test func keyIDChecks() throws {
    let unknown = try Self.forge(
      header: #"{"alg":"HS256","kid":"zz","typ":"JWT"}"#, claims: Self.goodClaims)
    #expect(throws: CryptoError.unknownKeyID("zz")) {
      try Self.signer.verify(unknown, type: "access")
    }
    let missing = try Self.forge(header: #"{"alg":"HS256","typ":"JWT"}"#, claims: Self.goodClaims)
    #expect(throws: CryptoError.malformedToken("header has no kid")) {
      try Self.signer.verify(missing, type: "access")
    }
    let bad = try Self.forge(
      header: #"{"alg":"HS256","kid":"../etc","typ":"JWT"}"#, claims: Self.goodClaims)
    #expect(throws: CryptoError.self) { try Self.signer.verify(bad, type: "access") }
    // Signed with key a but claiming kid b: the signature check fails.
    let swapped = try Self.forge(
      header: #"{"alg":"HS256","kid":"b","typ":"JWT"}"#, claims: Self.goodClaims)
    #expect(throws: CryptoError.invalidSignature) {
      try Self.signer.verify(swapped, type: "access")
    }
    let crit = try Self.forge(
      header: #"{"alg":"HS256","kid":"a","crit":["exp"]}"#, claims: Self.goodClaims)
    #expect(throws: CryptoError.malformedToken("crit header parameters are not supported")) {
      try Self.signer.verify(crit, type: "access")
    }
  }

  @Test func keyRotation() throws {
    let old = try Self.signer.issue(subject: "user-1", type: "access")
    let rotated = try Self.signer.rotated(to: "b")
    let new = try rotated.issue(subject: "user-2", type: "access")
    #expect(new.token.hasPrefix(Base64URL.encode(utf8(#"{"alg":"HS256","kid":"b""#)).dropLast(2)))
    #expect(try rotated.verify(old.token, type: "access").subject == "user-1")
    #expect(try Self.signer.verify(new.token, type: "access").subject == "user-2")
    let retired = try TokenSigner(
      keyRing: KeyRing(keys: ["b": Self.keyB], current: "b", allowedKeyLengths: 32...64),
      clock: Self.clock)
    #expect(throws: CryptoError.unknownKeyID("a")) { try retired.verify(old.token, type: "access") }
  }

  @Test func anyAlteredCharacterIsRejected() throws {
    let token = try Self.signer.issue(subject: "user-1", type: "access").token
    let characters = Array(token)
    for index in characters.indices where characters[index] != "." {
      var altered = characters
      altered[index] = characters[index] == "A" ? "B" : "A"
      #expect(throws: CryptoError.self, "index \(index)") {
        try Self.signer.verify(String(altered), type: "access")
      }
    }
  }

  @Test func truncatedTokens() throws {
    let token = try Self.signer.issue(subject: "user-1", type: "access").token
    for length in 0..<token.count {
      #expect(throws: CryptoError.self, "length \(length)") {
        try Self.signer.verify(String(token.prefix(length)), type: "access")
      }
    }
    let parts = token.split(separator: ".")
    #expect(throws: CryptoError.malformedToken("expected 3 dot-separated segments")) {
      try Self.signer.verify("\(parts[0]).\(parts[1])", type: "access")
    }
    #expect(throws: CryptoError.malformedToken("expected 3 dot-separated segments")) {
      try Self.signer.verify(token + ".extra", type: "access")
    }
    // A signature shortened by 3 characters (30 whole bytes) still decodes, then fails the comparison.
    #expect(throws: CryptoError.invalidSignature) {
      try Self.signer.verify("\(parts[0]).\(parts[1]).\(parts[2].dropLast(3))", type: "access")
    }
    #expect(throws: CryptoError.invalidSignature) {
      try Self.signer.verify("\(parts[0]).\(parts[1]).", type: "access")
    }
  }

  @Test func oversizedTokensAreRejectedBeforeParsing() throws {
    let huge = String(repeating: "A", count: 4097)
    #expect(throws: CryptoError.tokenTooLong(limit: 4096)) {
      try Self.signer.verify(huge, type: "access")
    }
    #expect(throws: CryptoError.tokenTooLong(limit: 4096)) {
      try Self.signer.verify(String(repeating: "é", count: 2049), type: "access")  // 4098 bytes
    }
    #expect(throws: CryptoError.tokenTooLong(limit: 4096)) {
      try Self.signer.issue(subject: String(repeating: "u", count: 4000), type: "access")
    }
  }

  @Test("non-base64url segments are rejected", arguments: [0, 1, 2])
  func nonBase64Segments(segment: Int) throws {
    let token = try Self.signer.issue(subject: "user-1", type: "access").token
    var parts = token.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
    for poison in ["*", "=", "+", " ", "/"] {
      var copy = parts
      copy[segment] += poison
      #expect(throws: CryptoError.self) {
        try Self.signer.verify(copy.joined(separator: "."), type: "access")
      }
    }
    parts[segment] = parts[segment].replacingOccurrences(of: "-", with: "+") + "=="
    let names = ["header", "claims", "signature"]
    #expect(
      throws: CryptoError.malformedToken(
        "\(names[segment]) \(segment == 1 ? "are" : "is") not base64url")
    ) {
      try Self.signer.verify(parts.joined(separator: "."), type: "access")
    }
  }

  @Test func malformedJSONIsRejected() throws {
    let notJSON = try Self.forge(header: "not json", claims: Self.goodClaims)
    #expect(throws: CryptoError.malformedToken("header is not a JSON object with a string alg")) {
      try Self.signer.verify(notJSON, type: "access")
    }
    let arrayHeader = try Self.forge(header: #"["HS256"]"#, claims: Self.goodClaims)
    #expect(throws: CryptoError.self) { try Self.signer.verify(arrayHeader, type: "access") }
    // Correctly signed but missing exp: claims must be complete.
    let noExp = try Self.forge(
      header: #"{"alg":"HS256","kid":"a"}"#,
      claims: #"{"iat":1,"jti":"j","sub":"u","typ":"access"}"#)
    #expect(
      throws: CryptoError.malformedToken("claims are not valid JSON with sub, iat, exp, jti, typ")
    ) {
      try Self.signer.verify(noExp, type: "access")
    }
    let stringExp = try Self.forge(
      header: #"{"alg":"HS256","kid":"a"}"#,
      claims: #"{"exp":"never","iat":1,"jti":"j","sub":"u","typ":"access"}"#)
    #expect(throws: CryptoError.self) { try Self.signer.verify(stringExp, type: "access") }
  }

  @Test func signingKeysAreValidated() {
    #expect(throws: CryptoError.self) {
      try TokenSigner(
        keyRing: KeyRing(
          keys: ["a": SymmetricKey(bytes: [1, 2, 3])], current: "a", allowedKeyLengths: 1...64))
    }
    let key = Data([UInt8](repeating: 9, count: 32)).base64EncodedString()
    #expect(throws: Never.self) {
      try TokenSigner(keyConfiguration: "t1:\(key)", current: "t1", clock: Self.clock)
    }
    #expect(throws: CryptoError.self) {
      try TokenSigner(keyConfiguration: "t1:\(key)", current: "t2")
    }
    #expect(throws: CryptoError.self) {
      try Self.signer.issue(subject: "u", type: "access", lifetime: .milliseconds(500))
    }
    #expect(throws: CryptoError.self) {
      try TokenSigner(keyRing: Self.ring, configuration: .defaults { $0.lifetime = .zero })
    }
  }
}

@Suite("Secrets stay out of text")
struct RedactionTests {
  static let keyBytes: [UInt8] = Array("super-secret-key-material-0123456789".utf8.prefix(32))
  static let keyBase64 = Data(keyBytes).base64EncodedString()

  func expectNoSecret(_ value: Any, sourceLocation: SourceLocation = #_sourceLocation) {
    var dumped = ""
    dump(value, to: &dumped)
    for text in [String(describing: value), String(reflecting: value), "\(value)", dumped] {
      #expect(!text.contains("super-secret"), sourceLocation: sourceLocation)
      #expect(!text.contains(Self.keyBase64), sourceLocation: sourceLocation)
      #expect(
        !text.contains(String(Self.keyBytes.prefix(4).map(String.init).joined(separator: ", "))),
        sourceLocation: sourceLocation)
      #expect(!text.contains("115, 117, 112"), sourceLocation: sourceLocation)  // "sup" as decimals
    }
  }

  @Test func keysSealersAndSignersAreRedacted() throws {
    let key = SymmetricKey(bytes: Self.keyBytes)
    #expect(String(describing: key) == "SymmetricKey(32 bytes, redacted)")
    expectNoSecret(key)
    let ring = try KeyRing(
      parsing: "k1:\(Self.keyBase64)", current: "k1", allowedKeyLengths: 32...32)
    expectNoSecret(ring)
    expectNoSecret(try Sealer(keyRing: ring))
    expectNoSecret(try TokenSigner(keyRing: ring))
    expectNoSecret(["k1": key])
  }

  @Test func errorsCarryNoSecrets() throws {
    let sealer = try Sealer(keys: ["k1": SymmetricKey(bytes: Self.keyBytes)], current: "k1")
    let envelope = try sealer.seal(utf8("super-secret-plaintext"), associatedData: utf8("owner"))
    let openError = #expect(throws: CryptoError.self) {
      try sealer.open(envelope, associatedData: utf8("other"))
    }
    expectNoSecret(openError as Any)
    #expect(String(describing: openError!).contains("authentication failed"))
    let configError = #expect(throws: CryptoError.self) {
      try Sealer(
        keyConfiguration: "k1:\(Data(Self.keyBytes.prefix(31)).base64EncodedString())", current: "k1")
    }
    #expect(
      !String(describing: configError!).contains(
        Data(Self.keyBytes.prefix(31)).base64EncodedString()))
    let hasher = try PasswordHasher(configuration: .defaults { $0.parameters.cost = 16 })
    let passwordError = #expect(throws: CryptoError.self) {
      try hasher.hash("super-secret" + String(repeating: "x", count: 2000))
    }
    expectNoSecret(passwordError as Any)
  }
}
