import Foundation
import HayonCrypto
import Testing

@Suite("SHA-256 and SHA-1")
struct DigestTests {
  @Test(
    "FIPS 180 examples",
    arguments: [
      ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
      ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
      (
        "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
      ),
    ])
  func sha256(message: String, digest: String) {
    #expect(hexString(Digest.sha256(utf8(message))) == digest)
  }

  @Test func sha256OfOneMillionA() {
    let message = [UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)
    #expect(
      hexString(Digest.sha256(message))
        == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    #expect(
      hexString(Digest.hash(Data(message), using: .sha256)) == hexString(Digest.sha256(message)))
  }

  @Test func sha1() {
    #expect(hexString(Digest.sha1(utf8("abc"))) == "a9993e364706816aba3e25717850c26c9cd0d89d")
    #expect(HashFunction.sha1.outputByteCount == 20)
  }
}

/// One HMAC test case: key, data, expected code (hex; may be a truncated prefix).
struct HMACVector: Sendable, CustomTestStringConvertible {
  var name: String
  var key: [UInt8]
  var data: [UInt8]
  var expected: String
  var testDescription: String { name }
}

@Suite("HMAC")
struct HMACTests {
  static let rfc4231: [HMACVector] = [
    HMACVector(
      name: "4231-1", key: [UInt8](repeating: 0x0b, count: 20), data: utf8("Hi There"),
      expected: "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
    HMACVector(
      name: "4231-2", key: utf8("Jefe"), data: utf8("what do ya want for nothing?"),
      expected: "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
    HMACVector(
      name: "4231-3", key: [UInt8](repeating: 0xaa, count: 20),
      data: [UInt8](repeating: 0xdd, count: 50),
      expected: "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"),
    HMACVector(
      name: "4231-4", key: Array(1...25), data: [UInt8](repeating: 0xcd, count: 50),
      expected: "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"),
    HMACVector(
      name: "4231-5 (truncated to 128 bits)", key: [UInt8](repeating: 0x0c, count: 20),
      data: utf8("Test With Truncation"), expected: "a3b6167473100ee06e0c796c2955552b"),
    HMACVector(
      name: "4231-6", key: [UInt8](repeating: 0xaa, count: 131),
      data: utf8("Test Using Larger Than Block-Size Key - Hash Key First"),
      expected: "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
    HMACVector(
      name: "4231-7", key: [UInt8](repeating: 0xaa, count: 131),
      data: utf8(
        "This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm."
      ),
      expected: "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"),
  ]

  static let rfc2202: [HMACVector] = [
    HMACVector(
      name: "2202-1", key: [UInt8](repeating: 0x0b, count: 20), data: utf8("Hi There"),
      expected: "b617318655057264e28bc0b6fb378c8ef146be00"),
    HMACVector(
      name: "2202-2", key: utf8("Jefe"), data: utf8("what do ya want for nothing?"),
      expected: "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"),
    HMACVector(
      name: "2202-3", key: [UInt8](repeating: 0xaa, count: 20),
      data: [UInt8](repeating: 0xdd, count: 50),
      expected: "125d7342b9ac11cd91a39af48aa17b4f63f175d3"),
    HMACVector(
      name: "2202-4", key: Array(1...25), data: [UInt8](repeating: 0xcd, count: 50),
      expected: "4c9007f4026250c6bc8414f9bf50c86c2d7235da"),
    HMACVector(
      name: "2202-5", key: [UInt8](repeating: 0x0c, count: 20), data: utf8("Test With Truncation"),
      expected: "4c1a03424b55e07fe7f27be1d58bb9324a9a5a04"),
    HMACVector(
      name: "2202-6", key: [UInt8](repeating: 0xaa, count: 80),
      data: utf8("Test Using Larger Than Block-Size Key - Hash Key First"),
      expected: "aa4ae5e15272d00e95705637ce8a3b55ed402112"),
    HMACVector(
      name: "2202-7", key: [UInt8](repeating: 0xaa, count: 80),
      data: utf8("Test Using Larger Than Block-Size Key and Larger Than One Block-Size Data"),
      expected: "e8e99d0f45237d786d6bbaa7965c7808bbff1a91"),
  ]

  @Test("HMAC-SHA256, RFC 4231", arguments: rfc4231)
  func hmacSHA256(vector: HMACVector) throws {
    let code = try HMAC.sha256(key: vector.key, message: vector.data)
    #expect(code.count == 32)
    #expect(hexString(code).hasPrefix(vector.expected))
  }

  @Test("HMAC-SHA1, RFC 2202", arguments: rfc2202)
  func hmacSHA1(vector: HMACVector) throws {
    let code = try HMAC.sha1(key: vector.key, message: vector.data)
    #expect(hexString(code) == vector.expected)
    #expect(try HMAC.isValid(code, for: vector.data, key: vector.key, using: .sha1))
  }

  @Test func emptyKeyAndMessage() throws {
    // Independently computed with Python's hmac module.
    #expect(
      hexString(try HMAC.sha256(key: [UInt8](), message: [UInt8]()))
        == "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad")
  }

  @Test func isValidRejectsAnyChange() throws {
    let key = utf8("key"), message = utf8("message")
    var code = try HMAC.sha256(key: key, message: message)
    #expect(try HMAC.isValid(code, for: message, key: key, using: .sha256))
    #expect(try !HMAC.isValid(code.dropLast(), for: message, key: key, using: .sha256))
    code[31] ^= 1
    #expect(try !HMAC.isValid(code, for: message, key: key, using: .sha256))
  }
}

@Suite("Constant-time comparison")
struct ConstantTimeTests {
  @Test func equality() {
    #expect(ConstantTime.equals([UInt8](), [UInt8]()))
    #expect(ConstantTime.equals([1, 2, 3] as [UInt8], Data([1, 2, 3])))
    #expect(!ConstantTime.equals([1, 2, 3] as [UInt8], [1, 2, 4] as [UInt8]))
    #expect(!ConstantTime.equals([1, 2, 3] as [UInt8], [1, 2] as [UInt8]))
    #expect(!ConstantTime.equals([0] as [UInt8], [UInt8]()))
    #expect(ConstantTime.equals("state-abc", "state-abc"))
    #expect(!ConstantTime.equals("state-abc", "state-abd"))
  }
}
