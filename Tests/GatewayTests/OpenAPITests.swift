import Foundation
import HayonTestSupport
import Gateway
import Testing

@Suite("the OpenAPI document matches the routes", .serialized)
struct OpenAPITests {
  /// Every `$ref` in `value`.
  static func references(in value: Any) -> [String] {
    if let object = value as? [String: Any] {
      var found: [String] = []
      if let ref = object["$ref"] as? String { found.append(ref) }
      for (_, child) in object { found += references(in: child) }
      return found
    }
    if let array = value as? [Any] { return array.flatMap { references(in: $0) } }
    return []
  }

  @Test("served document: OpenAPI 3.1, every route described (and nothing else), refs resolve, errors use the one shape")
  func documentMatchesRoutes() async throws {
    try await withStack { stack in
      let response = try await curl("GET", stack.url("/api/openapi.json"))
      #expect(response.status == 200)
      #expect(response.header("content-type") == "application/json")
      let document = try #require(response.json)
      #expect(document["openapi"] as? String == "3.1.0")
      let info = try #require(document["info"] as? [String: Any])
      #expect(info["title"] is String && info["version"] is String)
      let paths = try #require(document["paths"] as? [String: [String: Any]])
      let components = try #require(document["components"] as? [String: Any])
      let schemas = try #require(components["schemas"] as? [String: Any])

      for path in paths.keys { #expect(path.hasPrefix("/"), "\(path)") }
      let components0 = try #require(document["components"] as? [String: Any])
      for (name, _) in try #require(components0["schemas"] as? [String: Any]) {
        #expect(name.range(of: "^[a-zA-Z0-9._-]+$", options: .regularExpression) != nil, "schema name \(name)")
      }
      var described = Set<String>()
      for (path, operations) in paths {
        for method in operations.keys { described.insert("\(method.uppercased()) \(path)") }
      }
      let routes = stack.gateway.router.routes
      let registered = Set(routes.map { "\($0.method) \($0.pattern)" })
      #expect(registered == described, "only registered: \(registered.subtracting(described)); only documented: \(described.subtracting(registered))")

      // The route list is all there.
      let required = [
        "POST /api/auth/signup", "POST /api/auth/login", "POST /api/auth/refresh", "POST /api/auth/logout",
        "GET /api/auth/me", "GET /api/platform/{platform}/connect", "POST /api/platform/bluesky/connect",
        "GET /api/platform/{platform}/callback", "GET /api/platform/{platform}/refresh",
        "DELETE /api/platform/{platform}/disconnect", "GET /api/accounts", "POST /api/posts", "GET /api/posts",
        "GET /api/posts/{id}", "PATCH /api/posts/{id}", "POST /api/posts/{id}/cancel", "POST /api/posts/{id}/retry",
        "GET /healthz", "GET /readyz", "GET /api/openapi.json", "GET /settings",
      ]
      for route in required { #expect(registered.contains(route), "\(route) is not registered") }

      var operationIds = Set<String>()
      for route in routes {
        let operation = try #require(paths[route.pattern]?[route.method.lowercased()] as? [String: Any])
        let id = try #require(operation["operationId"] as? String)
        #expect(operationIds.insert(id).inserted, "duplicate operationId \(id)")
        // Path parameters: exactly the pattern's.
        let parameters = operation["parameters"] as? [[String: Any]] ?? []
        let inPath = Set(parameters.filter { $0["in"] as? String == "path" }.compactMap { $0["name"] as? String })
        let inPattern = Set(route.pattern.split(separator: "/").filter { $0.hasPrefix("{") }.map { String($0.dropFirst().dropLast()) })
        #expect(inPath == inPattern, "\(route.pattern)")
        for parameter in parameters where parameter["in"] as? String == "path" {
          #expect(parameter["required"] as? Bool == true)
        }
        // Responses: each documented, errors in the one shape.
        let responses = try #require(operation["responses"] as? [String: [String: Any]])
        for (status, response) in responses {
          // OpenAPI 3.1: keys are HTTP status codes, every response object has a description.
          #expect(Int(status).map { (100...599).contains($0) } == true, "\(route.pattern) \(status)")
          #expect((response["description"] as? String)?.isEmpty == false, "\(route.pattern) \(status)")
          if let content = response["content"] as? [String: [String: Any]] {
            for (_, media) in content { #expect(media["schema"] != nil, "\(route.pattern) \(status)") }
          }
        }
        for parameter in parameters {
          #expect(["path", "query", "header", "cookie"].contains(parameter["in"] as? String ?? ""))
          #expect(parameter["schema"] != nil && parameter["name"] is String)
        }
        for spec in route.spec.responses { #expect(responses[String(spec.status)] != nil, "\(route.pattern) \(spec.status)") }
        for status in route.spec.errors {
          let entry = try #require(responses[String(status)], "\(route.method) \(route.pattern) lacks \(status)")
          if !route.spec.responses.contains(where: { $0.status == status }) {
            #expect(Self.references(in: entry) .contains("#/components/schemas/Error"), "\(route.pattern) \(status)")
          }
        }
        // Bodies.
        switch route.spec.requestBody {
        case .none, .html: #expect(operation["requestBody"] == nil)
        case .json, .form: #expect(operation["requestBody"] != nil, "\(route.pattern) lacks its requestBody")
        }
        // Security as the route authenticates.
        let security = operation["security"] as? [[String: Any]]
        switch route.spec.auth {
        case .none: #expect(security?.isEmpty == true)
        case .bearer: #expect(security?.first?["bearer"] != nil, "\(route.pattern)")
        case .session: #expect(security?.first?["session"] != nil, "\(route.pattern)")
        }
      }
      // Every reference resolves.
      for reference in Self.references(in: document) {
        if reference.hasPrefix("#/components/schemas/") {
          #expect(schemas[String(reference.dropFirst("#/components/schemas/".count))] != nil, "dangling \(reference)")
        } else {
          #expect(reference == "#/components/headers/X-Request-Id", "unexpected \(reference)")
        }
      }
    }
  }

  @Test("every route, called bare over HTTP/1.1 and h2, answers a status its documentation lists")
  func liveStatusesAreDocumented() async throws {
    try await withStack { stack in
      let document = try #require(try await curl("GET", stack.url("/api/openapi.json")).json)
      let paths = try #require(document["paths"] as? [String: [String: Any]])
      for route in stack.gateway.router.routes {
        let path = route.pattern.replacingOccurrences(of: "{platform}", with: "mastodon").replacingOccurrences(of: "{id}", with: "p1")
        let responses = try #require((paths[route.pattern]?[route.method.lowercased()] as? [String: Any])?["responses"] as? [String: Any])
        for wire in [WireProtocol.http1, .h2PriorKnowledge] {
          let response = try await curl(route.method, stack.url(path), protocol: wire)
          #expect(responses[String(response.status)] != nil, "\(route.method) \(path) answered \(response.status): \(response.text.prefix(120))")
          #expect(response.header("x-request-id") != nil)
          if response.status >= 400 {
            #expect(response.errorCode != nil && response.errorMessage != nil, "\(route.method) \(path): not the error shape")
          }
        }
      }
    }
  }
}

@Suite("the OpenAPI document passes a stock validator")
struct OpenAPIValidatorTests {
  /// The interop virtualenv's Python (`scripts/setup-python-test-env.sh` installs
  /// openapi-spec-validator there, next to grpcio).
  static var python: String {
    if let path = ProcessInfo.processInfo.environment["HAYON_TEST_PYTHON"], !path.isEmpty { return path }
    return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
      .appendingPathComponent(".venv/bin/python").path
  }

  @Test("openapi-spec-validator accepts the served document as OpenAPI 3.1, and refuses a broken one")
  func stockValidatorAcceptsTheDocument() async throws {
    try await withStack { stack in
      let response = try await curl("GET", stack.url("/api/openapi.json"))
      let document = try #require(response.json)
      let (status, output) = try await Self.validate(document)
      #expect(status == 0, "\(output)")
      #expect(output.contains("valid OpenAPI 3.1"))
      // The validator really validates: a response without its required description fails.
      var broken = document
      var paths = try #require(broken["paths"] as? [String: Any])
      var health = try #require(paths["/healthz"] as? [String: Any])
      var get = try #require(health["get"] as? [String: Any])
      get["responses"] = ["200": ["content": [String: Any]()]]
      health["get"] = get
      paths["/healthz"] = health
      broken["paths"] = paths
      let (brokenStatus, _) = try await Self.validate(broken)
      #expect(brokenStatus != 0)
    }
  }

  static func validate(_ document: [String: Any]) async throws -> (Int32, String) {
    let file = FileManager.default.temporaryDirectory.appendingPathComponent("hayon-openapi-\(UUID().uuidString).json")
    try JSONSerialization.data(withJSONObject: document).write(to: file)
    defer { try? FileManager.default.removeItem(at: file) }
    let result = try await runProcess(python, [
      "-c",
      """
      import json, sys
      from openapi_spec_validator import validate
      from openapi_spec_validator.validation import OpenAPIV31SpecValidator
      validate(json.load(open(sys.argv[1])), cls=OpenAPIV31SpecValidator)
      print("valid OpenAPI 3.1")
      """,
      file.path,
    ])
    return (result.status, result.stdoutText + result.stderrText)
  }
}
