import Foundation
import HayonCrypto
import Testing

@Suite("Base64URL")
struct Base64URLTests {
  @Test(
    "RFC 4648 §10 vectors, URL-safe and unpadded",
    arguments: [
      ("", ""), ("f", "Zg"), ("fo", "Zm8"), ("foo", "Zm9v"), ("foob", "Zm9vYg"),
      ("fooba", "Zm9vYmE"),
      ("foobar", "Zm9vYmFy"),
    ])
  func rfc4648(plain: String, encoded: String) {
    #expect(Base64URL.encode(utf8(plain)) == encoded)
    #expect(Base64URL.decode(encoded) == utf8(plain))
  }

  @Test func usesTheURLSafeAlphabet() {
    #expect(Base64URL.encode([0xFB, 0xFF, 0xBF]) == "-_-_")
    #expect(Base64URL.decode("-_-_") == [0xFB, 0xFF, 0xBF])
  }

  @Test(
    "rejects padding, standard alphabet, whitespace, bad lengths, non-canonical tails",
    arguments: [
      "Zg==", "Zm8=", "+/+/", "Zm9v Yg", "Z", "Zm9vY", "Zh", "Zm9", "é", "Zm9v\n",
    ])
  func rejects(text: String) {
    #expect(Base64URL.decode(text) == nil)
  }

  @Test func roundTripsEveryLength() {
    for length in 0..<70 {
      let bytes = SecureRandom.bytes(length)
      #expect(Base64URL.decode(Base64URL.encode(bytes)) == bytes)
    }
  }
}

@Suite("SecureRandom")
struct SecureRandomTests {
  @Test func bytesHaveTheRequestedLengthAndDiffer() {
    #expect(SecureRandom.bytes(0).isEmpty)
    #expect(SecureRandom.bytes(1).count == 1)
    let first = SecureRandom.bytes(32)
    let second = SecureRandom.bytes(32)
    #expect(first.count == 32)
    #expect(first != second)
    #expect(SecureRandom.bytes(3_000_000).count == 3_000_000)
  }

  @Test func tokensAreURLSafeAndCarryTheirBytes() {
    let token = SecureRandom.token()
    #expect(token.count == 43)
    #expect(Base64URL.decode(token)?.count == 32)
    #expect(SecureRandom.token(bytes: 16).count == 22)
    let tokens = Set((0..<1000).map { _ in SecureRandom.token(bytes: 16) })
    #expect(tokens.count == 1000)
  }
}

@Suite("PKCE S256")
struct PKCETests {
  @Test("RFC 7636 Appendix B")
  func appendixB() throws {
    let octets: [UInt8] = [
      116, 24, 223, 180, 151, 153, 224, 37, 79, 250, 96, 125, 216, 173, 187, 186, 22, 212, 37, 77,
      105, 214, 191, 240, 91, 88, 5, 88, 83, 132, 141, 121,
    ]
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    #expect(Base64URL.encode(octets) == verifier)
    #expect(
      try PKCE.challenge(forVerifier: verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
    #expect(
      PKCE.verifier(verifier, matchesChallenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"))
    #expect(
      !PKCE.verifier(verifier, matchesChallenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cN"))
    #expect(PKCE.challengeMethod == "S256")
  }

  @Test func generatedVerifiersAreValid() throws {
    let short = PKCE.makeVerifier()
    #expect(short.count == 43)
    #expect(PKCE.isValidVerifier(short))
    let long = PKCE.makeVerifier(randomBytes: 96)
    #expect(long.count == 128)
    #expect(PKCE.isValidVerifier(long))
    #expect(PKCE.verifier(long, matchesChallenge: try PKCE.challenge(forVerifier: long)))
  }

  @Test(
    "rejects verifiers outside RFC 7636 §4.1",
    arguments: [
      "", String(repeating: "a", count: 42), String(repeating: "a", count: 129),
      String(repeating: "a", count: 42) + "+", String(repeating: "a", count: 42) + "=",
      String(repeating: "a", count: 42) + "é", String(repeating: "a", count: 42) + " ",
    ])
  func rejectsInvalidVerifiers(verifier: String) {
    #expect(!PKCE.isValidVerifier(verifier))
    #expect(throws: CryptoError.self) { try PKCE.challenge(forVerifier: verifier) }
    #expect(!PKCE.verifier(verifier, matchesChallenge: "anything"))
  }

  @Test func acceptsTheWholeUnreservedSet() {
    #expect(PKCE.isValidVerifier("ABCXYZabcxyz0189-._~" + String(repeating: "Q", count: 23)))
    #expect(PKCE.isValidVerifier(String(repeating: "~", count: 128)))
  }
}
