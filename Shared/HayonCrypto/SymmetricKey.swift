/// Secret key bytes. Every textual form (`description`, `debugDescription`, `dump`, string
/// interpolation) is redacted, so a key can't leak through logging or error messages.
public struct SymmetricKey: Sendable, CustomStringConvertible, CustomDebugStringConvertible,
  CustomReflectable
{
  let bytes: [UInt8]

  public init(bytes: some Sequence<UInt8>) { self.bytes = Array(bytes) }

  /// A new random key; 32 bytes suit both AES-256-GCM and HMAC-SHA256.
  public static func random(byteCount: Int = 32) -> SymmetricKey {
    SymmetricKey(bytes: SecureRandom.bytes(byteCount))
  }

  public var byteCount: Int { bytes.count }
  public var description: String { "SymmetricKey(\(bytes.count) bytes, redacted)" }
  public var debugDescription: String { description }
  public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }
}
