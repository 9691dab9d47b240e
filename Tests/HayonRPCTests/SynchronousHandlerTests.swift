import HayonDiagnostics
import HayonHTTP2
import Synchronization
import Testing

@testable import HayonRPC

/// A service whose one method is registered as synchronous: it sees the caller's metadata, adds
/// response metadata, and fails with the status the request names.
struct SynchronousService: RPCService {
  static let name = "hayon.test.v1.Synchronous"
  var serviceName: String { Self.name }

  enum Answer: UnaryMethod {
    typealias Input = Diagnostics.FailRequest
    typealias Output = Diagnostics.EchoResponse
    static let descriptor = MethodDescriptor(service: name, method: "Answer")
  }

  /// Contexts of "keep" calls, held past their call (as a handler that hands its context on may).
  static let keptContexts = Mutex<[ServerContext]>([])

  func registerMethods(with router: inout RPCRouter) {
    router.register(Answer.self, synchronous: { request, context in
      if request.message.hasPrefix("keep") { Self.keptContexts.withLock { $0.append(context) } }
      context.addInitialMetadata("x-seen", context.metadata["x-caller"] ?? "none")
      context.addTrailingMetadata("x-done", "yes")
      if request.code != 0 {
        throw RPCError(RPCStatusCode(rawValue: request.code) ?? .unknown, request.message)
      }
      return Diagnostics.EchoResponse(message: request.message)
    })
  }
}

@Suite("Synchronous handlers")
struct SynchronousHandlerTests {
  @Test("answered with the message, the caller's metadata seen, and both metadata blocks sent")
  func answersWithMessageAndMetadata() async throws {
    try await withTestServer(services: [SynchronousService()]) { _, address in
      let client = try makeClient(address)
      let response = try await client.callWithMetadata(
        SynchronousService.Answer.self, Diagnostics.FailRequest(code: 0, message: "sync hello"),
        options: CallOptions(metadata: ["x-caller": "test"]))
      #expect(response.message == Diagnostics.EchoResponse(message: "sync hello"))
      #expect(response.initialMetadata["x-seen"] == "test")
      #expect(response.trailingMetadata["x-done"] == "yes")
    }
  }

  @Test("a thrown error is the call's status, with the handler's metadata in the trailers")
  func thrownErrorBecomesTheStatus() async throws {
    try await withTestServer(services: [SynchronousService()]) { _, address in
      let client = try makeClient(address)
      let error = await expectRPCError(.failedPrecondition) {
        _ = try await client.call(SynchronousService.Answer.self, Diagnostics.FailRequest(code: 9, message: "not now"))
      }
      #expect(error?.message == "not now")
      #expect(error?.metadata["x-done"] == "yes")
    }
  }

  /// A connection reuses the state of closed streams for new ones: nothing of an earlier call
  /// (its trailers, metadata, whether it finished) may show in a later one on the same connection.
  @Test("calls of every shape in turn on one connection each get exactly their own response")
  func callsOnOneConnectionDoNotLeakIntoEachOther() async throws {
    try await withTestServer(services: [DiagnosticsService(), SynchronousService()]) { server, address in
      let client = try makeClient(address)
      for round in 0..<20 {
        let plain = try await client.callWithMetadata(
          Diagnostics.Method.Echo.self, Diagnostics.EchoRequest(message: "plain \(round)"))
        #expect(plain.message == Diagnostics.EchoResponse(message: "plain \(round)"))
        #expect(plain.trailingMetadata["x-done"] == nil)
        #expect(plain.initialMetadata["x-seen"] == nil)

        let answered = try await client.callWithMetadata(
          SynchronousService.Answer.self, Diagnostics.FailRequest(code: 0, message: "answer \(round)"),
          options: CallOptions(metadata: ["x-caller": "r\(round)"]))
        #expect(answered.message == Diagnostics.EchoResponse(message: "answer \(round)"))
        #expect(answered.initialMetadata["x-seen"] == "r\(round)")
        #expect(answered.trailingMetadata["x-done"] == "yes")

        let error = await expectRPCError(.notFound) {
          _ = try await client.call(SynchronousService.Answer.self, Diagnostics.FailRequest(code: 5, message: "gone \(round)"))
        }
        #expect(error?.message == "gone \(round)")
        #expect(error?.metadata["x-seen"] == "none", "the previous call's metadata is not this one's")

        // A handler that keeps its context: the next call must not get (and change) that one.
        _ = try await client.call(
          SynchronousService.Answer.self, Diagnostics.FailRequest(code: 0, message: "keep \(round)"),
          options: CallOptions(metadata: ["x-caller": "kept \(round)"]))
        let after = try await client.callWithMetadata(
          SynchronousService.Answer.self, Diagnostics.FailRequest(code: 0, message: "after \(round)"),
          options: CallOptions(metadata: ["x-caller": "after \(round)"]))
        #expect(after.initialMetadata["x-seen"] == "after \(round)")
        let kept = SynchronousService.keptContexts.withLock { $0.last }
        #expect(kept?.metadata["x-caller"] == "kept \(round)")
        #expect(kept?.response.withLock { $0.initial["x-seen"] } == "kept \(round)")

        let streamed = Mutex<[Diagnostics.ExpandResponse]>([])
        let trailing = try await client.serverStream(
          Diagnostics.Method.Expand.self, Diagnostics.ExpandRequest(message: "s\(round)", count: round % 4)
        ) { message in streamed.withLock { $0.append(message) } }
        #expect(streamed.withLock { $0 }.map(\.index) == Array(0..<(round % 4)))
        #expect(trailing["x-done"] == nil)
      }
      #expect(server.connectionCount == 1, "every call went over the one connection")
    }
  }

  @Test("the same checks as any call come first: no credential, no call")
  func credentialsAreStillRequired() async throws {
    try await withTestServer(services: [SynchronousService()]) { _, address in
      let client = try makeClient(address, token: nil)
      await expectRPCError(.unauthenticated) {
        _ = try await client.call(SynchronousService.Answer.self, Diagnostics.FailRequest(code: 0, message: "x"))
      }
    }
  }
}
