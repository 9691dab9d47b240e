public import Foundation

/// Seals secrets at rest (the token vault) with AES-256-GCM under a rotating set of keys.
///
/// Envelope, version 1 (binary; `sealText` wraps it in unpadded base64url):
///
///     0x01 | keyIDLength (1 byte, 1–32) | keyID (ASCII) | nonce (12) | ciphertext | tag (16)
///
/// Every seal draws a fresh random 96-bit nonce. The GCM additional data is the envelope header
/// (version, key id) followed by the caller's associated data, so the header can't be edited and
/// a ciphertext only opens for the owner it was sealed for (pass e.g. `"userId|platform"`).
///
/// Random nonces keep the chance of a repeat negligible up to about 2^32 seals per key; rotate
/// keys long before that.
public struct Sealer: Sendable, CustomStringConvertible, CustomDebugStringConvertible,
  CustomReflectable
{
  public static let envelopeVersion: UInt8 = 1
  public static let keyByteCount = 32

  public let keyRing: KeyRing

  /// A sealer over `keys`; every key must be 32 bytes.
  public init(keyRing: KeyRing) throws(CryptoError) {
    for id in keyRing.keyIDs where keyRing.key(for: id)!.byteCount != Self.keyByteCount {
      throw .invalidKeyConfiguration("key '\(id)' is not \(Self.keyByteCount) bytes")
    }
    self.keyRing = keyRing
  }

  public init(keys: [String: SymmetricKey], current: String) throws(CryptoError) {
    try self.init(keyRing: KeyRing(keys: keys, current: current, allowedKeyLengths: 32...32))
  }

  public init(keys: [String: [UInt8]], current: String) throws(CryptoError) {
    try self.init(keys: keys.mapValues { SymmetricKey(bytes: $0) }, current: current)
  }

  /// Keys from configuration text `k1:BASE64KEY,k2:BASE64KEY`.
  public init(keyConfiguration configuration: String, current: String) throws(CryptoError) {
    try self.init(
      keyRing: KeyRing(parsing: configuration, current: current, allowedKeyLengths: 32...32))
  }

  public var currentKeyID: String { keyRing.currentKeyID }

  /// The same keys, sealing with `keyID` from now on; envelopes under the other keys still open.
  public func rotated(to keyID: String) throws(CryptoError) -> Sealer {
    try Sealer(keyRing: keyRing.rotated(to: keyID))
  }

  /// Seals `plaintext` under the current key, bound to `associatedData`.
  public func seal(
    _ plaintext: some ContiguousBytes, associatedData: some ContiguousBytes
  ) throws(CryptoError) -> [UInt8] {
    let keyID = Array(currentKeyID.utf8)
    let header = [Self.envelopeVersion, UInt8(keyID.count)] + keyID
    let nonce = SecureRandom.bytes(AES256GCM.nonceByteCount)
    let sealed = try AES256GCM.seal(
      plaintext.withUnsafeBytes { Array($0) }, key: keyRing.currentKey.bytes, nonce: nonce,
      associatedData: header + associatedData.withUnsafeBytes { Array($0) })
    return header + nonce + sealed.ciphertext + sealed.tag
  }

  /// Opens an envelope made by `seal` under any key in the ring. Throws
  /// `.unsupportedEnvelopeVersion`, `.malformedEnvelope`, `.unknownKeyID`, or
  /// `.authenticationFailed` (altered bytes, wrong associated data); never returns partial data.
  public func open(
    _ envelope: some ContiguousBytes, associatedData: some ContiguousBytes
  ) throws(CryptoError) -> [UInt8] {
    let parsed = try Envelope(parsing: envelope.withUnsafeBytes { Array($0) })
    guard let key = keyRing.key(for: parsed.keyID) else { throw .unknownKeyID(parsed.keyID) }
    return try AES256GCM.open(
      parsed.ciphertext, tag: parsed.tag, key: key.bytes, nonce: parsed.nonce,
      associatedData: Array(parsed.header) + associatedData.withUnsafeBytes { Array($0) })
  }

  /// `seal` for text, returning the envelope as unpadded base64url (safe in JSON and SQL text).
  public func sealText(_ plaintext: String, associatedData: String) throws(CryptoError) -> String {
    Base64URL.encode(try seal(Array(plaintext.utf8), associatedData: Array(associatedData.utf8)))
  }

  /// Opens what `sealText` made. Throws `.malformedEnvelope` for non-base64url text and
  /// `.plaintextNotUTF8` if the sealed bytes are not text.
  public func openText(_ envelope: String, associatedData: String) throws(CryptoError) -> String {
    guard let bytes = Base64URL.decode(envelope) else { throw .malformedEnvelope("not base64url") }
    let plaintext = try open(bytes, associatedData: Array(associatedData.utf8))
    guard let text = String(validating: plaintext, as: UTF8.self) else { throw .plaintextNotUTF8 }
    return text
  }

  /// The key id an envelope names, without opening it (to find envelopes to re-seal after a
  /// rotation); `nil` if the envelope is malformed.
  public static func keyID(ofEnvelope envelope: some ContiguousBytes) -> String? {
    try? Envelope(parsing: envelope.withUnsafeBytes { Array($0) }).keyID
  }

  public var description: String { "Sealer(\(keyRing))" }
  public var debugDescription: String { description }
  public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }
}

/// The fields of a version-1 envelope, as slices of the input.
struct Envelope {
  var header: ArraySlice<UInt8>
  var keyID: String
  var nonce: ArraySlice<UInt8>
  var ciphertext: ArraySlice<UInt8>
  var tag: ArraySlice<UInt8>

  init(parsing bytes: [UInt8]) throws(CryptoError) {
    guard let version = bytes.first else { throw .malformedEnvelope("empty") }
    guard version == Sealer.envelopeVersion else { throw .unsupportedEnvelopeVersion(version) }
    guard bytes.count >= 2 else { throw .malformedEnvelope("truncated header") }
    let keyIDLength = Int(bytes[1])
    guard (1...32).contains(keyIDLength) else {
      throw .malformedEnvelope("key id length out of range")
    }
    let headerEnd = 2 + keyIDLength
    let nonceEnd = headerEnd + AES256GCM.nonceByteCount
    guard bytes.count >= nonceEnd + AES256GCM.tagByteCount else {
      throw .malformedEnvelope("truncated")
    }
    let keyIDBytes = bytes[2..<headerEnd]
    guard keyIDBytes.allSatisfy(KeyRing.isKeyIDCharacter) else {
      throw .malformedEnvelope("key id has characters outside [A-Za-z0-9_-]")
    }
    header = bytes[0..<headerEnd]
    keyID = String(decoding: keyIDBytes, as: UTF8.self)
    nonce = bytes[headerEnd..<nonceEnd]
    ciphertext = bytes[nonceEnd..<(bytes.count - AES256GCM.tagByteCount)]
    tag = bytes[(bytes.count - AES256GCM.tagByteCount)...]
  }
}
