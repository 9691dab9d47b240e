public import Foundation

/// One outbound request to a platform. Bodies are small JSON or form documents; media uploads
/// come later and will stream.
public struct PlatformHTTPRequest: Sendable {
  public var method: String
  public var url: URL
  /// Sent as given. `Authorization` values are never logged by this layer.
  public var headers: [(name: String, value: String)]
  public var body: Data?
  /// The whole exchange, connect to last byte.
  public var timeout: Duration
  /// The request must reach the platform at most once (creating a post): the transport sends it
  /// on a connection of its own and never re-sends it, whatever happens to the connection.
  public var mustNotRepeat = false

  public init(
    method: String, url: URL, headers: [(name: String, value: String)] = [], body: Data? = nil,
    timeout: Duration = .seconds(15)
  ) {
    self.method = method
    self.url = url
    self.headers = headers
    self.body = body
    self.timeout = timeout
  }

  /// A JSON body with its content type.
  public static func json(
    _ method: String, _ url: URL, body: some Encodable, headers: [(name: String, value: String)] = []
  ) throws -> PlatformHTTPRequest {
    let data = try JSONEncoder().encode(body)
    return PlatformHTTPRequest(
      method: method, url: url, headers: headers + [("Content-Type", "application/json")], body: data)
  }

  /// An `application/x-www-form-urlencoded` body (OAuth token and revocation endpoints).
  public static func form(
    _ method: String, _ url: URL, fields: [(String, String)], headers: [(name: String, value: String)] = []
  ) -> PlatformHTTPRequest {
    let body = FormEncoding.encode(fields)
    return PlatformHTTPRequest(
      method: method, url: url, headers: headers + [("Content-Type", "application/x-www-form-urlencoded")],
      body: Data(body.utf8))
  }
}

/// A platform's answer. Header names are lowercased; the body is capped by the client.
public struct PlatformHTTPResponse: Sendable {
  public var status: Int
  public var headers: [String: String]
  public var body: Data

  public init(status: Int, headers: [String: String] = [:], body: Data = Data()) {
    self.status = status
    var lowered: [String: String] = [:]
    for (name, value) in headers { lowered[name.lowercased()] = value }
    self.headers = lowered
    self.body = body
  }

  public func header(_ name: String) -> String? { headers[name.lowercased()] }

  public var isSuccess: Bool { (200..<300).contains(status) }
}

/// Why no HTTP response came back. The distinction matters to publishing: a request that was
/// never sent can be retried freely; one that may have reached the platform cannot.
public enum PlatformTransportError: Error, Sendable, Hashable, CustomStringConvertible {
  /// Nothing reached the platform (name resolution, connection refused, TLS failure).
  case notSent(String)
  /// The request may have been received; the answer was lost (timeout, reset mid-exchange).
  case noResponse(String)
  /// The platform answered with more than the client accepts.
  case responseTooLarge(limit: Int)

  public var description: String {
    switch self {
    case .notSent(let why): "the request could not be sent: \(why)"
    case .noResponse(let why): "no response arrived: \(why)"
    case .responseTooLarge(let limit): "the response was larger than \(limit) bytes"
    }
  }
}

/// The seam between platform clients and the network, so tests and the sandbox can stand in.
/// Redirects are never followed: an OAuth or API endpoint that redirects is answered as is.
public protocol PlatformHTTPClient: Sendable {
  func send(_ request: PlatformHTTPRequest) async throws(PlatformTransportError) -> PlatformHTTPResponse
}

/// `application/x-www-form-urlencoded` and query-string encoding (RFC 3986 unreserved kept).
public enum FormEncoding {
  private static let unreserved: Set<UInt8> = Set(
    Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~".utf8))

  public static func percentEncode(_ text: String) -> String {
    var out = ""
    out.reserveCapacity(text.utf8.count)
    for byte in text.utf8 {
      if unreserved.contains(byte) {
        out.unicodeScalars.append(Unicode.Scalar(byte))
      } else {
        let hex = Array("0123456789ABCDEF".unicodeScalars)
        out.unicodeScalars.append("%")
        out.unicodeScalars.append(hex[Int(byte >> 4)])
        out.unicodeScalars.append(hex[Int(byte & 0x0F)])
      }
    }
    return out
  }

  public static func encode(_ fields: [(String, String)]) -> String {
    fields.map { "\(percentEncode($0.0))=\(percentEncode($0.1))" }.joined(separator: "&")
  }
}
