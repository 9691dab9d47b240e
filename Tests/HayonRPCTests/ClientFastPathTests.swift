import HayonDiagnostics
import Testing

@testable import HayonHTTP2
@testable import HayonRPC

@Suite("RPC client: forwarded JSON, a connection per event loop")
struct ClientFastPathTests {
  @Test("callReturningJSON hands back exactly the server's message bytes")
  func rawJSON() async throws {
    try await withTestServer { _, address in
      let client = try makeClient(address)
      let text = "héllo ☃ \"quoted\""
      let bytes = try await client.callReturningJSON(Diagnostics.Method.Echo.self, .init(message: text))
      #expect(bytes == (try JSONMessageCodec().encode(Diagnostics.EchoResponse(message: text))))
      // Errors arrive as for a decoded call.
      let error = await expectRPCError(.notFound) {
        _ = try await client.callReturningJSON(Diagnostics.Method.Fail.self, .init(code: RPCStatusCode.notFound.rawValue, message: "gone"))
      }
      #expect(error?.message == "gone")
      await client.close()
    }
  }

  @Test("with connectionPerLoop a caller on a loop gets that loop's connection; others take turns")
  func connectionPerLoop() async throws {
    let group = EventLoopGroup(loopCount: 2, name: "per-loop-test")
    try await withTestServer { _, address in
      var configuration = RPCClient.Configuration(target: address, credential: BearerCredential(token: testToken))
      configuration.connectionPerLoop = true
      let client = try RPCClient(configuration: configuration, group: group)
      for loop in group.loops {
        for _ in 0..<3 {
          let sameLoop = try await Task(executorPreference: loop.taskExecutor) { () async throws -> Bool in
            let connection = try await client.connectionForNextCall()
            // And a call from here works over it.
            _ = try await Diagnostics.Client(client).echo(.init(message: "x"))
            return connection.loop === loop
          }.value
          #expect(sameLoop)
        }
      }
      var loopsUsed = Set<ObjectIdentifier>()
      for _ in 0..<4 { loopsUsed.insert(ObjectIdentifier(try await client.connectionForNextCall().loop)) }
      #expect(loopsUsed.count == 2)
      await client.close()
    }
    await group.shutdown()
  }
}
