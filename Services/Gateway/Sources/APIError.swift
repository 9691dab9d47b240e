import Foundation
import HayonAuth
import HayonHTTP1
import HayonModel
import HayonRPC

/// The one error every route answers with: `{"error":{"code":"...","message":"..."}}`.
public struct APIError: Error, Sendable, Hashable {
  public var status: Int
  public var code: String
  public var message: String
  /// Extra response headers (`Retry-After`, `WWW-Authenticate`, `Allow`).
  public var headers: [String: String] = [:]

  public init(status: Int, code: String, message: String, headers: [String: String] = [:]) {
    self.status = status
    self.code = code
    self.message = message
    self.headers = headers
  }

  static func badRequest(_ message: String) -> APIError {
    APIError(status: 400, code: "invalid_argument", message: message)
  }
  static func notFound(_ message: String = "no such resource") -> APIError {
    APIError(status: 404, code: "not_found", message: message)
  }
  static func unauthenticated(_ message: String) -> APIError {
    APIError(status: 401, code: "unauthenticated", message: message, headers: ["www-authenticate": "Bearer"])
  }
  static func methodNotAllowed(_ allowed: [String]) -> APIError {
    APIError(
      status: 405, code: "method_not_allowed", message: "method not allowed; allowed: \(allowed.joined(separator: ", "))",
      headers: ["allow": allowed.joined(separator: ", ")])
  }
  static func payloadTooLarge(_ limit: Int) -> APIError {
    APIError(status: 413, code: "payload_too_large", message: "the request body is larger than \(limit) bytes")
  }
  static func unsupportedMediaType(_ expected: String) -> APIError {
    APIError(status: 415, code: "unsupported_media_type", message: "the request body must be \(expected)")
  }
  static let internalError = APIError(status: 500, code: "internal", message: "internal error")

  struct Body: Codable, Sendable {
    struct Detail: Codable, Sendable {
      var code: String
      var message: String
    }
    var error: Detail
  }

  var response: GatewayResponse {
    var response = GatewayResponse.json(Body(error: .init(code: code, message: message)), status: status)
    for (name, value) in headers.sorted(by: { $0.key < $1.key }) { response.headers.set(name, value) }
    return response
  }
}

/// The one table from RPC status codes to HTTP statuses. Codes not listed (UNKNOWN, INTERNAL,
/// DATA_LOSS, ...) become 500 with a generic message: internals never reach a client.
public enum StatusMapping {
  public struct Entry: Sendable, Hashable {
    public var status: Int
    public var code: String
    /// The RPC message is passed on (for the codes whose messages are written for callers).
    public var passesMessage: Bool
  }

  public static let table: [RPCStatusCode: Entry] = [
    .invalidArgument: Entry(status: 400, code: "invalid_argument", passesMessage: true),
    .outOfRange: Entry(status: 400, code: "out_of_range", passesMessage: true),
    .unauthenticated: Entry(status: 401, code: "unauthenticated", passesMessage: true),
    .permissionDenied: Entry(status: 403, code: "permission_denied", passesMessage: true),
    .notFound: Entry(status: 404, code: "not_found", passesMessage: true),
    .alreadyExists: Entry(status: 409, code: "already_exists", passesMessage: true),
    .aborted: Entry(status: 409, code: "aborted", passesMessage: true),
    .failedPrecondition: Entry(status: 409, code: "failed_precondition", passesMessage: true),
    .resourceExhausted: Entry(status: 429, code: "resource_exhausted", passesMessage: true),
    .cancelled: Entry(status: 499, code: "cancelled", passesMessage: false),
    .unimplemented: Entry(status: 501, code: "unimplemented", passesMessage: true),
    .unavailable: Entry(status: 503, code: "unavailable", passesMessage: false),
    .deadlineExceeded: Entry(status: 504, code: "deadline_exceeded", passesMessage: false),
  ]

  static let fallback = Entry(status: 500, code: "internal", passesMessage: false)

  /// The HTTP error for an RPC failure.
  public static func apiError(for error: RPCError) -> APIError {
    let entry = table[error.code] ?? fallback
    let message: String
    if entry.passesMessage && !error.message.isEmpty {
      message = error.message
    } else {
      switch entry.status {
      case 503: message = "a backend service is unavailable; try again"
      case 504: message = "a backend service did not answer in time"
      case 499: message = "the request was cancelled"
      default: message = "internal error"
      }
    }
    var apiError = APIError(status: entry.status, code: entry.code, message: message)
    if let reason = Connections.ErrorReason(of: error) {
      // The machine-readable reason travels in a header; the body keeps the one shape.
      apiError.headers["x-hayon-error-reason"] = reason.rawValue
    }
    if entry.status == 429, let text = error.metadata[Connections.ErrorReason.retryAfterMetadataKey],
      let until = Timestamp(iso8601: text)
    {
      let seconds = max(1, (until.millisecondsSince1970 - Timestamp(.now).millisecondsSince1970 + 999) / 1000)
      apiError.headers["retry-after"] = String(seconds)
    }
    if entry.status == 401 { apiError.headers["www-authenticate"] = "Bearer" }
    return apiError
  }
}
