import HayonHTTP1
import HayonRPC

struct ReadinessReport: Codable, Sendable {
  var status: String
  var services: [String: String]
}

struct LivenessReport: Codable, Sendable {
  var status: String
}

extension Gateway {
  static func registerHealthRoutes(_ router: inout Router) {
    router.add(
      "GET", "/healthz",
      RouteSpec(
        operationId: "liveness", summary: "Liveness: the gateway process answers.", tag: "health", auth: .none,
        responses: [ResponseSpec(200, "The gateway is alive.", .json(schema: "Liveness"))], errors: [])
    ) { _ throws(APIError) in
      .json(LivenessReport(status: "ok"))
    }

    router.add(
      "GET", "/readyz",
      RouteSpec(
        operationId: "readiness", summary: "Readiness: all three services answer their health check.", tag: "health",
        auth: .none,
        responses: [
          ResponseSpec(200, "Every service is serving.", .json(schema: "Readiness")),
          ResponseSpec(503, "At least one service is not serving.", .json(schema: "Readiness")),
        ], errors: [])
    ) { context throws(APIError) in
      let report = await context.gateway.readiness(context)
      return .json(report, status: report.status == "ready" ? 200 : 503)
    }
  }

  func readiness(_ context: RequestContext) async -> ReadinessReport {
    let targets = backends.healthTargets
    let timeout = configuration.readinessTimeout
    let options = CallOptions(timeout: timeout, metadata: ["x-request-id": context.requestId])
    // The checks run in parallel on the global executor rather than on the handler's event loop.
    // (Before main's RPC client fix 27f5b4a, three concurrent first connects made from a loop
    // never completed; `readyz as the very first request` in GatewayTests covers it.)
    let results = await withTaskGroup(of: (String, String).self) { group in
      for target in targets {
        group.addTask(executorPreference: globalConcurrentExecutor) {
          (target.name, await Self.healthStatus(of: target.client, options: options))
        }
      }
      var results: [String: String] = [:]
      for await (name, status) in group { results[name] = status }
      return results
    }
    let ready = !results.isEmpty && results.values.allSatisfy { $0 == "serving" }
    return ReadinessReport(status: ready ? "ready" : "not_ready", services: results)
  }

  /// Connects every backend client once and says which answered; the executable logs it at
  /// start-up. Not required (clients connect on first use), but the first requests then find
  /// established connections.
  @discardableResult
  public func connectBackends(timeout: Duration = .seconds(2)) async -> [String: String] {
    var results: [String: String] = [:]
    let options = CallOptions(timeout: timeout)
    for target in backends.healthTargets {
      results[target.name] = await Self.healthStatus(of: target.client, options: options)
    }
    return results
  }

  /// One service's health as `/readyz` and the start-up log report it: `serving`, the service's
  /// own status in lower case (`not_serving`, …), or `unavailable` when the check itself fails.
  static func healthStatus(of client: RPCClient, options: CallOptions) async -> String {
    do {
      let answer = try await client.call(HealthService.Check.self, .init(service: ""), options: options)
      return answer.status == "SERVING" ? "serving" : answer.status.lowercased()
    } catch {
      return "unavailable"
    }
  }
}
