/// A growable FIFO of bytes with a read index, compacted lazily so appends and partial reads stay
/// cheap. Value type; owned by one connection or stream.
package struct ByteQueue {
  package init() {}
  private var storage: [UInt8] = []
  private var readIndex = 0

  package var count: Int { storage.count - readIndex }
  package var isEmpty: Bool { storage.count == readIndex }

  package mutating func append(_ bytes: UnsafeRawBufferPointer) {
    storage.append(contentsOf: bytes)
  }

  package mutating func append(_ bytes: [UInt8]) {
    // An empty queue takes the array itself (a whole response body, usually): no copy.
    if storage.isEmpty && storage.capacity == 0 {
      storage = bytes
      return
    }
    storage.append(contentsOf: bytes)
  }

  /// Appends up to `count` bytes written by `fill`, which returns how many it wrote.
  package mutating func append(count: Int, _ fill: (UnsafeMutableRawBufferPointer) -> Int) {
    let start = storage.count
    storage.append(contentsOf: repeatElement(0, count: count))
    let written = storage.withUnsafeMutableBytes { raw in
      fill(UnsafeMutableRawBufferPointer(rebasing: raw[start..<(start + count)]))
    }
    storage.removeLast(count - max(0, min(written, count)))
  }

  package func withReadableBytes<T>(_ body: (UnsafeRawBufferPointer) throws -> T) rethrows -> T {
    try storage.withUnsafeBytes { raw in try body(UnsafeRawBufferPointer(rebasing: raw[readIndex...])) }
  }

  package mutating func consume(_ count: Int) {
    readIndex += count
    if readIndex == storage.count {
      storage.removeAll(keepingCapacity: storage.capacity <= 1 << 20)
      readIndex = 0
    } else if readIndex > 64 * 1024 && readIndex * 2 > storage.count {
      storage.removeFirst(readIndex)
      readIndex = 0
    }
  }

  /// Copies up to `max` bytes into `destination` and consumes them.
  package mutating func read(into destination: UnsafeMutableRawPointer, max: Int) -> Int {
    let count = Swift.min(max, self.count)
    guard count > 0 else { return 0 }
    storage.withUnsafeBytes { raw in
      destination.copyMemory(from: raw.baseAddress! + readIndex, byteCount: count)
    }
    consume(count)
    return count
  }
}
