import Foundation
import Testing

@testable import HayonCrypto

@Suite("AES-256-GCM known answers")
struct AESGCMKnownAnswerTests {
  /// McGrew & Viega, "The Galois/Counter Mode of Operation", test case 16 (AES-256, 96-bit IV,
  /// with AAD). Transcription cross-checked with Python `cryptography` 48 (AESGCM).
  @Test func mcGrewViegaTestCase16() throws {
    let key = hex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308")
    let plaintext = hex(
      "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39"
    )
    let aad = hex("feedfacedeadbeeffeedfacedeadbeefabaddad2")
    let nonce = hex("cafebabefacedbaddecaf888")
    let sealed = try AES256GCM.seal(plaintext, key: key, nonce: nonce, associatedData: aad)
    #expect(
      hexString(sealed.ciphertext)
        == "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662"
    )
    #expect(hexString(sealed.tag) == "76fc6ece0f4e1768cddf8853bb2d551b")
    let opened = try AES256GCM.open(
      sealed.ciphertext[...], tag: sealed.tag[...], key: key, nonce: nonce[...], associatedData: aad
    )
    #expect(opened == plaintext)
  }

  /// Test cases 13 (empty plaintext) and 14 (one zero block), zero key and IV.
  @Test func mcGrewViegaTestCases13And14() throws {
    let key = [UInt8](repeating: 0, count: 32), nonce = [UInt8](repeating: 0, count: 12)
    let empty = try AES256GCM.seal([], key: key, nonce: nonce, associatedData: [])
    #expect(empty.ciphertext.isEmpty)
    #expect(hexString(empty.tag) == "530f8afbc74536b9a963b4f1c4cb738b")
    let block = try AES256GCM.seal(
      [UInt8](repeating: 0, count: 16), key: key, nonce: nonce, associatedData: [])
    #expect(hexString(block.ciphertext) == "cea7403d4d606b6e074ec5d3baf39d18")
    #expect(hexString(block.tag) == "d0d1c8a799996bf0265b98b5d48ab919")
  }
}

@Suite("Sealer (token vault)")
struct SealerTests {
  static let key1 = [UInt8](repeating: 0x11, count: 32)
  static let key2 = [UInt8](repeating: 0x22, count: 32)
  static let sealer = try! Sealer(keys: ["k1": key1, "k2": key2], current: "k1")
  static let owner = utf8("user-42|bluesky")

  @Test func roundTrip() throws {
    let secret = utf8(#"{"accessJwt":"eyJ...","refreshJwt":"eyK..."}"#)
    let envelope = try Self.sealer.seal(secret, associatedData: Self.owner)
    #expect(envelope[0] == 1)
    #expect(envelope[1] == 2)
    #expect(Array(envelope[2..<4]) == utf8("k1"))
    #expect(envelope.count == 1 + 1 + 2 + 12 + secret.count + 16)
    #expect(try Self.sealer.open(envelope, associatedData: Self.owner) == secret)
    #expect(Sealer.keyID(ofEnvelope: envelope) == "k1")
  }

  @Test func emptyPlaintextAndEmptyAssociatedData() throws {
    let envelope = try Self.sealer.seal([UInt8](), associatedData: [UInt8]())
    #expect(try Self.sealer.open(envelope, associatedData: [UInt8]()) == [])
    #expect(throws: CryptoError.authenticationFailed) {
      try Self.sealer.open(envelope, associatedData: utf8("x"))
    }
  }

  @Test func noncesAreFreshPerSeal() throws {
    let first = try Self.sealer.seal(utf8("same"), associatedData: Self.owner)
    let second = try Self.sealer.seal(utf8("same"), associatedData: Self.owner)
    #expect(first[4..<16] != second[4..<16])
    #expect(first != second)
  }

  @Test func textRoundTrip() throws {
    let envelope = try Self.sealer.sealText(
      "tumblr-oauth-secret ✓", associatedData: "user-7|tumblr")
    #expect(Base64URL.decode(envelope) != nil)
    #expect(
      try Self.sealer.openText(envelope, associatedData: "user-7|tumblr") == "tumblr-oauth-secret ✓"
    )
    #expect(throws: CryptoError.malformedEnvelope("not base64url")) {
      try Self.sealer.openText(envelope + "=", associatedData: "user-7|tumblr")
    }
  }

  @Test func nonUTF8PlaintextIsReportedByOpenText() throws {
    let envelope = Base64URL.encode(try Self.sealer.seal([0xFF, 0xFE], associatedData: utf8("a")))
    #expect(throws: CryptoError.plaintextNotUTF8) {
      try Self.sealer.openText(envelope, associatedData: "a")
    }
  }

  @Test func flippingAnyBitOfAnyByteFails() throws {
    let envelope = try Self.sealer.seal(utf8("mastodon access token"), associatedData: Self.owner)
    let headerLength = 4
    for index in envelope.indices {
      for bit in 0..<8 {
        var tampered = envelope
        tampered[index] ^= UInt8(1 << bit)
        let error = #expect(throws: CryptoError.self, "byte \(index) bit \(bit)") {
          try Self.sealer.open(tampered, associatedData: Self.owner)
        }
        if index >= headerLength {  // nonce, ciphertext, tag
          #expect(error == .authenticationFailed, "byte \(index)")
        }
      }
    }
  }

  @Test func truncationAndExtensionFail() throws {
    let envelope = try Self.sealer.seal(utf8("secret"), associatedData: Self.owner)
    for length in 0..<envelope.count {
      #expect(throws: CryptoError.self, "length \(length)") {
        try Self.sealer.open(Array(envelope.prefix(length)), associatedData: Self.owner)
      }
    }
    #expect(throws: CryptoError.authenticationFailed) {
      try Self.sealer.open(envelope + [0], associatedData: Self.owner)
    }
  }

  @Test func associatedDataBindsTheOwner() throws {
    let envelope = try Self.sealer.seal(utf8("token"), associatedData: utf8("user-1|meta"))
    #expect(throws: CryptoError.authenticationFailed) {
      try Self.sealer.open(envelope, associatedData: utf8("user-2|meta"))
    }
    #expect(throws: CryptoError.authenticationFailed) {
      try Self.sealer.open(envelope, associatedData: utf8("user-1|tumblr"))
    }
    #expect(throws: CryptoError.authenticationFailed) {
      try Self.sealer.open(envelope, associatedData: [UInt8]())
    }
  }

  @Test func headerErrorsAreSpecific() throws {
    var envelope = try Self.sealer.seal(utf8("token"), associatedData: Self.owner)
    #expect(throws: CryptoError.malformedEnvelope("empty")) {
      try Self.sealer.open([UInt8](), associatedData: Self.owner)
    }
    envelope[0] = 2
    #expect(throws: CryptoError.unsupportedEnvelopeVersion(2)) {
      try Self.sealer.open(envelope, associatedData: Self.owner)
    }
    envelope[0] = 1
    envelope[3] = UInt8(ascii: "9")
    #expect(throws: CryptoError.unknownKeyID("k9")) {
      try Self.sealer.open(envelope, associatedData: Self.owner)
    }
    envelope[3] = UInt8(ascii: "!")
    #expect(throws: CryptoError.self) { try Self.sealer.open(envelope, associatedData: Self.owner) }
    envelope[3] = UInt8(ascii: "2")  // valid other key id: the header is bound, and it is the wrong key
    #expect(throws: CryptoError.authenticationFailed) {
      try Self.sealer.open(envelope, associatedData: Self.owner)
    }
  }

  @Test func wrongKeyFails() throws {
    let envelope = try Self.sealer.seal(utf8("token"), associatedData: Self.owner)
    let impostor = try Sealer(keys: ["k1": [UInt8](repeating: 0x33, count: 32)], current: "k1")
    #expect(throws: CryptoError.authenticationFailed) {
      try impostor.open(envelope, associatedData: Self.owner)
    }
    let other = try Sealer(keys: ["k3": [UInt8](repeating: 0x33, count: 32)], current: "k3")
    #expect(throws: CryptoError.unknownKeyID("k1")) {
      try other.open(envelope, associatedData: Self.owner)
    }
  }

  @Test func keyRotation() throws {
    let old = try Self.sealer.seal(utf8("sealed under k1"), associatedData: Self.owner)
    let rotated = try Self.sealer.rotated(to: "k2")
    #expect(rotated.currentKeyID == "k2")
    #expect(try rotated.open(old, associatedData: Self.owner) == utf8("sealed under k1"))
    let new = try rotated.seal(utf8("sealed under k2"), associatedData: Self.owner)
    #expect(Sealer.keyID(ofEnvelope: new) == "k2")
    #expect(try Self.sealer.open(new, associatedData: Self.owner) == utf8("sealed under k2"))
    // Once k1 is retired, its envelopes are reported by id.
    let retired = try Sealer(keys: ["k2": Self.key2], current: "k2")
    #expect(throws: CryptoError.unknownKeyID("k1")) {
      try retired.open(old, associatedData: Self.owner)
    }
    #expect(throws: CryptoError.self) { try Self.sealer.rotated(to: "k3") }
  }

  @Test func parsesKeyConfiguration() throws {
    let k1 = Data(Self.key1).base64EncodedString()  // standard alphabet, padded
    let k2 = Base64URL.encode(Self.key2)  // URL-safe, unpadded
    let sealer = try Sealer(keyConfiguration: " k1:\(k1), k2:\(k2)\n", current: "k2")
    #expect(sealer.currentKeyID == "k2")
    #expect(sealer.keyRing.keyIDs == ["k1", "k2"])
    let envelope = try Self.sealer.seal(utf8("x"), associatedData: Self.owner)
    #expect(try sealer.open(envelope, associatedData: Self.owner) == utf8("x"))
  }

  static let goodKey = Data([UInt8](repeating: 7, count: 32)).base64EncodedString()

  @Test(
    "rejects bad key configuration",
    arguments: [
      ("", "k1"),
      ("k1:\(goodKey)", "k2"),  // current missing
      ("k1:\(goodKey),k1:\(goodKey)", "k1"),  // duplicate id
      ("k1:\(Data([UInt8](repeating: 7, count: 31)).base64EncodedString())", "k1"),  // 31 bytes
      ("k1:\(Data([UInt8](repeating: 7, count: 33)).base64EncodedString())", "k1"),  // 33 bytes
      ("k1:not-base64!", "k1"),
      ("k1\(goodKey)", "k1"),  // no colon
      (":\(goodKey)", ""),  // empty id
      ("k.1:\(goodKey)", "k.1"),  // bad id character
      ("\(String(repeating: "k", count: 33)):\(goodKey)", String(repeating: "k", count: 33)),
      ("k1:\(goodKey),", "k1"),  // trailing empty entry
    ])
  func rejectsBadConfiguration(configuration: String, current: String) {
    let error = #expect(throws: CryptoError.self) {
      try Sealer(keyConfiguration: configuration, current: current)
    }
    guard case .invalidKeyConfiguration(let message) = error else {
      Issue.record("expected invalidKeyConfiguration, got \(String(describing: error))")
      return
    }
    #expect(!message.contains(Self.goodKey))
    #expect(!message.contains(String(Self.goodKey.prefix(12))))
  }

  @Test func rejectsWrongLengthKeysInDictionaries() {
    #expect(throws: CryptoError.self) {
      try Sealer(keys: ["k1": [UInt8](repeating: 1, count: 16)], current: "k1")
    }
    #expect(throws: CryptoError.self) { try Sealer(keys: [String: [UInt8]](), current: "k1") }
  }
}
