/// Proof Key for Code Exchange (RFC 7636) with the `S256` method only.
public enum PKCE {
  /// The only challenge method HayonCrypto produces or accepts.
  public static let challengeMethod = "S256"
  /// RFC 7636 §4.1: a verifier is 43 to 128 characters.
  public static let verifierLengths = 43...128

  /// A fresh verifier: `randomBytes` random bytes in base64url, which is all in the unreserved
  /// set. 32 bytes (the default, as RFC 7636 recommends) give 43 characters; 96 give 128.
  public static func makeVerifier(randomBytes: Int = 32) -> String {
    precondition((32...96).contains(randomBytes), "PKCE verifier needs 32...96 random bytes")
    return SecureRandom.token(bytes: randomBytes)
  }

  /// Whether `verifier` is 43–128 characters of `[A-Za-z0-9-._~]`.
  public static func isValidVerifier(_ verifier: String) -> Bool {
    let characters = verifier.utf8
    guard verifierLengths.contains(characters.count) else { return false }
    return characters.allSatisfy { character in
      switch character {
      case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
        UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."),
        UInt8(ascii: "_"), UInt8(ascii: "~"):
        true
      default:
        false
      }
    }
  }

  /// `BASE64URL(SHA256(ASCII(verifier)))`. Throws `.invalidArgument` for a verifier that breaks
  /// RFC 7636 §4.1.
  public static func challenge(forVerifier verifier: String) throws(CryptoError) -> String {
    guard isValidVerifier(verifier) else {
      throw .invalidArgument("PKCE verifier must be 43-128 characters of [A-Za-z0-9-._~]")
    }
    return Base64URL.encode(Digest.sha256(Array(verifier.utf8)))
  }

  /// The server side of the check (what the platform sandbox does): does `verifier` hash to
  /// `challenge`? Invalid verifiers never match. Compares in constant time.
  public static func verifier(_ verifier: String, matchesChallenge challenge: String) -> Bool {
    guard let expected = try? self.challenge(forVerifier: verifier) else { return false }
    return ConstantTime.equals(Array(expected.utf8), Array(challenge.utf8))
  }
}
