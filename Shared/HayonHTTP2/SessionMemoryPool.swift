#if canImport(Glibc)
import Glibc
#endif
import CNghttp2

/// nghttp2's memory for one session: small blocks come from per-size free lists instead of
/// `malloc`. nghttp2 allocates and frees the same few shapes for every request (the stream, its
/// outbound frames, copies of header fields, decoded header values), about nine blocks a call,
/// and a free-list pop is a fraction of a `malloc`/`free` pair.
///
/// Each block starts with a 16-byte header holding its size class (so `free`, which is not told
/// the size, knows the list) and keeps `malloc`'s 16-byte alignment for what follows. Larger
/// blocks go to `malloc` as they are. Each list keeps at most `maxKeptPerClass` blocks, so the
/// pool holds at most a few hundred kilobytes whatever a peer does; the rest go back to `free`.
///
/// Not thread-safe and needs no lock: a session is only used on its connection's loop thread.
/// The pool must outlive the session (`drain` after `nghttp2_session_del`).
final class SessionMemoryPool {
  /// Payload sizes of the classes, smallest first.
  static let classSizes = [64, 128, 256, 512, 1024, 2048, 4096]
  static let maxKeptPerClass = 32
  private static let headerSize = 16
  private static let unpooled = -1

  // Plain memory rather than arrays: no uniqueness or bounds checks on the hot path.
  private let freeLists = UnsafeMutablePointer<UnsafeMutableRawPointer?>.allocate(capacity: classSizes.count)
  private let keptCounts = UnsafeMutablePointer<Int>.allocate(capacity: classSizes.count)
  /// Blocks handed out and not yet freed (for tests: nothing leaks).
  private(set) var outstanding = 0

  init() {
    freeLists.initialize(repeating: nil, count: Self.classSizes.count)
    keptCounts.initialize(repeating: 0, count: Self.classSizes.count)
  }

  /// Blocks kept on the free lists now.
  var keptBlocks: Int { (0..<Self.classSizes.count).reduce(0) { $0 + keptCounts[$1] } }

  @inline(__always)
  private static func sizeClass(for size: Int) -> Int {
    // Linear over seven entries: cheaper than a log2 for the sizes nghttp2 asks for.
    for index in 0..<classSizes.count where size <= classSizes[index] { return index }
    return unpooled
  }

  func allocate(_ size: Int) -> UnsafeMutableRawPointer? {
    let sizeClass = Self.sizeClass(for: size)
    let block: UnsafeMutableRawPointer
    if sizeClass != Self.unpooled, let head = freeLists[sizeClass] {
      freeLists[sizeClass] = head.load(fromByteOffset: Self.headerSize, as: UnsafeMutableRawPointer?.self)
      keptCounts[sizeClass] -= 1
      block = head
    } else {
      let payload = sizeClass == Self.unpooled ? size : Self.classSizes[sizeClass]
      guard let fresh = malloc(Self.headerSize + payload) else { return nil }
      block = fresh
      block.storeBytes(of: sizeClass, as: Int.self)
    }
    outstanding += 1
    return block + Self.headerSize
  }

  func deallocate(_ pointer: UnsafeMutableRawPointer?) {
    guard let pointer else { return }
    let block = pointer - Self.headerSize
    let sizeClass = block.load(as: Int.self)
    outstanding -= 1
    guard sizeClass != Self.unpooled, keptCounts[sizeClass] < Self.maxKeptPerClass else {
      free(block)
      return
    }
    block.storeBytes(of: freeLists[sizeClass], toByteOffset: Self.headerSize, as: UnsafeMutableRawPointer?.self)
    freeLists[sizeClass] = block
    keptCounts[sizeClass] += 1
  }

  func allocateZeroed(_ count: Int, _ size: Int) -> UnsafeMutableRawPointer? {
    let (total, overflow) = count.multipliedReportingOverflow(by: size)
    guard !overflow, let pointer = allocate(total) else { return nil }
    memset(pointer, 0, total)
    return pointer
  }

  func reallocate(_ pointer: UnsafeMutableRawPointer?, _ size: Int) -> UnsafeMutableRawPointer? {
    guard let pointer else { return allocate(size) }
    if size == 0 {
      deallocate(pointer)
      return nil
    }
    let block = pointer - Self.headerSize
    let sizeClass = block.load(as: Int.self)
    if sizeClass == Self.unpooled {
      guard let grown = realloc(block, Self.headerSize + size) else { return nil }
      return grown + Self.headerSize
    }
    let capacity = Self.classSizes[sizeClass]
    if size <= capacity { return pointer }
    guard let moved = allocate(size) else { return nil }
    moved.copyMemory(from: pointer, byteCount: capacity)
    deallocate(pointer)
    return moved
  }

  /// Frees every kept block. After `nghttp2_session_del`, which frees all the session's blocks.
  func drain() {
    for index in 0..<Self.classSizes.count {
      var next = freeLists[index]
      while let block = next {
        next = block.load(fromByteOffset: Self.headerSize, as: UnsafeMutableRawPointer?.self)
        free(block)
      }
      freeLists[index] = nil
      keptCounts[index] = 0
    }
  }

  deinit {
    drain()
    freeLists.deallocate()
    keptCounts.deallocate()
  }

  /// The allocator table for `nghttp2_session_*_new3`; nghttp2 copies it. The pool must stay
  /// alive as long as the session.
  var nghttp2Allocator: nghttp2_mem {
    nghttp2_mem(
      mem_user_data: Unmanaged.passUnretained(self).toOpaque(),
      malloc: { size, pool in withPool(pool) { $0.allocate(size) } },
      free: { pointer, pool in withPool(pool) { $0.deallocate(pointer) } },
      calloc: { count, size, pool in withPool(pool) { $0.allocateZeroed(count, size) } },
      realloc: { pointer, size, pool in withPool(pool) { $0.reallocate(pointer, size) } })
  }
}

/// The pool behind `mem_user_data`, borrowed for the call: the connection owns it.
@inline(__always)
private func withPool<Result>(_ userData: UnsafeMutableRawPointer?, _ body: (SessionMemoryPool) -> Result) -> Result {
  Unmanaged<SessionMemoryPool>.fromOpaque(userData!)._withUnsafeGuaranteedRef(body)
}
