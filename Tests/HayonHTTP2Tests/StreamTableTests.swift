@testable import HayonHTTP2
import Testing

@Suite("StreamTable")
struct StreamTableTests {
  final class Box {
    let id: Int32
    init(_ id: Int32) { self.id = id }
  }

  private func contents(_ table: StreamTable<Box>) -> [Int32: Int32] {
    var result: [Int32: Int32] = [:]
    for (key, value) in table {
      #expect(result[key] == nil, "key \(key) iterated twice")
      result[key] = value.id
    }
    return result
  }

  @Test func insertsFindsReplacesAndRemoves() {
    var table = StreamTable<Box>()
    #expect(table.isEmpty)
    #expect(table[1] == nil)
    table[1] = Box(10)
    table[3] = Box(30)
    #expect(table.count == 2)
    #expect(table[1]?.id == 10)
    #expect(table[3]?.id == 30)
    #expect(table[5] == nil)
    table[1] = Box(11)
    #expect(table.count == 2)
    #expect(table[1]?.id == 11)
    #expect(table.removeValue(forKey: 1)?.id == 11)
    #expect(table.removeValue(forKey: 1) == nil)
    #expect(table[1] == nil)
    #expect(table[3]?.id == 30)
    table[3] = nil
    #expect(table.isEmpty)
    #expect(contents(table).isEmpty)
  }

  @Test func idZeroIsNeverAStream() {
    var table = StreamTable<Box>()
    #expect(table[0] == nil)
    #expect(table.removeValue(forKey: 0) == nil)
  }

  /// Ids that share a home slot (the table has 32 slots at first, so 1 and 65 collide) and runs
  /// that wrap around the end: removal must keep every other entry reachable.
  @Test func collidingIdsStayReachableAcrossRemovals() {
    var table = StreamTable<Box>(capacity: 16)
    let ids: [Int32] = [1, 65, 129, 3, 67, 63, 127, 191, 61]
    for id in ids { table[id] = Box(id) }
    for removed in ids {
      table[removed] = nil
      #expect(table[removed] == nil)
      let remaining = ids.drop { $0 != removed }.dropFirst()
      for id in remaining { #expect(table[id]?.id == id, "lost \(id) after removing \(removed)") }
    }
    #expect(table.isEmpty)
  }

  /// The same random operations on a Dictionary and on the table give the same contents, through
  /// several growths, with ids as a peer opens them (odd, rising) and closes them (any order).
  @Test func agreesWithADictionaryUnderRandomOperations() {
    var generator = SplitMix(seed: 0x5eed)
    var table = StreamTable<Box>(capacity: 4)
    var reference: [Int32: Int32] = [:]
    var nextID: Int32 = 1
    for step in 0..<20_000 {
      let roll = generator.next() % 100
      if roll < 55 || reference.isEmpty {
        table[nextID] = Box(nextID)
        reference[nextID] = nextID
        nextID += 2
      } else if roll < 95 {
        let keys = Array(reference.keys)
        let victim = keys[Int(generator.next() % UInt64(keys.count))]
        #expect(table.removeValue(forKey: victim)?.id == victim)
        reference[victim] = nil
      } else {
        let probe = Int32(generator.next() % UInt64(nextID + 4)) | 1
        #expect(table[probe]?.id == reference[probe])
      }
      #expect(table.count == reference.count)
      if step % 1000 == 0 { #expect(contents(table) == reference) }
    }
    #expect(contents(table) == reference)
    table.removeAll()
    #expect(table.isEmpty)
    #expect(contents(table).isEmpty)
  }
}

/// A small deterministic generator, so a failure repeats.
private struct SplitMix {
  var state: UInt64
  init(seed: UInt64) { state = seed }
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}
