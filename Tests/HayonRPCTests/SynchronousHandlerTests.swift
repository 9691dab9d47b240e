import HayonDiagnostics
import HayonHTTP2
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

  func registerMethods(with router: inout RPCRouter) {
    router.register(Answer.self, synchronous: { request, context in
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
