import HayonHTTP1
/// How a route authenticates its caller.
public enum RouteAuth: Sendable, Hashable {
  /// Anyone.
  case none
  /// `Authorization: Bearer <access token>`, checked with `Users.VerifyAccessToken`.
  case bearer
  /// The settings page's session cookie (and, on POST, its CSRF token).
  case session
}

/// The media of a request or response body, named by an OpenAPI schema where JSON.
public enum BodyKind: Sendable, Hashable {
  case json(schema: String)
  case form(schema: String)
  case html
  case none
}

/// A query parameter a route reads.
public struct QueryParameter: Sendable, Hashable {
  public var name: String
  public var required: Bool
  public var description: String
  public var maxLength: Int?
  public var enumValues: [String]?

  public init(_ name: String, required: Bool = false, _ description: String, maxLength: Int? = nil, enumValues: [String]? = nil) {
    self.name = name
    self.required = required
    self.description = description
    self.maxLength = maxLength
    self.enumValues = enumValues
  }
}

/// One response a route may give.
public struct ResponseSpec: Sendable, Hashable {
  public var status: Int
  public var description: String
  public var body: BodyKind
  /// Response headers it sets (documented in OpenAPI), e.g. `Location`, `Set-Cookie`.
  public var headers: [String]

  public init(_ status: Int, _ description: String, _ body: BodyKind = .none, headers: [String] = []) {
    self.status = status
    self.description = description
    self.body = body
    self.headers = headers
  }
}

/// What the OpenAPI document says about a route; declared next to the handler, so the two
/// cannot drift apart silently (a test checks every registered route against the document).
public struct RouteSpec: Sendable {
  public var operationId: String
  public var summary: String
  public var tag: String
  public var auth: RouteAuth
  public var pathParameters: [String: String] = [:]
  public var query: [QueryParameter] = []
  public var requestBody: BodyKind = .none
  public var responses: [ResponseSpec]
  /// Error statuses the route can answer, each with the one error shape.
  public var errors: [Int]
}

/// The context a route handler gets.
public struct RequestContext: Sendable {
  public let request: GatewayRequest
  public let parameters: [String: String]
  public let requestId: String
  let gateway: Gateway

  public func parameter(_ name: String) -> String { parameters[name] ?? "" }
}

/// A registered route: a method, a path pattern (`/api/posts/{id}`), its spec and its handler.
public struct Route: Sendable {
  enum Segment: Sendable, Hashable {
    case literal(String)
    case parameter(String)
  }

  public typealias Handler = @Sendable (RequestContext) async throws(APIError) -> GatewayResponse

  public let method: String
  public let pattern: String
  let segments: [Segment]
  public let spec: RouteSpec
  let handler: Handler

  init(_ method: String, _ pattern: String, spec: RouteSpec, handler: @escaping Handler) {
    self.method = method
    self.pattern = pattern
    self.segments = pattern.split(separator: "/", omittingEmptySubsequences: true).map { part in
      if part.hasPrefix("{") && part.hasSuffix("}") { return .parameter(String(part.dropFirst().dropLast())) }
      return .literal(String(part))
    }
    self.spec = spec
    self.handler = handler
  }

  /// The parameters when `path` matches, literal segments scoring above parameters.
  func match(_ parts: [Substring]) -> (parameters: [String: String], score: Int)? {
    guard parts.count == segments.count else { return nil }
    var parameters: [String: String] = [:]
    var score = 0
    for (segment, part) in zip(segments, parts) {
      switch segment {
      case .literal(let text):
        guard part == text else { return nil }
        score += 1
      case .parameter(let name):
        guard !part.isEmpty else { return nil }
        parameters[name] = String(part)
      }
    }
    return (parameters, score)
  }
}

/// The one router: every route of the gateway, looked up by method and path.
public struct Router: Sendable {
  public private(set) var routes: [Route] = []
  /// Routes without parameters by their path, so a request for one is a dictionary lookup
  /// instead of splitting the path and trying every route (every request pays for routing).
  private var literalRoutes: [String: [Route]] = [:]

  public enum Match {
    case found(Route, [String: String])
    case methodNotAllowed([String])
    case notFound
  }

  mutating func add(_ method: String, _ pattern: String, _ spec: RouteSpec, _ handler: @escaping Route.Handler) {
    let route = Route(method, pattern, spec: spec, handler: handler)
    routes.append(route)
    let literals = route.segments.compactMap { segment -> String? in
      if case .literal(let text) = segment { return text }
      return nil
    }
    if !literals.isEmpty && literals.count == route.segments.count {
      literalRoutes["/" + literals.joined(separator: "/"), default: []].append(route)
    }
  }

  public func match(method: String, path: String) -> Match {
    // A route of literals only that matches the whole path has the highest score there is, so
    // the first registered one with the method is the answer the scan below would give.
    // Anything else (405, parameters) takes the scan.
    if let candidates = literalRoutes[path] {
      for route in candidates where route.method == method || (method == "HEAD" && route.method == "GET") {
        return .found(route, [:])
      }
    }
    // A trailing slash or an empty segment is a different resource: `//` never matches.
    guard path.hasPrefix("/"), !path.contains("//") || path == "/" else { return .notFound }
    // Empty segments are kept (a trailing slash is one more, empty, segment), so they never match.
    let segments = Array(path.split(separator: "/", omittingEmptySubsequences: false).dropFirst())
    var best: (Route, [String: String], Int)?
    var allowed: Set<String> = []
    for route in routes {
      guard let (parameters, score) = route.match(segments) else { continue }
      let sameMethod = route.method == method || (method == "HEAD" && route.method == "GET")
      if sameMethod {
        if best == nil || score > best!.2 { best = (route, parameters, score) }
      } else {
        allowed.insert(route.method)
      }
    }
    if let best { return .found(best.0, best.1) }
    if !allowed.isEmpty {
      if allowed.contains("GET") { allowed.insert("HEAD") }
      return .methodNotAllowed(allowed.sorted())
    }
    return .notFound
  }
}
