import HayonDiagnostics
@testable import HayonHTTP2
import Glibc
import Synchronization
import Testing
@testable import HayonRPC

@Suite("RPC end to end over loopback")
struct EndToEndTests {
  @Test func echoAndStreamingRoundTrip() async throws {
    try await withTestServer { _, address in
      let client = Diagnostics.Client(try makeClient(address))
      let text = "héllo ☃ 👩‍👩‍👧 🇯🇵"
      #expect(try await client.echo(.init(message: text)).message == text)
      #expect(try await client.echo(.init(message: "")).message == "")
      let received = Mutex<[Diagnostics.ExpandResponse]>([])
      try await client.expand(.init(message: "m", count: 100)) { response in
        received.withLock { $0.append(response) }
      }
      #expect(received.withLock { $0.map(\.index) } == Array(0..<100))
      #expect(received.withLock { $0.allSatisfy { $0.message == "m" } })
      await client.rpc.close()
    }
  }

  @Test func largeMessagesCrossManyDataFrames() async throws {
    try await withTestServer { _, address in
      let client = Diagnostics.Client(try makeClient(address))
      let text = String(repeating: "0123456789abcdef", count: 200_000)  // 3.2 MB, under the 4 MiB limit
      #expect(try await client.echo(.init(message: text)).message == text)
      await client.rpc.close()
    }
  }

  @Test(arguments: RPCStatusCode.all.dropFirst())
  func everyStatusCodeReachesTheCallerWithItsMessage(_ code: RPCStatusCode) async throws {
    try await withTestServer { _, address in
      let client = Diagnostics.Client(try makeClient(address, configure: { $0.maxAttempts = 1 }))
      let message = "failure \(code.name): ≥ 100% ✓"
      let error = await expectRPCError(code) { _ = try await client.fail(.init(code: code.rawValue, message: message)) }
      #expect(error?.message == message)
      await client.rpc.close()
    }
  }

  @Test func metadataReachesHandlerAndCaller() async throws {
    let probe = ProbeService()
    try await withTestServer(services: [probe]) { _, address in
      let client = try makeClient(address)
      let response = try await client.callWithMetadata(
        ProbeService.Inspect.self, .init(),
        options: CallOptions(timeout: .seconds(5), metadata: ["x-request-id": "r-42", "x-tenant": "acme"]))
      #expect(response.message.metadata["x-request-id"] == "r-42")
      #expect(response.message.metadata["x-tenant"] == "acme")
      // The internal credential is never handed to handlers.
      #expect(response.message.metadata["authorization"] == nil)
      #expect(response.message.hasDeadline)
      let remaining = try #require(response.message.deadlineMilliseconds)
      #expect(remaining > 3000 && remaining <= 5000)
      #expect(response.initialMetadata["x-initial"] == "hello")
      #expect(response.trailingMetadata["x-trailing"] == "bye")
      await client.close()
    }
  }

  @Test func invalidMetadataIsRefusedBeforeSending() async throws {
    let probe = ProbeService()
    try await withTestServer(services: [probe]) { _, address in
      let client = try makeClient(address)
      await expectRPCError(.invalidArgument) {
        _ = try await client.call(ProbeService.Inspect.self, .init(), options: CallOptions(metadata: ["grpc-status": "0"]))
      }
      await expectRPCError(.invalidArgument) {
        _ = try await client.call(ProbeService.Inspect.self, .init(), options: CallOptions(metadata: ["x-bad": "line\nbreak"]))
      }
      await client.close()
    }
  }

  @Test func deadlineExpiryFailsTheCallAndCancelsTheHandler() async throws {
    let probe = ProbeService()
    try await withTestServer(services: [probe]) { _, address in
      let client = try makeClient(address)
      let started = ContinuousClock.now
      await expectRPCError(.deadlineExceeded) {
        _ = try await client.call(ProbeService.Block.self, .init(), options: CallOptions(timeout: .milliseconds(300)))
      }
      #expect(ContinuousClock.now - started < .seconds(5))
      #expect(await probe.nextEvent() == .started)
      #expect(await probe.nextEvent() == .cancelled)
      await client.close()
    }
  }

  @Test func serverEnforcesGrpcTimeoutOnItsOwn() async throws {
    // A raw request with grpc-timeout 200m and no client-side timer: the server resets the stream.
    let probe = ProbeService()
    try await withTestServer(services: [probe]) { _, address in
      let response = try await rawCall(
        address, path: ProbeService.Block.descriptor.path, headers: [HTTP2Header("grpc-timeout", "200m")],
        body: framedJSON("{}"))
      #expect(response.closeReason == .reset(.cancel))
      #expect(await probe.nextEvent() == .started)
      #expect(await probe.nextEvent() == .cancelled)
    }
  }

  @Test("a deadline already past when the request ends is enforced for handlers that run inline too")
  func expiredDeadlineStopsAnInlineHandler() async throws {
    try await withTestServer { _, address in
      // Echo answers inline, on the loop; Expand runs as a task. Both are stopped alike.
      for path in [Diagnostics.Method.Echo.descriptor.path, Diagnostics.Method.Expand.descriptor.path] {
        for timeout in ["0S", "0n"] {
          let response = try await rawCall(
            address, path: path, headers: [HTTP2Header("grpc-timeout", timeout)],
            body: framedJSON(#"{"message":"late","count":1}"#))
          #expect(response.closeReason == .reset(.cancel), "\(path) \(timeout): \(response)")
          #expect(response.body.isEmpty && response.grpcStatus == nil, "\(path) \(timeout): \(response)")
        }
      }
      // A deadline in the future is no obstacle.
      let inTime = try await rawCall(address, headers: [HTTP2Header("grpc-timeout", "10S")], body: framedJSON(#"{"message":"on time"}"#))
      #expect(inTime.grpcStatus == 0)
      #expect(inTime.body == framedJSON(#"{"message":"on time"}"#))
    }
  }

  @Test func hugeTimeoutsDoNotWrapIntoShortOnes() async throws {
    try await withTestServer { _, address in
      let response = try await rawCall(
        address, headers: [HTTP2Header("grpc-timeout", "99999999H")], body: framedJSON(#"{"message":"later"}"#))
      #expect(response.grpcStatus == 0)
      #expect(response.body == framedJSON(#"{"message":"later"}"#))
    }
  }

  @Test func clientCancellationReachesTheHandler() async throws {
    let probe = ProbeService()
    try await withTestServer(services: [probe]) { _, address in
      let client = try makeClient(address)
      let call = Task {
        try await client.call(ProbeService.Block.self, .init(), options: CallOptions(timeout: .seconds(30)))
      }
      #expect(await probe.nextEvent() == .started)
      call.cancel()
      let result = await call.result
      #expect(throws: RPCError.self) { try result.get() }
      if case .failure(let error as RPCError) = result { #expect(error.code == .cancelled) }
      #expect(await probe.nextEvent() == .cancelled)
      await client.close()
    }
  }

  @Test func unknownMethodAndMissingCredentials() async throws {
    try await withTestServer { _, address in
      enum Nope: UnaryMethod {
        typealias Input = Diagnostics.EchoRequest
        typealias Output = Diagnostics.EchoResponse
        static let descriptor = MethodDescriptor(service: Diagnostics.serviceName, method: "Nope")
      }
      let client = try makeClient(address)
      let error = await expectRPCError(.unimplemented) { _ = try await client.call(Nope.self, .init(message: "x")) }
      #expect(error?.message.contains("/hayon.diagnostics.v1.Diagnostics/Nope") == true)
      for token in [nil, "wrong-token"] as [String?] {
        let anonymous = Diagnostics.Client(try makeClient(address, token: token))
        await expectRPCError(.unauthenticated) { _ = try await anonymous.echo(.init(message: "x")) }
        await anonymous.rpc.close()
      }
      await client.close()
    }
  }

  @Test func handlerErrorsThatAreNotRPCErrorsDoNotLeak() async throws {
    let probe = ProbeService()
    try await withTestServer(services: [probe]) { _, address in
      let client = try makeClient(address)
      let error = await expectRPCError(.unknown) { _ = try await client.call(ProbeService.Crash.self, .init()) }
      #expect(error?.message.contains("hunter2") == false)
      await client.close()
    }
  }

  @Test func manyConcurrentStreamsShareOneConnection() async throws {
    try await withTestServer { server, address in
      let client = Diagnostics.Client(try makeClient(address))
      try await withThrowingTaskGroup(of: Void.self) { group in
        for index in 0..<500 {
          group.addTask {
            let response = try await client.echo(.init(message: "call \(index)"))
            #expect(response.message == "call \(index)")
          }
        }
        try await group.waitForAll()
      }
      #expect(server.connectionCount == 1)
      await client.rpc.close()
    }
  }

  @Test func retriesOnlyUnavailableAndOnlyForIdempotentMethods() async throws {
    let probe = ProbeService()
    try await withTestServer(services: [probe]) { _, address in
      let client = try makeClient(address, configure: { $0.initialBackoff = .milliseconds(5) })
      let response = try await client.call(ProbeService.FlakyIdempotent.self, .init(failures: 2))
      #expect(response.attempts == 3)

      probe.attempts.store(0, ordering: .relaxed)
      await expectRPCError(.unavailable) { _ = try await client.call(ProbeService.FlakyNotIdempotent.self, .init(failures: 2)) }
      #expect(probe.attempts.load(ordering: .relaxed) == 1)

      probe.attempts.store(0, ordering: .relaxed)
      await expectRPCError(.aborted) { _ = try await client.call(ProbeService.FailsWithAborted.self, .init(failures: 0)) }
      #expect(probe.attempts.load(ordering: .relaxed) == 1)

      probe.attempts.store(0, ordering: .relaxed)
      await expectRPCError(.unavailable) { _ = try await client.call(ProbeService.FlakyIdempotent.self, .init(failures: 10)) }
      #expect(probe.attempts.load(ordering: .relaxed) == 3)
      await client.close()
    }
  }

  @Test func unreachableServerIsUnavailable() async throws {
    // Bind a port, then close it, so nothing listens there.
    let (fd, port) = try Sockets.listen(on: SocketAddress(host: "127.0.0.1", port: 0))
    _ = Glibc.close(fd)
    let client = Diagnostics.Client(try makeClient(SocketAddress(host: "127.0.0.1", port: port), configure: { $0.initialBackoff = .milliseconds(5) }))
    await expectRPCError(.unavailable) { _ = try await client.echo(.init(message: "x")) }
  }

  @Test func gracefulShutdownLetsInFlightCallsFinish() async throws {
    let probe = ProbeService()
    var configuration = RPCServer.Configuration(
      address: SocketAddress(host: "127.0.0.1", port: 0), credential: BearerCredential(token: testToken))
    configuration.shutdownGracePeriod = .seconds(5)
    let server = try RPCServer(configuration: configuration, services: [probe])
    let address = try await server.start()
    let client = try makeClient(address, configure: { $0.maxAttempts = 1 })
    let inFlight = Task { try await client.call(ProbeService.Pause.self, .init()) }
    #expect(await probe.nextEvent() == .started)
    let shutdownStarted = ContinuousClock.now
    await server.shutdown()
    // The call finished normally although shutdown began while it ran.
    #expect(try await inFlight.value == ProbeService.Empty())
    #expect(ContinuousClock.now - shutdownStarted < .seconds(4))
    #expect(server.connectionCount == 0)
    #expect(server.health.status(forService: "") == .notServing)
    await expectRPCError(.unavailable) { _ = try await client.call(ProbeService.Pause.self, .init()) }
  }

  @Test func gracefulShutdownCancelsCallsThatOutliveTheGracePeriod() async throws {
    let probe = ProbeService()
    var configuration = RPCServer.Configuration(
      address: SocketAddress(host: "127.0.0.1", port: 0), credential: BearerCredential(token: testToken))
    configuration.shutdownGracePeriod = .milliseconds(200)
    let server = try RPCServer(configuration: configuration, services: [probe])
    let address = try await server.start()
    let client = try makeClient(address, configure: { $0.maxAttempts = 1 })
    let call = Task { try await client.call(ProbeService.Block.self, .init()) }
    #expect(await probe.nextEvent() == .started)
    await server.shutdown()
    #expect(await probe.nextEvent() == .cancelled)
    let result = await call.result
    if case .failure(let error as RPCError) = result {
      #expect(error.code == .unavailable)
    } else {
      Issue.record("expected UNAVAILABLE, got \(result)")
    }
  }
}

@Suite("Client against peers that never answer")
struct SilentPeerTests {
  /// A listening socket nobody accepts from: the kernel completes the TCP handshake, and then
  /// nothing is ever said.
  private func withSilentListener(_ body: (SocketAddress) async throws -> Void) async throws {
    let (fd, port) = try Sockets.listen(on: SocketAddress(host: "127.0.0.1", port: 0))
    defer { _ = Glibc.close(fd) }
    try await body(SocketAddress(host: "127.0.0.1", port: port))
  }

  @Test func stalledTLSHandshakeFailsWithinTheConnectTimeout() async throws {
    try await withSilentListener { address in
      let client = Diagnostics.Client(
        try makeClient(address) { configuration in
          configuration.tls = TLSConfiguration(serverName: "localhost")
          configuration.connectTimeout = .milliseconds(300)
          configuration.maxAttempts = 1
        })
      let started = ContinuousClock.now
      await expectRPCError(.unavailable) { _ = try await client.echo(.init(message: "x")) }
      #expect(ContinuousClock.now - started < .seconds(10))
    }
  }

  @Test func cleartextPeerThatNeverRespondsHitsTheDeadline() async throws {
    try await withSilentListener { address in
      let client = Diagnostics.Client(try makeClient(address) { $0.maxAttempts = 1 })
      let started = ContinuousClock.now
      await expectRPCError(.deadlineExceeded) {
        _ = try await client.echo(.init(message: "x"), options: CallOptions(timeout: .milliseconds(300)))
      }
      #expect(ContinuousClock.now - started < .seconds(10))
    }
  }
}
