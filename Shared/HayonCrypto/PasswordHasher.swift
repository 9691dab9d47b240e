internal import Foundation

/// Hashes and verifies user passwords with scrypt and a per-password random salt.
///
/// Stored form: `scrypt$<N>$<r>$<p>$<salt>$<hash>`, salt and hash in unpadded base64url. The
/// parameters travel with each hash, so the configuration can be raised later: old hashes still
/// verify, and `needsRehash(_:)` says when to re-hash on the next successful login.
///
/// Passwords are normalized to Unicode NFC before hashing, so the same password typed on
/// different systems (composed or decomposed accents) gives the same bytes.
public struct PasswordHasher: Sendable {
  public struct Configuration: Sendable, Hashable {
    /// Parameters for new hashes.
    public var parameters: ScryptParameters
    /// Length of the derived key stored in the hash.
    public var keyLength: Int
    /// Length of the random salt.
    public var saltLength: Int
    /// Longest accepted password, in UTF-8 bytes after normalization.
    public var maximumPasswordBytes: Int
    /// Upper bound on the memory any hash may demand, including parameters read from stored
    /// hashes (a corrupted or planted hash can't make `verify` allocate gigabytes).
    public var maximumMemoryBytes: UInt64

    /// N = 2^15, r = 8, p = 1, 32-byte key, 16-byte salt, passwords up to 1024 bytes, 256 MiB cap.
    public static var defaults: Configuration {
      Configuration(
        parameters: .interactiveDefaults, keyLength: 32, saltLength: 16, maximumPasswordBytes: 1024,
        maximumMemoryBytes: Scrypt.defaultMaximumMemoryBytes)
    }

    public static func defaults(configure: (inout Configuration) -> Void) -> Configuration {
      var configuration = defaults
      configure(&configuration)
      return configuration
    }
  }

  public let configuration: Configuration

  /// Throws `.invalidArgument` when the configuration is unusable.
  public init(configuration: Configuration = .defaults) throws(CryptoError) {
    if let problem = configuration.parameters.problem(
      maximumMemoryBytes: configuration.maximumMemoryBytes)
    {
      throw .invalidArgument("password hashing parameters: \(problem)")
    }
    guard (16...64).contains(configuration.keyLength) else {
      throw .invalidArgument("keyLength must be 16...64")
    }
    guard (16...64).contains(configuration.saltLength) else {
      throw .invalidArgument("saltLength must be 16...64")
    }
    guard (1...4096).contains(configuration.maximumPasswordBytes) else {
      throw .invalidArgument("maximumPasswordBytes must be 1...4096")
    }
    self.configuration = configuration
  }

  /// A new self-describing hash of `password` with a fresh random salt.
  public func hash(_ password: String) throws(CryptoError) -> String {
    let passwordBytes = try normalizedBytes(password)
    let salt = SecureRandom.bytes(configuration.saltLength)
    let parameters = configuration.parameters
    let key = try Scrypt.deriveKey(
      password: passwordBytes, salt: salt, parameters: parameters,
      keyLength: configuration.keyLength,
      maximumMemoryBytes: configuration.maximumMemoryBytes)
    return [
      "scrypt", String(parameters.cost), String(parameters.blockSize),
      String(parameters.parallelism),
      Base64URL.encode(salt), Base64URL.encode(key),
    ].joined(separator: "$")
  }

  /// Whether `password` matches `stored`. The final comparison is constant-time.
  ///
  /// Throws `.emptyPassword` / `.passwordTooLong` for passwords `hash` would refuse, and
  /// `.malformedPasswordHash` when `stored` is not a hash this hasher can check; never traps.
  public func verify(_ password: String, against stored: String) throws(CryptoError) -> Bool {
    let passwordBytes = try normalizedBytes(password)
    let parsed = try StoredHash(
      parsing: stored, maximumMemoryBytes: configuration.maximumMemoryBytes)
    let key = try Scrypt.deriveKey(
      password: passwordBytes, salt: parsed.salt, parameters: parsed.parameters,
      keyLength: parsed.key.count,
      maximumMemoryBytes: configuration.maximumMemoryBytes)
    return ConstantTime.equals(key, parsed.key)
  }

  /// Whether `stored` was made with different parameters or lengths than the current
  /// configuration (or can't be parsed), so it should be replaced after the next successful login.
  public func needsRehash(_ stored: String) -> Bool {
    guard
      let parsed = try? StoredHash(
        parsing: stored, maximumMemoryBytes: configuration.maximumMemoryBytes)
    else { return true }
    return parsed.parameters != configuration.parameters
      || parsed.key.count != configuration.keyLength
      || parsed.salt.count != configuration.saltLength
  }

  private func normalizedBytes(_ password: String) throws(CryptoError) -> [UInt8] {
    if password.isEmpty { throw .emptyPassword }
    // Check the raw length first so an enormous input is rejected before normalization runs.
    let limit = configuration.maximumPasswordBytes
    if password.utf8.count > limit * 4 { throw .passwordTooLong(limit: limit) }
    let bytes = Array(password.precomposedStringWithCanonicalMapping.utf8)
    if bytes.count > limit { throw .passwordTooLong(limit: limit) }
    return bytes
  }
}

/// A parsed `scrypt$N$r$p$salt$hash` string.
struct StoredHash {
  var parameters: ScryptParameters
  var salt: [UInt8]
  var key: [UInt8]

  init(parsing stored: String, maximumMemoryBytes: UInt64) throws(CryptoError) {
    guard stored.utf8.count <= 512 else { throw .malformedPasswordHash("too long") }
    let fields = stored.split(separator: "$", omittingEmptySubsequences: false)
    guard fields.count == 6, fields[0] == "scrypt" else {
      throw .malformedPasswordHash("expected scrypt$N$r$p$salt$hash")
    }
    guard let cost = Self.decimal(fields[1]), let blockSize = Self.decimal(fields[2]),
      let parallelism = Self.decimal(fields[3])
    else { throw .malformedPasswordHash("N, r and p must be decimal numbers") }
    let parameters = ScryptParameters(cost: cost, blockSize: blockSize, parallelism: parallelism)
    if let problem = parameters.problem(maximumMemoryBytes: maximumMemoryBytes) {
      throw .malformedPasswordHash(problem)
    }
    guard let salt = Base64URL.decode(fields[4]), (8...64).contains(salt.count) else {
      throw .malformedPasswordHash("salt is not 8-64 bytes of base64url")
    }
    guard let key = Base64URL.decode(fields[5]), (16...64).contains(key.count) else {
      throw .malformedPasswordHash("hash is not 16-64 bytes of base64url")
    }
    self.parameters = parameters
    self.salt = salt
    self.key = key
  }

  /// Plain decimal digits without sign or leading zeros, at most 19 of them.
  private static func decimal(_ text: Substring) -> UInt64? {
    guard (1...19).contains(text.utf8.count), text.utf8.allSatisfy({ (48...57).contains($0) }),
      text.utf8.first != UInt8(ascii: "0")
    else { return nil }
    return UInt64(text)
  }
}
