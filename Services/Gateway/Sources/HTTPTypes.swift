import HayonHTTP1
import HayonRPC

/// One request as every route sees it, whichever protocol carried it (HTTP/1.1, h2c, h2).
public struct GatewayRequest: Sendable {
  public var method: String
  /// The percent-decoded path, without the query.
  public var path: String
  /// The raw target as sent (path plus `?query`).
  public var target: String
  public var query: FormParameters
  public var headers: HTTPFields
  public var body: [UInt8]
  /// `HTTP/1.1`, `HTTP/1.0` or `HTTP/2`.
  public var protocolName: String
  public var isSecure: Bool

  public init(
    method: String, path: String, target: String, query: FormParameters = FormParameters(),
    headers: HTTPFields = HTTPFields(), body: [UInt8] = [], protocolName: String = "HTTP/1.1", isSecure: Bool = false
  ) {
    self.method = method
    self.path = path
    self.target = target
    self.query = query
    self.headers = headers
    self.body = body
    self.protocolName = protocolName
    self.isSecure = isSecure
  }

  /// Builds the request from a raw method, target and fields; nil with the reason when the target
  /// is malformed (not origin-form, bad percent-encoding, bad query).
  static func parse(
    method: String, target: String, headers: HTTPFields, body: [UInt8], protocolName: String, isSecure: Bool
  ) -> Result<GatewayRequest, APIError> {
    guard target.hasPrefix("/") else { return .failure(.badRequest("the request target must be a path")) }
    let raw = HTTPRequest(method: method, target: target, headers: headers, body: body)
    guard let path = raw.decodedPath, !path.utf8.contains(0) else {
      return .failure(.badRequest("the request path is not valid percent-encoded UTF-8"))
    }
    let query: FormParameters
    do {
      query = try raw.queryParameters(limits: GatewayLimits.queryLimits)
    } catch {
      return .failure(.badRequest("the query string is malformed: \(error.description)"))
    }
    return .success(
      GatewayRequest(
        method: method, path: path, target: target, query: query, headers: headers, body: body,
        protocolName: protocolName, isSecure: isSecure))
  }
}

/// A complete response. Header names are written lower-case so they serve HTTP/2 unchanged.
public struct GatewayResponse: Sendable {
  public var status: Int
  public var headers: HTTPFields
  public var body: [UInt8]

  public init(status: Int, headers: HTTPFields = HTTPFields(), body: [UInt8] = []) {
    self.status = status
    self.headers = headers
    self.body = body
  }

  /// A JSON response of an encodable value.
  static func json<T: Encodable>(_ value: T, status: Int = 200) -> GatewayResponse {
    do {
      let bytes = try JSONMessageCodec().encode(value)
      return GatewayResponse(status: status, headers: ["content-type": "application/json"], body: bytes)
    } catch {
      return APIError.internalError.response
    }
  }

  static func rawJSON(_ bytes: [UInt8], status: Int = 200) -> GatewayResponse {
    GatewayResponse(status: status, headers: ["content-type": "application/json"], body: bytes)
  }

  static func html(_ text: String, status: Int = 200) -> GatewayResponse {
    GatewayResponse(
      status: status,
      headers: [
        "content-type": "text/html; charset=utf-8", "cache-control": "no-store",
        "content-security-policy": "default-src 'none'; img-src https: http:; style-src 'unsafe-inline'; form-action 'self' https: http:; frame-ancestors 'none'; base-uri 'none'",
        "x-content-type-options": "nosniff", "referrer-policy": "same-origin", "x-frame-options": "DENY",
      ],
      body: Array(text.utf8))
  }

  /// A redirect for a browser (302 Found, or 303 See Other after a form POST).
  static func redirect(to location: String, status: Int = 302) -> GatewayResponse {
    GatewayResponse(status: status, headers: ["location": location, "cache-control": "no-store"])
  }

  static let noContent = GatewayResponse(status: 204)
}

/// Bounds on what the gateway accepts before anything is forwarded.
public enum GatewayLimits {
  /// A JSON request body.
  public static let jsonBodyBytes = 64 * 1024
  /// A settings-page form body.
  public static let formBodyBytes = 8 * 1024
  static let queryLimits: FormParameters.Limits = {
    var limits = FormParameters.Limits()
    limits.maxInputLength = 4096
    limits.maxParameters = 32
    return limits
  }()
  /// `X-Request-Id`: 1…128 characters of `[A-Za-z0-9._:-]`; anything else is replaced.
  public static let requestIdLength = 128
  /// `?instance=` for Mastodon.
  public static let instanceUrlLength = 2048
}
