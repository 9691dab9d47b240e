/// A connection's open streams by id. Every request looks its stream up half a dozen times
/// (headers, data, reply, data provider, end of stream, close), and a `Dictionary` hashes each
/// key with SipHash; stream ids need none of that. They are positive, and one side's ids go up
/// by two, so `id >> 1` spreads the open ones over consecutive slots of a power-of-two table with
/// linear probing.
///
/// Removal shifts the following entries of the probe run back (no tombstones), so lookups stay
/// short however many streams come and go. At most half full: it doubles before that.
struct StreamTable<Value: AnyObject>: Sequence {
  /// 0 marks an empty slot: no stream has id 0.
  private var keys: [Int32]
  private var values: [Value?]
  private(set) var count = 0

  init(capacity: Int = 16) {
    var size = 8
    while size < capacity * 2 { size *= 2 }
    keys = Array(repeating: 0, count: size)
    values = Array(repeating: nil, count: size)
  }

  var isEmpty: Bool { count == 0 }

  private var mask: Int { keys.count - 1 }

  @inline(__always)
  private func home(_ key: Int32) -> Int { Int(truncatingIfNeeded: key >> 1) & mask }

  @inline(__always)
  private func slot(of key: Int32) -> Int? {
    var index = home(key)
    while true {
      let found = keys[index]
      if found == key { return index }
      if found == 0 { return nil }
      index = (index + 1) & mask
    }
  }

  subscript(key: Int32) -> Value? {
    get {
      guard key != 0, let index = slot(of: key) else { return nil }
      return values[index]
    }
    set {
      precondition(key != 0, "stream id 0 is the connection, not a stream")
      if let newValue { insert(newValue, for: key) } else { removeValue(forKey: key) }
    }
  }

  private mutating func insert(_ value: Value, for key: Int32) {
    if let index = slot(of: key) {
      values[index] = value
      return
    }
    if (count + 1) * 2 > keys.count { grow() }
    var index = home(key)
    while keys[index] != 0 { index = (index + 1) & mask }
    keys[index] = key
    values[index] = value
    count += 1
  }

  @discardableResult
  mutating func removeValue(forKey key: Int32) -> Value? {
    guard key != 0, var hole = slot(of: key) else { return nil }
    let removed = values[hole]
    keys[hole] = 0
    values[hole] = nil
    count -= 1
    // Backward shift: an entry later in the run moves into the hole unless that would put it
    // before its home slot, so every entry stays reachable from its home without gaps.
    var next = (hole + 1) & mask
    while keys[next] != 0 {
      let distanceFromHome = (next - home(keys[next])) & mask
      let distanceToHole = (next - hole) & mask
      if distanceFromHome >= distanceToHole {
        keys[hole] = keys[next]
        values[hole] = values[next]
        keys[next] = 0
        values[next] = nil
        hole = next
      }
      next = (next + 1) & mask
    }
    return removed
  }

  mutating func removeAll() {
    for index in keys.indices where keys[index] != 0 {
      keys[index] = 0
      values[index] = nil
    }
    count = 0
  }

  private mutating func grow() {
    let old = zip(keys, values)
    var bigger = StreamTable(capacity: keys.count)
    for (key, value) in old where key != 0 { bigger.insert(value!, for: key) }
    self = bigger
  }

  func makeIterator() -> some IteratorProtocol<(key: Int32, value: Value)> {
    zip(keys, values).lazy.compactMap { key, value in key == 0 ? nil : (key: key, value: value!) }.makeIterator()
  }
}
