internal import COpenSSL

/// Cryptographically secure random bytes and tokens from OpenSSL's `RAND_bytes`.
///
/// A failing CSPRNG is not something to recover from or work around, so failure traps (as the
/// standard library's `SystemRandomNumberGenerator` does) rather than handing out weak values.
public enum SecureRandom {
  /// The fewest random bytes `token(bytes:)` accepts: 128 bits.
  public static let minimumTokenBytes = 16

  /// `count` random bytes. `count` must not be negative.
  public static func bytes(_ count: Int) -> [UInt8] {
    precondition(count >= 0, "SecureRandom.bytes: negative count")
    var output = [UInt8](repeating: 0, count: count)
    output.withUnsafeMutableBufferPointer { buffer in
      var offset = 0
      while offset < count {
        let chunk = min(count - offset, 1 << 20)
        guard hayon_RAND_bytes(buffer.baseAddress! + offset, Int32(chunk)) == 1 else {
          let reasons = drainOpenSSLErrors()
          fatalError(
            "RAND_bytes failed; refusing to continue without secure randomness: \(reasons)")
        }
        offset += chunk
      }
    }
    return output
  }

  /// A URL-safe random token (base64url, no padding) carrying `bytes` random bytes; 32 bytes give
  /// 43 characters. For OAuth `state`, refresh tokens, token ids. `bytes` must be at least 16.
  public static func token(bytes: Int = 32) -> String {
    precondition(bytes >= minimumTokenBytes, "SecureRandom.token: fewer than 128 bits")
    return Base64URL.encode(Self.bytes(bytes))
  }
}
