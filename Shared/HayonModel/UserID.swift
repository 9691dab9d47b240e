/// The one rule for a Hayon user id, which every service checks on every request that names a
/// user: 1…64 characters of `[A-Za-z0-9_-]` (auth-service makes them 22 base64url characters).
/// Each contract's `Limits.userIdLength` is this `maximumLength`.
public enum UserID {
  public static let maximumLength = 64

  /// Inlinable so callers in other modules get it specialised for their string type (it runs on
  /// every request that names a user; the generic version was 3% of account-service's CPU).
  @inlinable
  public static func isValid(_ id: some StringProtocol) -> Bool {
    (1...maximumLength).contains(id.utf8.count)
      && id.utf8.allSatisfy { byte in
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
          UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"):
          true
        default: false
        }
      }
  }
}
