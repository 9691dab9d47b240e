import HayonRPC
import Synchronization

/// A test-only service that reports what its handlers saw: metadata, deadlines, cancellation,
/// and a method that fails with UNAVAILABLE a set number of times (for retry tests).
final class ProbeService: RPCService, Sendable {
  static let name = "hayon.test.v1.Probe"
  var serviceName: String { Self.name }

  struct Empty: Codable, Sendable, Hashable {}
  struct Seen: Codable, Sendable, Hashable {
    var metadata: [String: String]
    var hasDeadline: Bool
    var deadlineMilliseconds: Int?
  }
  struct FlakyRequest: Codable, Sendable { var failures: Int }
  struct FlakyResponse: Codable, Sendable { var attempts: Int }

  enum Inspect: UnaryMethod {
    typealias Input = Empty
    typealias Output = Seen
    static let descriptor = MethodDescriptor(service: name, method: "Inspect")
  }
  /// Blocks until cancelled; reports start and cancellation through `events`.
  enum Block: UnaryMethod {
    typealias Input = Empty
    typealias Output = Empty
    static let descriptor = MethodDescriptor(service: name, method: "Block")
  }
  /// Reports start, then finishes normally after 300 ms.
  enum Pause: UnaryMethod {
    typealias Input = Empty
    typealias Output = Empty
    static let descriptor = MethodDescriptor(service: name, method: "Pause")
  }
  enum FlakyIdempotent: UnaryMethod {
    typealias Input = FlakyRequest
    typealias Output = FlakyResponse
    static let descriptor = MethodDescriptor(service: name, method: "FlakyIdempotent", isIdempotent: true)
  }
  enum FlakyNotIdempotent: UnaryMethod {
    typealias Input = FlakyRequest
    typealias Output = FlakyResponse
    static let descriptor = MethodDescriptor(service: name, method: "FlakyNotIdempotent")
  }
  enum FailsWithAborted: UnaryMethod {
    typealias Input = FlakyRequest
    typealias Output = FlakyResponse
    static let descriptor = MethodDescriptor(service: name, method: "FailsWithAborted", isIdempotent: true)
  }
  /// Throws a plain Swift error carrying a secret, to check nothing leaks.
  enum Crash: UnaryMethod {
    typealias Input = Empty
    typealias Output = Empty
    static let descriptor = MethodDescriptor(service: name, method: "Crash")
  }

  /// Streams `count` messages of about 1 KiB, counting each completed write in `written`.
  enum Flood: ServerStreamingMethod {
    typealias Input = FlakyRequest
    typealias Output = Blob
    static let descriptor = MethodDescriptor(service: name, method: "Flood")
  }
  struct Blob: Codable, Sendable { var index: Int; var filler: String }

  /// Succeeds, but asks for 100 KB of trailing metadata: more than a header block can carry.
  enum HugeTrailers: UnaryMethod {
    typealias Input = Empty
    typealias Output = Empty
    static let descriptor = MethodDescriptor(service: name, method: "HugeTrailers")
  }

  enum Event: Sendable, Equatable { case started, cancelled }
  let written = Atomic<Int>(0)

  let events: AsyncStream<Event>
  private let continuation: AsyncStream<Event>.Continuation
  let attempts = Atomic<Int>(0)

  init() {
    (events, continuation) = AsyncStream<Event>.makeStream()
  }

  /// Waits for the next event, failing after `timeout` so a broken test can never hang.
  func nextEvent(timeout: Duration = .seconds(10)) async -> Event? {
    await withTaskGroup(of: Event?.self) { group in
      group.addTask { [events] in
        for await event in events { return event }
        return nil
      }
      group.addTask {
        try? await Task.sleep(for: timeout)
        return nil
      }
      let first = await group.next() ?? nil
      group.cancelAll()
      return first
    }
  }

  func registerMethods(with router: inout RPCRouter) {
    router.register(Inspect.self) { _, context in
      context.addInitialMetadata("x-initial", "hello")
      context.addTrailingMetadata("x-trailing", "bye")
      var seen: [String: String] = [:]
      for entry in context.metadata { seen[entry.name] = entry.value }
      let remaining = context.deadline.map { ($0 - .now).components.seconds * 1000 + Int64(($0 - .now).components.attoseconds / 1_000_000_000_000_000) }
      return Seen(metadata: seen, hasDeadline: context.deadline != nil, deadlineMilliseconds: remaining.map(Int.init))
    }
    router.register(Block.self) { [continuation] _, _ in
      continuation.yield(.started)
      do {
        try await Task.sleep(for: .seconds(60))
      } catch {
        continuation.yield(.cancelled)
        throw error
      }
      return Empty()
    }
    router.register(Pause.self) { [continuation] _, _ in
      continuation.yield(.started)
      try await Task.sleep(for: .milliseconds(300))
      return Empty()
    }
    router.register(FlakyIdempotent.self) { [self] request, _ in try flaky(request) }
    router.register(FlakyNotIdempotent.self) { [self] request, _ in try flaky(request) }
    router.register(FailsWithAborted.self) { [self] _, _ in
      attempts.add(1, ordering: .relaxed)
      throw RPCError(.aborted, "conflict")
    }
    router.register(Flood.self) { [self] request, _, writer in
      let filler = String(repeating: "x", count: 1000)
      for index in 0..<request.failures {
        try await writer.write(Blob(index: index, filler: filler))
        written.add(1, ordering: .relaxed)
      }
    }
    router.register(HugeTrailers.self) { _, context in
      context.addTrailingMetadata("x-huge", String(repeating: "h", count: 100_000))
      return Empty()
    }
    router.register(Crash.self) { _, _ in
      struct Internal: Error { var secret = "hunter2-secret" }
      throw Internal()
    }
  }

  private func flaky(_ request: FlakyRequest) throws -> FlakyResponse {
    let attempt = attempts.add(1, ordering: .relaxed).newValue
    if attempt <= request.failures { throw RPCError(.unavailable, "try again (attempt \(attempt))") }
    return FlakyResponse(attempts: attempt)
  }
}
