#if canImport(Glibc)
import Glibc
#endif

/// The header names and values a connection saw recently, as Strings, handed out again when the
/// same bytes arrive. A peer sends the same few fields on every request (`:path`, `content-type`,
/// `authorization`, `user-agent`…; HPACK makes repeating them free on the wire), and decoding a
/// fresh String for each one (allocate, copy, validate UTF-8) was a measurable share of a call.
/// A hit costs one `memcmp` and a retain.
///
/// Two-way: a text's home slot comes from a hash of its length and ends, and it may also sit in
/// the neighbouring slot, so two common fields that share a home do not evict each other on every
/// request. A miss moves the home slot's text next door and takes its place; fields that change
/// on every request (request ids) cost no more than decoding them.
///
/// Bounded like HPACK's own table: at most `byteBudget` bytes of text are kept, so a peer that
/// sends many distinct values cannot make a connection hold more than that. Loop-confined, like
/// the connection that owns it.
struct HeaderTextCache {
  /// Longer texts are decoded every time: they are rarely repeated and a compare is not free.
  static let maxCachedLength = 256
  /// Text bytes kept at most (HPACK's default dynamic table is the same size).
  static let byteBudget = 4096
  private static let slotBits = 7
  private static let slotCount = 1 << slotBits

  private var slots: [String?] = Array(repeating: nil, count: HeaderTextCache.slotCount)
  private var storedBytes = 0

  /// Bytes of text held now (never more than `byteBudget`).
  var heldBytes: Int { storedBytes }

  /// Shorter texts fit in a String's inline storage, so decoding them allocates nothing and is
  /// cheaper than a lookup.
  static let minCachedLength = 16

  mutating func text(for bytes: UnsafeRawBufferPointer) -> String {
    let count = bytes.count
    guard count >= Self.minCachedLength, count <= Self.maxCachedLength, let base = bytes.baseAddress else {
      return String(decoding: bytes, as: UTF8.self)
    }
    let slot = Self.slot(base, count)
    if let cached = slots[slot], Self.same(cached, base, count) { return cached }
    let neighbour = slot ^ 1
    if let cached = slots[neighbour], Self.same(cached, base, count) { return cached }
    let text = String(decoding: bytes, as: UTF8.self)
    let evicted = slots[neighbour]?.utf8.count ?? 0
    let added = text.utf8.count
    guard storedBytes - evicted + added <= Self.byteBudget else { return text }
    storedBytes += added - evicted
    slots[neighbour] = slots[slot]
    slots[slot] = text
    return text
  }

  /// The home slot: the length and the first and last eight bytes, mixed by a multiply,
  /// so texts that share a length or an edge (`application/grpc`, `Bearer …`, `/pkg.Svc/Method`)
  /// still spread out.
  @inline(__always)
  private static func slot(_ base: UnsafeRawPointer, _ count: Int) -> Int {
    // Cached texts are at least 16 bytes long, so both eight-byte loads are in bounds.
    let head = base.loadUnaligned(as: UInt64.self)
    let tail = base.loadUnaligned(fromByteOffset: count - 8, as: UInt64.self)
    let mixed = (head &* 0x9E37_79B9_7F4A_7C15) ^ (tail &* 0xC2B2_AE3D_27D4_EB4F) ^ UInt64(count)
    return Int(truncatingIfNeeded: (mixed &* 0x9E37_79B9_7F4A_7C15) >> UInt64(64 - slotBits))
  }

  /// True when `text` is exactly these bytes. Only texts decoded from valid UTF-8 are cached
  /// (invalid input is repaired on decoding, and the repaired text never equals the input).
  private static func same(_ text: String, _ bytes: UnsafeRawPointer, _ count: Int) -> Bool {
    text.utf8.withContiguousStorageIfAvailable { utf8 in
      utf8.count == count && memcmp(utf8.baseAddress!, bytes, count) == 0
    } ?? false
  }
}
