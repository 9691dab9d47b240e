import Testing
import HayonDiagnostics
import HayonHTTP2
@testable import HayonRPC

/// The token every test server expects.
let testToken = "test-token-\(UInt64.random(in: 1...UInt64.max))"

/// Runs `body` with an RPC server listening on 127.0.0.1 port 0, and shuts it down afterwards
/// (also when `body` throws), so no test leaves a server behind.
func withTestServer<T>(
  services: [any RPCService] = [DiagnosticsService()],
  configure: (inout RPCServer.Configuration) -> Void = { _ in },
  _ body: (RPCServer, SocketAddress) async throws -> T
) async throws -> T {
  var configuration = RPCServer.Configuration(
    address: SocketAddress(host: "127.0.0.1", port: 0), credential: BearerCredential(token: testToken))
  configuration.shutdownGracePeriod = .seconds(2)
  configure(&configuration)
  let server = try RPCServer(configuration: configuration, services: services)
  let address = try await server.start()
  do {
    let result = try await body(server, address)
    await server.shutdown()
    return result
  } catch {
    await server.shutdown()
    throw error
  }
}

/// A client for `address`, with the test token unless told otherwise.
func makeClient(
  _ address: SocketAddress, token: String? = testToken, configure: (inout RPCClient.Configuration) -> Void = { _ in }
) throws -> RPCClient {
  var configuration = RPCClient.Configuration(target: address, credential: token.flatMap(BearerCredential.init(token:)))
  configuration.defaultTimeout = .seconds(10)
  configure(&configuration)
  return try RPCClient(configuration: configuration)
}

/// Expects `body` to fail with `code`; returns the error for further checks.
@discardableResult
func expectRPCError(
  _ code: RPCStatusCode, _ body: () async throws -> Void,
  sourceLocation: SourceLocation = #_sourceLocation
) async -> RPCError? {
  do {
    try await body()
    Issue.record("expected \(code.name), but the call succeeded", sourceLocation: sourceLocation)
    return nil
  } catch let error as RPCError {
    #expect(error.code == code, "got \(error)", sourceLocation: sourceLocation)
    return error
  } catch {
    Issue.record("expected RPCError \(code.name), got \(error)", sourceLocation: sourceLocation)
    return nil
  }
}
