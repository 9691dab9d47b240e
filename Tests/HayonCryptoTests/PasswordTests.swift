import Foundation
import HayonCrypto
import Testing

struct ScryptVector: Sendable, CustomTestStringConvertible {
  var password: String
  var salt: String
  var parameters: ScryptParameters
  var expected: String
  var testDescription: String { "\(parameters) P=\"\(password)\"" }
}

@Suite("scrypt")
struct ScryptTests {
  /// RFC 7914 §12 vectors 1–3. The fourth (N = 2^20) needs 1 GiB and is left out: the same code path runs here at smaller N.
  static let rfc7914: [ScryptVector] = [
    ScryptVector(
      password: "", salt: "", parameters: ScryptParameters(cost: 16, blockSize: 1, parallelism: 1),
      expected:
        "77d6576238657b203b19ca42c18a0497f16b4844e3074ae8dfdffa3fede21442fcd0069ded0948f8326a753a0fc81f17e8d3e0fb2e0d3628cf35e20c38d18906"
    ),
    ScryptVector(
      password: "password", salt: "NaCl",
      parameters: ScryptParameters(cost: 1024, blockSize: 8, parallelism: 16),
      expected:
        "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b3731622eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640"
    ),
    ScryptVector(
      password: "pleaseletmein", salt: "SodiumChloride",
      parameters: ScryptParameters(cost: 16384, blockSize: 8, parallelism: 1),
      expected:
        "7023bdcb3afd7348461c06cd81fd38ebfda8fbba904f8e3ea9b543f6545da1f2d5432955613f0fcf62d49705242a9af9e61e85dc0d651e40dfcf017b45575887"
    ),
  ]

  @Test("RFC 7914 §12 vectors", arguments: rfc7914)
  func rfc7914Vectors(vector: ScryptVector) throws {
    let key = try Scrypt.deriveKey(
      password: utf8(vector.password), salt: utf8(vector.salt), parameters: vector.parameters,
      keyLength: 64)
    #expect(hexString(key) == vector.expected)
  }

  @Test(
    "rejects unusable parameters",
    arguments: [
      ScryptParameters(cost: 0, blockSize: 8, parallelism: 1),
      ScryptParameters(cost: 1, blockSize: 8, parallelism: 1),
      ScryptParameters(cost: 1000, blockSize: 8, parallelism: 1),
      ScryptParameters(cost: 16, blockSize: 0, parallelism: 1),
      ScryptParameters(cost: 16, blockSize: 8, parallelism: 0),
      ScryptParameters(cost: 16, blockSize: 8, parallelism: 17),
      ScryptParameters(cost: 1 << 20, blockSize: 8, parallelism: 1),  // 1 GiB > 256 MiB default cap
      ScryptParameters(cost: 1 << 62, blockSize: 1 << 40, parallelism: 1),  // overflows
    ])
  func rejectsParameters(parameters: ScryptParameters) {
    #expect(throws: CryptoError.self) {
      try Scrypt.deriveKey(
        password: utf8("pw"), salt: utf8("salt"), parameters: parameters, keyLength: 32)
    }
  }
}

@Suite("Password hashing")
struct PasswordHasherTests {
  /// Small N keeps the tests fast; the default-cost test below uses the real parameters.
  static let fast = try! PasswordHasher(configuration: .defaults { $0.parameters.cost = 1 << 10 })

  @Test func hashThenVerify() throws {
    let stored = try Self.fast.hash("correct horse battery staple")
    #expect(stored.hasPrefix("scrypt$1024$8$1$"))
    let fields = stored.split(separator: "$")
    #expect(fields.count == 6)
    #expect(Base64URL.decode(fields[4])?.count == 16)
    #expect(Base64URL.decode(fields[5])?.count == 32)
    #expect(try Self.fast.verify("correct horse battery staple", against: stored))
    #expect(try !Self.fast.verify("correct horse battery stapler", against: stored))
    #expect(try !Self.fast.verify("Correct horse battery staple", against: stored))
  }

  @Test func saltsDiffer() throws {
    #expect(try Self.fast.hash("same") != Self.fast.hash("same"))
  }

  @Test func unicodeIsNormalizedToNFC() throws {
    let stored = try Self.fast.hash("caf\u{E9}")  // precomposed é
    #expect(try Self.fast.verify("cafe\u{301}", against: stored))  // e + combining acute
  }

  @Test func parametersTravelWithTheHash() throws {
    let stored = try Self.fast.hash("pw-123456")
    let stronger = try PasswordHasher(configuration: .defaults { $0.parameters.cost = 1 << 11 })
    #expect(try stronger.verify("pw-123456", against: stored))
    #expect(stronger.needsRehash(stored))
    #expect(!Self.fast.needsRehash(stored))
    #expect(Self.fast.needsRehash("garbage"))
  }

  @Test func rejectsAbsurdPasswords() throws {
    let stored = try Self.fast.hash("x")
    #expect(throws: CryptoError.emptyPassword) { try Self.fast.hash("") }
    #expect(throws: CryptoError.emptyPassword) { try Self.fast.verify("", against: stored) }
    let longest = String(repeating: "a", count: 1024)
    #expect(try Self.fast.verify(longest, against: Self.fast.hash(longest)))
    let tooLong = String(repeating: "a", count: 1025)
    #expect(throws: CryptoError.passwordTooLong(limit: 1024)) { try Self.fast.hash(tooLong) }
    #expect(throws: CryptoError.passwordTooLong(limit: 1024)) {
      try Self.fast.verify(tooLong, against: stored)
    }
    #expect(throws: CryptoError.passwordTooLong(limit: 1024)) {
      try Self.fast.hash(String(repeating: "é", count: 513))  // 1026 UTF-8 bytes
    }
    #expect(throws: CryptoError.passwordTooLong(limit: 1024)) {
      try Self.fast.hash(String(repeating: "a", count: 10_000_000))
    }
  }

  static let validSalt = Base64URL.encode([UInt8](repeating: 1, count: 16))
  static let validKey = Base64URL.encode([UInt8](repeating: 2, count: 32))

  @Test(
    "malformed stored hashes are errors, not crashes",
    arguments: [
      "", "scrypt", "scrypt$$$$$", "bcrypt$1024$8$1$\(validSalt)$\(validKey)",
      "scrypt$1024$8$1$\(validSalt)", "scrypt$1024$8$1$\(validSalt)$\(validKey)$extra",
      "scrypt$1000$8$1$\(validSalt)$\(validKey)",  // N not a power of two
      "scrypt$01024$8$1$\(validSalt)$\(validKey)", "scrypt$+1024$8$1$\(validSalt)$\(validKey)",
      "scrypt$-1024$8$1$\(validSalt)$\(validKey)", "scrypt$1024$8$0$\(validSalt)$\(validKey)",
      "scrypt$99999999999999999999999$8$1$\(validSalt)$\(validKey)",
      "scrypt$1073741824$8$1$\(validSalt)$\(validKey)",  // 1 TiB of memory
      "scrypt$1024$8$1000$\(validSalt)$\(validKey)",  // minutes of CPU
      "scrypt$1024$8$1$not*base64$\(validKey)", "scrypt$1024$8$1$\(validSalt)$\(validKey)==",
      "scrypt$1024$8$1$\(validSalt)$AAAA",  // hash too short
      "scrypt$1024$8$1$AA$\(validKey)",  // salt too short
      "scrypt$1024$8$1$\(validSalt)$\(validKey) ", String(repeating: "$", count: 100_000),
    ])
  func malformedStoredHash(stored: String) {
    let error = #expect(throws: CryptoError.self) {
      try Self.fast.verify("password", against: stored)
    }
    guard case .malformedPasswordHash = error else {
      Issue.record("expected malformedPasswordHash, got \(String(describing: error))")
      return
    }
  }

  @Test func rejectsBadConfiguration() {
    #expect(throws: CryptoError.self) {
      try PasswordHasher(configuration: .defaults { $0.parameters.cost = 3 })
    }
    #expect(throws: CryptoError.self) {
      try PasswordHasher(configuration: .defaults { $0.saltLength = 8 })
    }
    #expect(throws: CryptoError.self) {
      try PasswordHasher(configuration: .defaults { $0.keyLength = 4 })
    }
    #expect(throws: CryptoError.self) {
      try PasswordHasher(configuration: .defaults { $0.parameters.cost = 1 << 20 })  // 1 GiB > cap
    }
  }

  @Test("default cost (N = 2^15, r = 8, p = 1) round trip")
  func defaultCost() throws {
    let hasher = try PasswordHasher()
    #expect(
      hasher.configuration.parameters == ScryptParameters(cost: 32768, blockSize: 8, parallelism: 1)
    )
    let clock = ContinuousClock()
    var stored = ""
    let elapsed = try clock.measure { stored = try hasher.hash("s3cret-password") }
    #expect(stored.hasPrefix("scrypt$32768$8$1$"))
    #expect(try hasher.verify("s3cret-password", against: stored))
    #expect(try !hasher.verify("s3cret-passwore", against: stored))
    print("scrypt default cost: one hash took \(elapsed)")
  }
}
