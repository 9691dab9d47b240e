import HayonHTTP2

#if canImport(Glibc)
import Glibc
#endif

/// Serialises responses. The server owns the framing: the handler's status and fields are
/// validated (so no handler can split a response or corrupt the stream), and `Content-Length`,
/// `Date` and `Connection` are set here, in one place.
enum HTTP1ResponseEncoder {
  /// What the encoder decided beyond the bytes.
  struct Outcome: Equatable {
    /// The connection must close after these bytes.
    var closesConnection: Bool
  }

  /// Appends `response` as the answer to a request with `method`. `keepAlive` is what the
  /// request and the server's state allow; the handler may still ask to close.
  static func encode(
    _ response: HTTPResponse, method: String, version: HTTPVersion, keepAlive: Bool, date: String,
    into output: inout ByteQueue
  ) -> Outcome {
    guard isValid(response) else {
      // A handler bug must not reach the wire as a malformed message.
      return encode(
        errorResponse(status: 500, reason: "the handler produced an invalid response"), method: method,
        version: version, keepAlive: false, date: date, into: &output)
    }
    var handlerCloses = false
    var hasDate = false
    for field in response.headers {
      if field.name.caseInsensitiveEquals("connection") {
        handlerCloses = handlerCloses || HTTPSyntax.commaSeparated(field.value).contains { $0.caseInsensitiveEquals("close") }
      } else if field.name.caseInsensitiveEquals("date") {
        hasDate = true
      }
    }
    let staysOpen = keepAlive && !handlerCloses
    // The head is written as bytes into one buffer (no string building per field).
    var head: [UInt8] = []
    head.reserveCapacity(256)
    head.append(contentsOf: "HTTP/1.1 ".utf8)
    head.append(contentsOf: String(response.status).utf8)
    head.append(0x20)
    head.append(contentsOf: reasonPhrase(response.status).utf8)
    head.append(contentsOf: crlf)
    for field in response.headers {
      if field.name.caseInsensitiveEquals("content-length") || field.name.caseInsensitiveEquals("transfer-encoding")
        || field.name.caseInsensitiveEquals("connection")
      {
        continue
      }
      head.append(contentsOf: field.name.utf8)
      head.append(0x3A)
      head.append(0x20)
      head.append(contentsOf: field.value.utf8)
      head.append(contentsOf: crlf)
    }
    if !hasDate {
      head.append(contentsOf: "Date: ".utf8)
      head.append(contentsOf: date.utf8)
      head.append(contentsOf: crlf)
    }
    // RFC 9110 §8.6: no Content-Length in a 204; a 304 describes the selected representation,
    // which this server does not track, so it carries none either.
    let bodyless = response.status == 204 || response.status == 304
    if !bodyless {
      let length: Int
      if method == "HEAD" && response.body.isEmpty {
        // A HEAD handler may state the length a GET would have without building the body.
        length =
          response.headers["content-length"].flatMap { value in
            value.utf8.count <= 18 && value.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 } ? Int(value) : nil
          } ?? 0
      } else {
        length = response.body.count
      }
      head.append(contentsOf: "Content-Length: ".utf8)
      head.append(contentsOf: String(length).utf8)
      head.append(contentsOf: crlf)
    }
    if !staysOpen {
      head.append(contentsOf: "Connection: close\r\n".utf8)
    } else if version == .http1_0 {
      head.append(contentsOf: "Connection: keep-alive\r\n".utf8)
    }
    head.append(contentsOf: crlf)
    // HEAD gets the fields a GET would (its Content-Length included), never the body.
    if !bodyless && method != "HEAD" && !response.body.isEmpty {
      // Small bodies ride in the head's buffer: one append to the queue instead of two.
      if response.body.count <= 4096 {
        head.append(contentsOf: response.body)
        output.append(head)
      } else {
        output.append(head)
        output.append(response.body)
      }
    } else {
      output.append(head)
    }
    return Outcome(closesConnection: !staysOpen)
  }

  private static let crlf: [UInt8] = [0x0D, 0x0A]

  static func isValid(_ response: HTTPResponse) -> Bool {
    guard (200...599).contains(response.status) else { return false }
    for field in response.headers {
      guard !field.name.isEmpty, field.name.utf8.allSatisfy(HTTPSyntax.isTokenByte),
        field.value.utf8.allSatisfy(HTTPSyntax.isFieldValueByte)
      else { return false }
    }
    return true
  }

  /// The interim response for `Expect: 100-continue`.
  static let continueResponse: [UInt8] = Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)

  /// The server's own error answer: a small JSON body in the gateway's error shape.
  static func errorResponse(status: Int, reason: String) -> HTTPResponse {
    let body = #"{"error":{"code":"\#(errorCode(status))","message":"\#(jsonEscaped(reason))"}}"#
    return HTTPResponse(
      status: status, headers: ["Content-Type": "application/json", "Connection": "close"],
      body: Array(body.utf8))
  }

  static func errorCode(_ status: Int) -> String {
    switch status {
    case 400: return "bad_request"
    case 408: return "request_timeout"
    case 413: return "payload_too_large"
    case 414: return "uri_too_long"
    case 417: return "expectation_failed"
    case 431: return "request_header_fields_too_large"
    case 500: return "internal"
    case 503: return "unavailable"
    case 505: return "http_version_not_supported"
    default: return "error"
    }
  }

  static func jsonEscaped(_ text: String) -> String {
    var escaped = ""
    for scalar in text.unicodeScalars {
      switch scalar {
      case "\"": escaped += "\\\""
      case "\\": escaped += "\\\\"
      case _ where scalar.value < 0x20: escaped += "\\u00" + String(scalar.value, radix: 16).leftPadded(to: 2)
      default: escaped.unicodeScalars.append(scalar)
      }
    }
    return escaped
  }

  static func reasonPhrase(_ status: Int) -> String {
    switch status {
    case 200: return "OK"
    case 201: return "Created"
    case 202: return "Accepted"
    case 204: return "No Content"
    case 206: return "Partial Content"
    case 301: return "Moved Permanently"
    case 302: return "Found"
    case 303: return "See Other"
    case 304: return "Not Modified"
    case 307: return "Temporary Redirect"
    case 308: return "Permanent Redirect"
    case 400: return "Bad Request"
    case 401: return "Unauthorized"
    case 403: return "Forbidden"
    case 404: return "Not Found"
    case 405: return "Method Not Allowed"
    case 408: return "Request Timeout"
    case 409: return "Conflict"
    case 410: return "Gone"
    case 412: return "Precondition Failed"
    case 413: return "Content Too Large"
    case 414: return "URI Too Long"
    case 415: return "Unsupported Media Type"
    case 417: return "Expectation Failed"
    case 422: return "Unprocessable Content"
    case 429: return "Too Many Requests"
    case 431: return "Request Header Fields Too Large"
    case 500: return "Internal Server Error"
    case 501: return "Not Implemented"
    case 502: return "Bad Gateway"
    case 503: return "Service Unavailable"
    case 504: return "Gateway Timeout"
    case 505: return "HTTP Version Not Supported"
    default: return "Status \(status)"
    }
  }
}

/// IMF-fixdate (RFC 9110 §5.6.7) for the `Date` field, cached per second.
struct HTTPDateCache {
  private var second: time_t = -1
  private var text = ""

  private static let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
  private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

  mutating func current() -> String {
    let now = time(nil)
    if now != second {
      second = now
      text = Self.format(now)
    }
    return text
  }

  static func format(_ seconds: time_t) -> String {
    var value = seconds
    var parts = tm()
    gmtime_r(&value, &parts)
    let day = String(parts.tm_mday).leftPadded(to: 2)
    let hour = String(parts.tm_hour).leftPadded(to: 2)
    let minute = String(parts.tm_min).leftPadded(to: 2)
    let second = String(parts.tm_sec).leftPadded(to: 2)
    return "\(days[Int(parts.tm_wday)]), \(day) \(months[Int(parts.tm_mon)]) \(1900 + Int(parts.tm_year)) \(hour):\(minute):\(second) GMT"
  }
}

extension String {
  func leftPadded(to width: Int) -> String {
    count >= width ? self : String(repeating: "0", count: width - count) + self
  }
}
