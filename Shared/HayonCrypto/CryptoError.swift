internal import COpenSSL

/// Every failure HayonCrypto reports. No case ever carries key material, plaintext, passwords or
/// token contents; values echoed back (key ids, algorithm names) are validated or sanitized first.
public enum CryptoError: Error, Sendable, Hashable, CustomStringConvertible {
  /// An OpenSSL call failed. `reasons` is OpenSSL's error queue, drained on the failing thread.
  case openSSLFailure(operation: String, reasons: [String])
  /// A caller passed an argument outside what the function accepts (a programming or
  /// configuration mistake, not untrusted input).
  case invalidArgument(String)
  /// A key configuration string or key dictionary is unusable. Never contains key bytes.
  case invalidKeyConfiguration(String)

  // Passwords.
  case emptyPassword
  case passwordTooLong(limit: Int)
  /// A stored password hash is not a well-formed `scrypt$N$r$p$salt$hash` string, or names
  /// parameters beyond the configured limits.
  case malformedPasswordHash(String)

  // Sealing.
  case malformedEnvelope(String)
  case unsupportedEnvelopeVersion(UInt8)
  /// The envelope or token names a key id this process does not hold.
  case unknownKeyID(String)
  /// AES-GCM tag check failed: tampered bytes, wrong associated data, or the wrong key.
  case authenticationFailed
  /// An opened envelope holds bytes that are not UTF-8 where text was expected.
  case plaintextNotUTF8

  // Signed tokens.
  case tokenTooLong(limit: Int)
  case malformedToken(String)
  case unsupportedAlgorithm(String)
  case invalidSignature
  case tokenExpired
  case wrongTokenType(expected: String, actual: String)

  public var description: String {
    switch self {
    case .openSSLFailure(let operation, let reasons):
      reasons.isEmpty
        ? "OpenSSL \(operation) failed"
        : "OpenSSL \(operation) failed: \(reasons.joined(separator: "; "))"
    case .invalidArgument(let what): "invalid argument: \(what)"
    case .invalidKeyConfiguration(let what): "invalid key configuration: \(what)"
    case .emptyPassword: "password is empty"
    case .passwordTooLong(let limit): "password is longer than \(limit) bytes"
    case .malformedPasswordHash(let what): "stored password hash is malformed: \(what)"
    case .malformedEnvelope(let what): "sealed envelope is malformed: \(what)"
    case .unsupportedEnvelopeVersion(let version):
      "sealed envelope version \(version) is not supported"
    case .unknownKeyID(let id): "unknown key id '\(id)'"
    case .authenticationFailed:
      "authentication failed: data was altered, or the key or associated data is wrong"
    case .plaintextNotUTF8: "opened plaintext is not valid UTF-8"
    case .tokenTooLong(let limit): "token is longer than \(limit) bytes"
    case .malformedToken(let what): "token is malformed: \(what)"
    case .unsupportedAlgorithm(let algorithm):
      "token algorithm '\(algorithm)' is not accepted (only HS256)"
    case .invalidSignature: "token signature is invalid"
    case .tokenExpired: "token has expired"
    case .wrongTokenType(let expected, let actual):
      "token type is '\(actual)', expected '\(expected)'"
    }
  }
}

extension CryptoError {
  /// Builds `.openSSLFailure`, draining OpenSSL's error queue. Call it synchronously right after
  /// the failing call: the queue is per-thread, like `errno`.
  static func openSSL(_ operation: String) -> CryptoError {
    .openSSLFailure(operation: operation, reasons: drainOpenSSLErrors())
  }
}

/// Empties this thread's OpenSSL error queue and returns its entries as text.
func drainOpenSSLErrors() -> [String] {
  var reasons: [String] = []
  while case let code = ERR_get_error(), code != 0 {
    var buffer = [CChar](repeating: 0, count: 256)
    ERR_error_string_n(code, &buffer, buffer.count)
    let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
    reasons.append(String(decoding: bytes, as: UTF8.self))
  }
  return reasons
}

/// Makes an untrusted string safe to echo in an error: printable ASCII only, at most 32 characters.
func sanitizedForError(_ text: String) -> String {
  let printable = text.unicodeScalars.prefix(32).map { scalar in
    (0x20...0x7E).contains(scalar.value) ? Character(scalar) : "?"
  }
  return String(printable) + (text.unicodeScalars.count > 32 ? "…" : "")
}

/// A NUL-terminated C string that lives for the whole process (static strings are immortal), for
/// OpenSSL APIs such as `OSSL_PARAM` that keep the pointer after the call returns.
func immortalCString(_ text: StaticString) -> UnsafeMutablePointer<CChar> {
  precondition(text.hasPointerRepresentation)
  return UnsafeMutableRawPointer(mutating: text.utf8Start).assumingMemoryBound(to: CChar.self)
}
