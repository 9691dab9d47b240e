internal import COpenSSL

/// scrypt cost parameters (RFC 7914).
public struct ScryptParameters: Sendable, Hashable, CustomStringConvertible {
  /// CPU/memory cost `N`: a power of two greater than 1.
  public var cost: UInt64
  /// Block size `r`.
  public var blockSize: UInt64
  /// Parallelism `p`.
  public var parallelism: UInt64

  public init(cost: UInt64, blockSize: UInt64, parallelism: UInt64) {
    self.cost = cost
    self.blockSize = blockSize
    self.parallelism = parallelism
  }

  /// N = 2^15, r = 8, p = 1: about 32 MiB per hash (the OWASP baseline for scrypt).
  public static let interactiveDefaults = ScryptParameters(
    cost: 1 << 15, blockSize: 8, parallelism: 1)

  /// Bytes of memory OpenSSL's scrypt needs: `128·r·(N + 2) + 128·r·p`, or `nil` on overflow.
  public var memoryRequired: UInt64? {
    let (rowBytes, overflow1) = UInt64(128).multipliedReportingOverflow(by: blockSize)
    let (vector, overflow2) = rowBytes.multipliedReportingOverflow(by: cost &+ 2)
    let (blocks, overflow3) = rowBytes.multipliedReportingOverflow(by: parallelism)
    let (total, overflow4) = vector.addingReportingOverflow(blocks)
    return overflow1 || overflow2 || overflow3 || overflow4 || cost > UInt64.max - 2 ? nil : total
  }

  public var description: String { "scrypt(N=\(cost), r=\(blockSize), p=\(parallelism))" }

  /// Nil when usable with at most `maximumMemoryBytes` of memory; otherwise what is wrong.
  func problem(maximumMemoryBytes: UInt64) -> String? {
    guard cost > 1, cost & (cost - 1) == 0 else { return "N must be a power of two greater than 1" }
    guard blockSize >= 1, blockSize <= 1024 else { return "r must be in 1...1024" }
    // p multiplies the running time without touching memory; cap it so a stored hash can't ask
    // for minutes of CPU.
    guard parallelism >= 1, parallelism <= 16 else { return "p must be in 1...16" }
    // RFC 7914: p ≤ (2^32 − 1)·32 / (128·r) and N < 2^(128·r/8); the bounds above and the memory
    // cap keep far inside both.
    guard let memory = memoryRequired, memory <= maximumMemoryBytes else {
      return "needs more than the \(maximumMemoryBytes)-byte memory limit"
    }
    return nil
  }
}

/// The scrypt key-derivation function (RFC 7914) via OpenSSL's `EVP_PBE_scrypt`.
public enum Scrypt {
  /// Default cap on the memory one derivation may use: 256 MiB.
  public static let defaultMaximumMemoryBytes: UInt64 = 256 << 20

  /// Derives `keyLength` bytes from `password` and `salt`. Empty passwords and salts are allowed
  /// here (RFC 7914's first test vector uses both); `PasswordHasher` applies policy on top.
  public static func deriveKey(
    password: some Collection<UInt8>, salt: some Collection<UInt8>, parameters: ScryptParameters,
    keyLength: Int, maximumMemoryBytes: UInt64 = defaultMaximumMemoryBytes
  ) throws(CryptoError) -> [UInt8] {
    guard (1...1024).contains(keyLength) else {
      throw .invalidArgument("scrypt key length must be 1...1024")
    }
    if let problem = parameters.problem(maximumMemoryBytes: maximumMemoryBytes) {
      throw .invalidArgument("scrypt parameters: \(problem)")
    }
    // OpenSSL's own cap defaults to 32 MiB, which N = 2^15, r = 8 just exceeds; pass the exact need.
    let memory = parameters.memoryRequired!
    var passwordBytes = Array(password)
    defer { for index in passwordBytes.indices { passwordBytes[index] = 0 } }
    let saltBytes = Array(salt)
    var key = [UInt8](repeating: 0, count: keyLength)

    let status = passwordBytes.withUnsafeBufferPointer { passwordBuffer in
      saltBytes.withUnsafeBufferPointer { saltBuffer in
        key.withUnsafeMutableBufferPointer { keyBuffer in
          passwordBuffer.withMemoryRebound(to: CChar.self) { passwordChars in
            EVP_PBE_scrypt(
              passwordChars.baseAddress, passwordChars.count, saltBuffer.baseAddress,
              saltBuffer.count,
              parameters.cost, parameters.blockSize, parameters.parallelism, memory + (1 << 20),
              keyBuffer.baseAddress, keyBuffer.count)
          }
        }
      }
    }
    guard status == 1 else { throw .openSSL("EVP_PBE_scrypt") }
    return key
  }
}
