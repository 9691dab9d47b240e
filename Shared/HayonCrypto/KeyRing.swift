/// Named keys with one current key: the current key makes new seals and signatures, any key in
/// the ring still opens or verifies what it made, so keys can rotate without breaking old data.
///
/// Configuration form: `k1:BASE64KEY,k2:BASE64KEY` (standard or URL-safe base64, padding
/// optional). Key ids are 1–32 characters of `[A-Za-z0-9_-]`.
public struct KeyRing: Sendable, CustomStringConvertible, CustomDebugStringConvertible,
  CustomReflectable
{
  public let currentKeyID: String
  private let keys: [String: SymmetricKey]

  /// Builds a ring, checking ids, that `current` is present, and every key's length.
  public init(
    keys: [String: SymmetricKey], current: String, allowedKeyLengths: ClosedRange<Int>
  ) throws(CryptoError) {
    guard !keys.isEmpty else { throw .invalidKeyConfiguration("no keys") }
    for (id, key) in keys.sorted(by: { $0.key < $1.key }) {
      guard Self.isValidKeyID(id) else {
        throw .invalidKeyConfiguration(
          "key id '\(sanitizedForError(id))' is not 1-32 characters of [A-Za-z0-9_-]")
      }
      guard allowedKeyLengths.contains(key.byteCount) else {
        let expected =
          allowedKeyLengths.count == 1 ? "\(allowedKeyLengths.lowerBound)" : "\(allowedKeyLengths)"
        throw .invalidKeyConfiguration(
          "key '\(id)' is \(key.byteCount) bytes; expected \(expected)")
      }
    }
    guard keys[current] != nil else {
      throw .invalidKeyConfiguration(
        "current key id '\(sanitizedForError(current))' is not among the keys")
    }
    self.keys = keys
    self.currentKeyID = current
  }

  /// Parses `id:base64,id:base64`; whitespace around entries is ignored. Errors name the entry
  /// and key id but never include key text.
  public init(
    parsing configuration: String, current: String, allowedKeyLengths: ClosedRange<Int>
  ) throws(CryptoError) {
    var keys: [String: SymmetricKey] = [:]
    let entries = configuration.split(separator: ",", omittingEmptySubsequences: false)
    for (index, rawEntry) in entries.enumerated() {
      let entry = rawEntry.trimmingASCIIWhitespace()
      guard let colon = entry.firstIndex(of: ":") else {
        throw .invalidKeyConfiguration("entry \(index + 1) is not id:base64key")
      }
      let id = String(entry[..<colon])
      guard Self.isValidKeyID(id) else {
        throw .invalidKeyConfiguration(
          "entry \(index + 1): key id is not 1-32 characters of [A-Za-z0-9_-]")
      }
      guard keys[id] == nil else { throw .invalidKeyConfiguration("key id '\(id)' appears twice") }
      guard let bytes = Base64URL.decodeLenient(entry[entry.index(after: colon)...]) else {
        throw .invalidKeyConfiguration("key '\(id)' is not valid base64")
      }
      keys[id] = SymmetricKey(bytes: bytes)
    }
    try self.init(keys: keys, current: current, allowedKeyLengths: allowedKeyLengths)
  }

  /// The same keys with `keyID` as the current key.
  public func rotated(to keyID: String) throws(CryptoError) -> KeyRing {
    guard keys[keyID] != nil else {
      throw .invalidKeyConfiguration("key id '\(sanitizedForError(keyID))' is not among the keys")
    }
    return KeyRing(keys: keys, currentKeyID: keyID)
  }

  private init(keys: [String: SymmetricKey], currentKeyID: String) {
    self.keys = keys
    self.currentKeyID = currentKeyID
  }

  public var keyIDs: [String] { keys.keys.sorted() }
  var currentKey: SymmetricKey { keys[currentKeyID]! }
  func key(for id: String) -> SymmetricKey? { keys[id] }

  /// Whether `id` is 1–32 characters of `[A-Za-z0-9_-]`.
  public static func isValidKeyID(_ id: some StringProtocol) -> Bool {
    (1...32).contains(id.utf8.count) && id.utf8.allSatisfy(isKeyIDCharacter)
  }

  static func isKeyIDCharacter(_ character: UInt8) -> Bool {
    switch character {
    case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
      UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "-"):
      true
    default:
      false
    }
  }

  public var description: String {
    "KeyRing(current: \(currentKeyID), ids: \(keyIDs), keys redacted)"
  }
  public var debugDescription: String { description }
  public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }
}

extension Substring {
  func trimmingASCIIWhitespace() -> Substring {
    let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
    var result = self
    while let first = result.first, isSpace(first) { result.removeFirst() }
    while let last = result.last, isSpace(last) { result.removeLast() }
    return result
  }
}
