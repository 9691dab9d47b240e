@testable import HayonHTTP2
import Testing

@Suite("ByteQueue")
struct ByteQueueTests {
  @Test func appendsConsumesAndReadsInOrder() {
    var queue = ByteQueue()
    queue.append([1, 2, 3])
    queue.append([4, 5])
    #expect(queue.count == 5)
    var out = [UInt8](repeating: 0, count: 3)
    let read = out.withUnsafeMutableBytes { queue.read(into: $0.baseAddress!, max: 3) }
    #expect(read == 3 && out == [1, 2, 3])
    #expect(queue.withReadableBytes { Array($0) } == [4, 5])
    queue.consume(2)
    #expect(queue.isEmpty)
  }

  @Test func appendWithFillKeepsOnlyWrittenBytes() {
    var queue = ByteQueue()
    queue.append(count: 10) { raw in
      raw[0] = 9
      raw[1] = 8
      return 2
    }
    #expect(queue.withReadableBytes { Array($0) } == [9, 8])
  }

  @Test func compactsAfterLargeConsumption() {
    var queue = ByteQueue()
    let big = [UInt8](repeating: 1, count: 200_000)
    queue.append(big)
    queue.consume(150_000)
    queue.append([2])
    #expect(queue.count == 50_001)
    #expect(queue.withReadableBytes { $0.last } == 2)
  }
}
