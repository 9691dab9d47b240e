@testable import HayonHTTP2
import Testing

@Suite("SessionMemoryPool")
struct SessionMemoryPoolTests {
  private func fill(_ pointer: UnsafeMutableRawPointer, _ count: Int, seed: UInt8) {
    for index in 0..<count { pointer.storeBytes(of: seed &+ UInt8(truncatingIfNeeded: index), toByteOffset: index, as: UInt8.self) }
  }

  private func holds(_ pointer: UnsafeMutableRawPointer, _ count: Int, seed: UInt8) -> Bool {
    (0..<count).allSatisfy { pointer.load(fromByteOffset: $0, as: UInt8.self) == seed &+ UInt8(truncatingIfNeeded: $0) }
  }

  @Test("blocks of every size hold their bytes independently, are 16-byte aligned, and all come back")
  func blocksAreIndependent() throws {
    let pool = SessionMemoryPool()
    let sizes = [0, 1, 15, 16, 63, 64, 65, 200, 1000, 4096, 4097, 100_000]
    var blocks: [(UnsafeMutableRawPointer, Int, UInt8)] = []
    for round in 0..<3 {
      for (index, size) in sizes.enumerated() {
        let pointer = try #require(pool.allocate(size))
        #expect(UInt(bitPattern: pointer) % 16 == 0)
        let seed = UInt8(truncatingIfNeeded: round * 31 + index)
        fill(pointer, size, seed: seed)
        blocks.append((pointer, size, seed))
      }
    }
    #expect(Set(blocks.map(\.0)).count == blocks.count, "no block handed out twice")
    for (pointer, size, seed) in blocks { #expect(holds(pointer, size, seed: seed)) }
    #expect(pool.outstanding == blocks.count)
    for (pointer, _, _) in blocks { pool.deallocate(pointer) }
    #expect(pool.outstanding == 0)
    pool.deallocate(nil)
    #expect(pool.outstanding == 0)
  }

  @Test("a freed block is reused for the next request of its class; at most maxKeptPerClass are kept")
  func reuseAndBound() throws {
    let pool = SessionMemoryPool()
    let first = try #require(pool.allocate(100))
    pool.deallocate(first)
    #expect(pool.keptBlocks == 1)
    let second = try #require(pool.allocate(120))  // the same 128-byte class
    #expect(second == first)
    pool.deallocate(second)

    let many = (0..<(SessionMemoryPool.maxKeptPerClass + 10)).compactMap { _ in pool.allocate(100) }
    for pointer in many { pool.deallocate(pointer) }
    #expect(pool.keptBlocks == SessionMemoryPool.maxKeptPerClass)
    let large = try #require(pool.allocate(50_000))
    pool.deallocate(large)
    #expect(pool.keptBlocks == SessionMemoryPool.maxKeptPerClass, "blocks past the largest class are not kept")
    pool.drain()
    #expect(pool.keptBlocks == 0)
    #expect(pool.outstanding == 0)
  }

  @Test("calloc zeroes, even a reused block, and refuses an overflowing size")
  func zeroed() throws {
    let pool = SessionMemoryPool()
    let dirty = try #require(pool.allocate(256))
    fill(dirty, 256, seed: 0xAB)
    pool.deallocate(dirty)
    let clean = try #require(pool.allocateZeroed(16, 16))
    #expect(clean == dirty)
    #expect((0..<256).allSatisfy { clean.load(fromByteOffset: $0, as: UInt8.self) == 0 })
    pool.deallocate(clean)
    #expect(pool.allocateZeroed(Int.max / 2, 4) == nil)
    #expect(pool.outstanding == 0)
  }

  @Test("realloc keeps the contents when it grows within and across classes, and past the largest")
  func reallocation() throws {
    let pool = SessionMemoryPool()
    var pointer = try #require(pool.reallocate(nil, 40))
    fill(pointer, 40, seed: 7)
    let same = try #require(pool.reallocate(pointer, 64))
    #expect(same == pointer, "growing within the class keeps the block")
    pointer = try #require(pool.reallocate(same, 3000))
    #expect(holds(pointer, 40, seed: 7))
    fill(pointer, 3000, seed: 9)
    pointer = try #require(pool.reallocate(pointer, 20_000))
    #expect(holds(pointer, 3000, seed: 9))
    pointer = try #require(pool.reallocate(pointer, 40_000))
    #expect(holds(pointer, 3000, seed: 9))
    #expect(pool.outstanding == 1)
    #expect(pool.reallocate(pointer, 0) == nil)
    #expect(pool.outstanding == 0)
  }
}
