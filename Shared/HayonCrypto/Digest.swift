internal import COpenSSL
public import Foundation

/// A hash function HayonCrypto offers, for digests and HMAC.
public struct HashFunction: Sendable, Hashable, CustomStringConvertible {
  /// OpenSSL's name for the digest.
  let openSSLName: StaticString
  /// Digest length in bytes.
  public let outputByteCount: Int
  public let description: String

  public static let sha256 = HashFunction(
    openSSLName: "SHA256", outputByteCount: 32, description: "SHA-256")
  /// For OAuth 1.0a `HMAC-SHA1` signatures (Tumblr) only; don't use it for anything new.
  public static let sha1 = HashFunction(
    openSSLName: "SHA1", outputByteCount: 20, description: "SHA-1")

  public static func == (lhs: HashFunction, rhs: HashFunction) -> Bool {
    lhs.description == rhs.description
  }
  public func hash(into hasher: inout Hasher) { hasher.combine(description) }

  /// The legacy EVP_MD getter; returns a static object that needs no freeing.
  var evpDigest: OpaquePointer? {
    self == .sha1 ? EVP_sha1() : EVP_sha256()
  }
}

/// Message digests over OpenSSL's EVP interface.
public enum Digest {
  public static func hash(_ message: some ContiguousBytes, using function: HashFunction) -> [UInt8]
  {
    var output = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
    var length: UInt32 = 0
    let succeeded = message.withUnsafeBytes { input in
      EVP_Digest(input.baseAddress, input.count, &output, &length, function.evpDigest, nil) == 1
    }
    // EVP_Digest only fails on allocation failure or a missing provider: a broken process.
    guard succeeded, Int(length) == function.outputByteCount else {
      fatalError("\(CryptoError.openSSL("EVP_Digest(\(function))"))")
    }
    return Array(output.prefix(Int(length)))
  }

  public static func sha256(_ message: some ContiguousBytes) -> [UInt8] {
    hash(message, using: .sha256)
  }
  public static func sha1(_ message: some ContiguousBytes) -> [UInt8] {
    hash(message, using: .sha1)
  }
}

/// HMAC (RFC 2104) over OpenSSL's `EVP_MAC`.
public enum HMAC {
  /// The full-length authentication code of `message` under `key`.
  public static func authenticationCode(
    for message: some ContiguousBytes, key: some ContiguousBytes, using function: HashFunction
  ) throws(CryptoError) -> [UInt8] {
    guard let mac = EVP_MAC_fetch(nil, "HMAC", nil) else { throw .openSSL("EVP_MAC_fetch(HMAC)") }
    defer { EVP_MAC_free(mac) }
    guard let context = EVP_MAC_CTX_new(mac) else { throw .openSSL("EVP_MAC_CTX_new") }
    defer { EVP_MAC_CTX_free(context) }

    // OSSL_PARAM keeps the pointers it is given; immortal static strings keep them valid.
    var parameters = [
      OSSL_PARAM_construct_utf8_string(
        immortalCString("digest"), immortalCString(function.openSSLName), 0),
      OSSL_PARAM_construct_end(),
    ]
    var output = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
    var length = 0
    // An HMAC key may be empty, but OpenSSL wants a non-NULL pointer for it.
    var keyBytes = key.withUnsafeBytes { Array($0) }
    if keyBytes.isEmpty { keyBytes = [0] }
    let keyLength = key.withUnsafeBytes { $0.count }
    defer { for index in keyBytes.indices { keyBytes[index] = 0 } }

    guard EVP_MAC_init(context, keyBytes, keyLength, &parameters) == 1 else {
      throw .openSSL("EVP_MAC_init")
    }
    let updated = message.withUnsafeBytes { input in
      input.isEmpty
        ? true
        : EVP_MAC_update(
          context, input.baseAddress!.assumingMemoryBound(to: UInt8.self), input.count) == 1
    }
    guard updated else { throw .openSSL("EVP_MAC_update") }
    guard EVP_MAC_final(context, &output, &length, output.count) == 1 else {
      throw .openSSL("EVP_MAC_final")
    }
    return Array(output.prefix(length))
  }

  /// HMAC-SHA256. Fails only if OpenSSL itself fails.
  public static func sha256(key: some ContiguousBytes, message: some ContiguousBytes)
    throws(CryptoError) -> [UInt8]
  {
    try authenticationCode(for: message, key: key, using: .sha256)
  }

  /// HMAC-SHA1, for OAuth 1.0a request signing.
  public static func sha1(key: some ContiguousBytes, message: some ContiguousBytes)
    throws(CryptoError) -> [UInt8]
  {
    try authenticationCode(for: message, key: key, using: .sha1)
  }

  /// Whether `code` is the HMAC of `message` under `key`, compared in constant time.
  public static func isValid(
    _ code: some ContiguousBytes, for message: some ContiguousBytes, key: some ContiguousBytes,
    using function: HashFunction
  ) throws(CryptoError) -> Bool {
    let expected = try authenticationCode(for: message, key: key, using: function)
    return ConstantTime.equals(expected, code)
  }
}

/// Comparisons whose running time does not depend on where the inputs differ.
public enum ConstantTime {
  /// Byte-wise equality in time that depends only on the lengths (which are treated as public:
  /// MACs, hashes and tokens have fixed, known lengths).
  public static func equals(_ lhs: some ContiguousBytes, _ rhs: some ContiguousBytes) -> Bool {
    lhs.withUnsafeBytes { left in
      rhs.withUnsafeBytes { right in
        guard left.count == right.count else { return false }
        guard left.count > 0 else { return true }
        return CRYPTO_memcmp(left.baseAddress, right.baseAddress, left.count) == 0
      }
    }
  }

  /// Constant-time equality of the UTF-8 bytes of two strings (OAuth `state`, PKCE challenges).
  public static func equals(_ lhs: String, _ rhs: String) -> Bool {
    equals(Array(lhs.utf8), Array(rhs.utf8))
  }
}
