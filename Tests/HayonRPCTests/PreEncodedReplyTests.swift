import HayonDiagnostics
import HayonHTTP2
import Testing

@testable import HayonRPC

/// A service whose one method answers with a value and, beside it, JSON that differs from the
/// value's own encoding, so a test can tell which of the two went out.
struct PreEncodedService: RPCService {
  static let name = "hayon.test.v1.PreEncoded"
  static let kept = Array(#"{"message":"the kept encoding"}"#.utf8)
  var serviceName: String { Self.name }

  enum Answer: UnaryMethod {
    typealias Input = Diagnostics.EchoRequest
    typealias Output = Diagnostics.EchoResponse
    static let descriptor = MethodDescriptor(service: name, method: "Answer")
  }

  func registerMethods(with router: inout RPCRouter) {
    router.register(Answer.self, responding: { request, _ in
      UnaryReply(Diagnostics.EchoResponse(message: request.message), json: Self.kept)
    })
  }
}

/// JSON with a trailing space, so its output is told apart from `JSONMessageCodec`'s.
struct SpacedJSONCodec: MessageCodec {
  func encode<T: Encodable>(_ value: T) throws(RPCError) -> [UInt8] { try JSONMessageCodec().encode(value) + [0x20] }
  func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws(RPCError) -> T {
    try JSONMessageCodec().decode(type, from: bytes)
  }
}

@Suite("Handlers answering with a kept encoding")
struct PreEncodedReplyTests {
  @Test("JSON calls get the kept bytes as they are; another codec gets the value encoded")
  func keptEncodingOnlyForJSON() async throws {
    try await withTestServer(
      services: [PreEncodedService()], configure: { $0.codecs.register(SpacedJSONCodec(), forSubtype: "spaced") }
    ) { _, address in
      let json = try makeClient(address)
      let plain = try await json.callReturningJSON(PreEncodedService.Answer.self, .init(message: "fresh"))
      #expect(plain == PreEncodedService.kept)
      let spaced = try makeClient(address) { $0.contentType = "application/grpc+spaced" }
      let other = try await spaced.callReturningJSON(PreEncodedService.Answer.self, .init(message: "fresh"))
      #expect(other == (try JSONMessageCodec().encode(Diagnostics.EchoResponse(message: "fresh"))) + [0x20])
    }
  }

  @Test("without a kept encoding the value is encoded per call")
  func valueOnly() throws {
    let reply = UnaryReply(Diagnostics.EchoResponse(message: "x"))
    #expect(reply.json == nil)
    #expect(reply.value == Diagnostics.EchoResponse(message: "x"))
  }
}
