import HayonHTTP1
import HayonModel

/// A JSON value with ordered object keys, for writing the OpenAPI document.
public indirect enum JSONValue: Sendable, Hashable, ExpressibleByStringLiteral, ExpressibleByBooleanLiteral,
  ExpressibleByIntegerLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral
{
  case string(String)
  case number(Int)
  case bool(Bool)
  case array([JSONValue])
  case object([(String, JSONValue)])
  case null

  public init(stringLiteral value: String) { self = .string(value) }
  public init(booleanLiteral value: Bool) { self = .bool(value) }
  public init(integerLiteral value: Int) { self = .number(value) }
  public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
  public init(dictionaryLiteral elements: (String, JSONValue)...) { self = .object(elements) }

  public static func == (lhs: JSONValue, rhs: JSONValue) -> Bool { lhs.serialized == rhs.serialized }
  public func hash(into hasher: inout Hasher) { hasher.combine(serialized) }

  public var serialized: String {
    var out = ""
    write(into: &out)
    return out
  }

  func write(into out: inout String) {
    switch self {
    case .string(let text): Self.writeString(text, into: &out)
    case .number(let number): out += String(number)
    case .bool(let flag): out += flag ? "true" : "false"
    case .null: out += "null"
    case .array(let items):
      out += "["
      for (index, item) in items.enumerated() {
        if index > 0 { out += "," }
        item.write(into: &out)
      }
      out += "]"
    case .object(let members):
      out += "{"
      for (index, (key, value)) in members.enumerated() {
        if index > 0 { out += "," }
        Self.writeString(key, into: &out)
        out += ":"
        value.write(into: &out)
      }
      out += "}"
    }
  }

  static func writeString(_ text: String, into out: inout String) {
    out += "\""
    for scalar in text.unicodeScalars {
      switch scalar {
      case "\"": out += "\\\""
      case "\\": out += "\\\\"
      case "\n": out += "\\n"
      case "\r": out += "\\r"
      case "\t": out += "\\t"
      default:
        if scalar.value < 0x20 {
          let hex = String(scalar.value, radix: 16)
          out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
        } else {
          out.unicodeScalars.append(scalar)
        }
      }
    }
    out += "\""
  }
}

/// The OpenAPI 3.1 document, built from the router's own route specs.
public enum OpenAPIDocument {
  static func ref(_ name: String) -> JSONValue { ["$ref": .string("#/components/schemas/\(name)")] }
  static func string(_ description: String? = nil, maxLength: Int? = nil, format: String? = nil) -> JSONValue {
    var members: [(String, JSONValue)] = [("type", "string")]
    if let format { members.append(("format", .string(format))) }
    if let maxLength { members.append(("maxLength", .number(maxLength))) }
    if let description { members.append(("description", .string(description))) }
    return .object(members)
  }
  static func object(_ properties: [(String, JSONValue)], required: [String], description: String? = nil) -> JSONValue {
    var members: [(String, JSONValue)] = [
      ("type", "object"), ("properties", .object(properties)), ("required", .array(required.map { .string($0) })),
    ]
    if let description { members.append(("description", .string(description))) }
    return .object(members)
  }
  static let timestamp = string("ISO 8601 UTC instant with milliseconds.", format: "date-time")
  static let platformEnum: JSONValue = ["type": "string", "enum": .array(Platform.allCases.map { .string($0.rawValue) })]

  static var schemas: [(String, JSONValue)] {
    [
      (
        "Error",
        object(
          [("error", object([("code", string("Machine-readable code, e.g. invalid_argument.")), ("message", string())], required: ["code", "message"]))],
          required: ["error"], description: "The one error shape of every route.")
      ),
      ("Liveness", object([("status", ["type": "string", "enum": ["ok"]])], required: ["status"])),
      (
        "Readiness",
        object(
          [
            ("status", ["type": "string", "enum": ["ready", "not_ready"]]),
            ("services", ["type": "object", "additionalProperties": ["type": "string"]]),
          ], required: ["status", "services"])
      ),
      (
        "Credentials",
        object(
          [("email", string(maxLength: 254, format: "email")), ("password", string("8 to 128 characters.", maxLength: 1024))],
          required: ["email", "password"])
      ),
      ("RefreshRequest", object([("refreshToken", string(maxLength: 256))], required: ["refreshToken"])),
      (
        "User",
        object([("userId", string()), ("email", string(format: "email")), ("createdAt", timestamp)], required: ["userId", "email", "createdAt"])
      ),
      (
        "TokenPair",
        object(
          [
            ("accessToken", string()), ("accessTokenExpiresAt", timestamp), ("refreshToken", string()),
            ("refreshTokenExpiresAt", timestamp),
          ], required: ["accessToken", "accessTokenExpiresAt", "refreshToken", "refreshTokenExpiresAt"])
      ),
      ("Session", object([("user", ref("User")), ("tokens", ref("TokenPair"))], required: ["user", "tokens"])),
      (
        "Profile",
        object([("displayName", string()), ("handle", string()), ("avatarUrl", string(format: "uri"))], required: ["handle"])
      ),
      (
        "PlatformHealth",
        object(
          [
            ("status", ["type": "string", "enum": ["active", "expired", "revoked", "error"]]),
            ("needsReconnection", ["type": "boolean"]), ("lastError", string()), ("lastSuccessfulRefresh", timestamp),
            ("consecutiveFailures", ["type": "integer", "minimum": 0]), ("updatedAt", timestamp),
          ], required: ["status", "needsReconnection", "consecutiveFailures", "updatedAt"])
      ),
      (
        "PlatformFields",
        object(
          [
            ("did", string()), ("pdsUrl", string(format: "uri")), ("instanceUrl", string(format: "uri")),
            ("accountId", string()), ("blog", string()), ("facebookPageId", string()),
          ], required: [], description: "The platform's own identifiers; never a token.")
      ),
      (
        "PlatformAccount",
        object(
          [
            ("platform", platformEnum), ("connected", ["type": "boolean"]), ("platformId", string()),
            ("profile", ref("Profile")), ("health", ref("PlatformHealth")), ("platformFields", ref("PlatformFields")),
            ("connectedAt", timestamp),
          ], required: ["platform", "connected"])
      ),
      (
        "SocialAccount",
        object(
          [("userId", string()), ("platforms", ["type": "array", "items": ref("PlatformAccount")])],
          required: ["userId", "platforms"])
      ),
      ("AuthorizeURL", object([("url", string(format: "uri"))], required: ["url"])),
      (
        "BlueskyConnectRequest",
        object(
          [("identifier", string("Handle, DID or email.", maxLength: 256)), ("appPassword", string(maxLength: 256))],
          required: ["identifier", "appPassword"])
      ),
      (
        "DisconnectResult",
        object([("account", ref("PlatformAccount")), ("revoked", ["type": "boolean"])], required: ["account", "revoked"])
      ),
      ("SettingsForm", object([("csrf", string("The page's CSRF token."))], required: ["csrf"])),
      (
        "SettingsLoginForm",
        object([("csrf", string()), ("email", string(maxLength: 320)), ("password", string(maxLength: 1024))], required: ["csrf", "email", "password"])
      ),
      (
        "SettingsConnectForm",
        object(
          [
            ("csrf", string()), ("identifier", string("Bluesky only.", maxLength: 256)),
            ("appPassword", string("Bluesky only.", maxLength: 256)), ("instance", string("Mastodon only.", maxLength: 2048)),
          ], required: ["csrf"])
      ),
    ] + postSchemas
  }

  static let statusText: [Int: String] = [
    400: "The request is malformed or a field is invalid.", 401: "A valid access token is required.",
    403: "Not allowed.", 404: "No such resource.", 405: "Method not allowed.", 409: "Conflicts with the current state.",
    413: "The body is too large.", 415: "Wrong media type.", 429: "Too many requests; see Retry-After.",
    500: "Internal error.", 501: "Not available yet.", 503: "A backend service is unavailable.",
    504: "A backend service timed out.",
  ]

  static func content(_ body: BodyKind) -> JSONValue? {
    switch body {
    case .json(let schema): return ["application/json": ["schema": ref(schema)]]
    case .form(let schema): return ["application/x-www-form-urlencoded": ["schema": ref(schema)]]
    case .html: return ["text/html": ["schema": ["type": "string"]]]
    case .none: return nil
    }
  }

  /// `{platform}` stays `{platform}`: OpenAPI paths use the same template syntax as the router.
  public static func build(routes: [Route]) -> JSONValue {
    var paths: [(String, [(String, JSONValue)])] = []
    for route in routes {
      let operation = operationObject(route)
      if let index = paths.firstIndex(where: { $0.0 == route.pattern }) {
        paths[index].1.append((route.method.lowercased(), operation))
      } else {
        paths.append((route.pattern, [(route.method.lowercased(), operation)]))
      }
    }
    return [
      "openapi": "3.1.0",
      "info": [
        "title": "Hayon gateway", "version": "1.0.0",
        "description": "Hayon's public REST API. Every error is {\"error\":{\"code\",\"message\"}}; every response carries X-Request-Id.",
      ],
      "paths": .object(paths.map { ($0.0, .object($0.1)) }),
      "components": [
        "schemas": .object(schemas),
        "securitySchemes": [
          "bearer": ["type": "http", "scheme": "bearer", "description": "An access token from /api/auth/login."],
          "session": ["type": "apiKey", "in": "cookie", "name": .string(SettingsPage.sessionCookie)],
        ],
        "headers": [
          "X-Request-Id": ["description": "The request id (the client's when sane, else a new one).", "schema": ["type": "string"]]
        ],
      ],
    ]
  }

  static func operationObject(_ route: Route) -> JSONValue {
    let spec = route.spec
    var members: [(String, JSONValue)] = [
      ("operationId", .string(spec.operationId)), ("summary", .string(spec.summary)), ("tags", [.string(spec.tag)]),
    ]
    var parameters: [JSONValue] = []
    for segment in route.segments {
      if case .parameter(let name) = segment {
        var schema: [(String, JSONValue)] = [("type", "string")]
        if name == "platform" { schema = [("type", "string"), ("enum", .array(Platform.allCases.map { .string($0.rawValue) }))] }
        parameters.append([
          "name": .string(name), "in": "path", "required": true,
          "description": .string(spec.pathParameters[name] ?? name), "schema": .object(schema),
        ])
      }
    }
    for query in spec.query {
      var schema: [(String, JSONValue)] = [("type", "string")]
      if let maxLength = query.maxLength { schema.append(("maxLength", .number(maxLength))) }
      if let values = query.enumValues { schema.append(("enum", .array(values.map { .string($0) }))) }
      parameters.append([
        "name": .string(query.name), "in": "query", "required": .bool(query.required),
        "description": .string(query.description), "schema": .object(schema),
      ])
    }
    parameters.append([
      "name": "X-Request-Id", "in": "header", "required": false,
      "description": "Optional request id, 1 to 128 of [A-Za-z0-9._:-]; replaced when not.",
      "schema": ["type": "string", "maxLength": 128],
    ])
    members.append(("parameters", .array(parameters)))
    if let body = content(spec.requestBody) {
      members.append(("requestBody", ["required": true, "content": body]))
    }
    var responses: [(String, JSONValue)] = []
    for response in spec.responses {
      var object: [(String, JSONValue)] = [("description", .string(response.description))]
      var headers: [(String, JSONValue)] = [("X-Request-Id", ["$ref": "#/components/headers/X-Request-Id"])]
      for header in response.headers { headers.append((header, ["schema": ["type": "string"]])) }
      object.append(("headers", .object(headers)))
      if let content = content(response.body) { object.append(("content", content)) }
      responses.append((String(response.status), .object(object)))
    }
    for status in spec.errors.sorted() where !spec.responses.contains(where: { $0.status == status }) {
      responses.append((
        String(status),
        [
          "description": .string(statusText[status] ?? "Error."),
          "headers": ["X-Request-Id": ["$ref": "#/components/headers/X-Request-Id"]],
          "content": ["application/json": ["schema": ref("Error")]],
        ]
      ))
    }
    members.append(("responses", .object(responses)))
    switch spec.auth {
    case .none: members.append(("security", []))
    case .bearer: members.append(("security", [["bearer": []]]))
    case .session: members.append(("security", [["session": []]]))
    }
    return .object(members)
  }
}

extension Gateway {
  static func registerOpenAPIRoute(_ router: inout Router) {
    router.add(
      "GET", "/api/openapi.json",
      RouteSpec(
        operationId: "openapi", summary: "This document (OpenAPI 3.1).", tag: "meta", auth: .none,
        responses: [ResponseSpec(200, "The OpenAPI document.", .json(schema: "OpenAPIDocument"))], errors: [])
    ) { context throws(APIError) in
      .rawJSON(context.gateway.openAPIBytes)
    }
  }
}
