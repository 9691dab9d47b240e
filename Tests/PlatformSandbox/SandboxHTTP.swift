import Foundation
import HayonHTTP1

/// JSON and form helpers shared by the emulators. Bodies are parsed with Foundation's
/// `JSONSerialization` into plain dictionaries; the values never leave the handler that parsed
/// them, so nothing non-Sendable crosses a concurrency boundary.
enum SandboxHTTP {
  /// Longest string any emulator accepts in a single field (texts are checked against their
  /// own, smaller platform limits first).
  static let maxFieldLength = 16 * 1024

  static func json(_ status: Int, _ object: Any, headers: HTTPFields = HTTPFields()) -> HTTPResponse {
    var headers = headers
    headers.set("Content-Type", "application/json; charset=utf-8")
    return HTTPResponse(status: status, headers: headers, body: encode(object))
  }

  /// The string, or JSON null.
  static func nullable(_ value: String?) -> Any { value.map { $0 as Any } ?? NSNull() }

  static func encode(_ object: Any) -> [UInt8] {
    guard JSONSerialization.isValidJSONObject(object),
      let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
    else { return Array("{}".utf8) }
    return Array(data)
  }

  /// A JSON object body, or nil when the body is not one.
  static func jsonObject(_ body: [UInt8]) -> [String: Any]? {
    guard !body.isEmpty,
      let value = try? JSONSerialization.jsonObject(with: Data(body), options: [.fragmentsAllowed])
    else { return nil }
    return value as? [String: Any]
  }

  static func isJSON(_ request: HTTPRequest) -> Bool {
    mediaType(request) == "application/json"
  }

  static func isForm(_ request: HTTPRequest) -> Bool {
    mediaType(request) == "application/x-www-form-urlencoded"
  }

  static func mediaType(_ request: HTTPRequest) -> String {
    guard let value = request.headers["content-type"] else { return "" }
    return value.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
  }

  /// Parameters from a JSON object body or a form body (Mastodon and Doorkeeper accept both).
  /// Form values are strings; a repeated form name or `name[]` becomes an array of strings.
  /// Nil when the body is neither (an empty body is an empty dictionary).
  static func parameters(_ request: HTTPRequest) -> [String: Any]? {
    if request.body.isEmpty { return [:] }
    if isForm(request) {
      guard let form = try? FormParameters(parsing: request.body) else { return nil }
      return dictionary(form)
    }
    if let object = jsonObject(request.body) { return object }
    // No (or another) content type: Rails still tries the form parser.
    if mediaType(request).isEmpty, let form = try? FormParameters(parsing: request.body) { return dictionary(form) }
    return nil
  }

  static func dictionary(_ form: FormParameters) -> [String: Any] {
    var result: [String: Any] = [:]
    for parameter in form {
      var name = parameter.name
      let isArray = name.hasSuffix("[]")
      if isArray { name.removeLast(2) }
      if isArray || result[name] != nil {
        var values = (result[name] as? [String]) ?? (result[name] as? String).map { [$0] } ?? []
        values.append(parameter.value)
        result[name] = values
      } else {
        result[name] = parameter.value
      }
    }
    return result
  }

  /// The query string decoded (malformed → nil).
  static func query(_ request: HTTPRequest) -> FormParameters? {
    try? request.queryParameters()
  }

  /// A string field, bounded. Nil when absent, not a string, or too long.
  static func string(_ object: [String: Any], _ key: String, maxLength: Int = maxFieldLength) -> String? {
    guard let value = object[key] as? String, value.utf8.count <= maxLength else { return nil }
    return value
  }

  /// The credential from `Authorization: Bearer <token>` (scheme case-insensitive), or nil.
  static func bearerToken(_ request: HTTPRequest) -> String? {
    guard let value = request.headers["authorization"] else { return nil }
    let parts = value.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
    guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
    let token = parts[1].trimmingCharacters(in: .whitespaces)
    return token.isEmpty || token.utf8.count > maxFieldLength ? nil : token
  }

  /// `Authorization: Basic base64(id:secret)`, decoded.
  static func basicCredentials(_ request: HTTPRequest) -> (user: String, password: String)? {
    guard let value = request.headers["authorization"] else { return nil }
    let parts = value.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
    guard parts.count == 2, parts[0].lowercased() == "basic",
      let data = Data(base64Encoded: String(parts[1]).trimmingCharacters(in: .whitespaces)),
      let text = String(data: data, encoding: .utf8), let colon = text.firstIndex(of: ":")
    else { return nil }
    let user = String(text[..<colon]).removingPercentEncoding ?? String(text[..<colon])
    let password = String(text[text.index(after: colon)...])
    return (user, password.removingPercentEncoding ?? password)
  }

  /// Percent-encodes everything outside RFC 3986's unreserved set (for redirect query values).
  static func percentEncode(_ text: String) -> String {
    var allowed = CharacterSet.alphanumerics.intersection(CharacterSet(charactersIn: Unicode.Scalar(0)..<Unicode.Scalar(128)))
    allowed.insert(charactersIn: "-._~")
    return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
  }

  /// `base` with `parameters` appended to its query (keeps an existing query).
  static func appendingQuery(_ base: String, _ parameters: [(String, String)]) -> String {
    let encoded = parameters.map { "\(percentEncode($0.0))=\(percentEncode($0.1))" }.joined(separator: "&")
    let separator = base.contains("?") ? "&" : "?"
    return base + separator + encoded
  }

  /// RFC 3339 / ISO 8601 instants with or without fractional seconds. Nil when unparseable.
  static func parseDate(_ text: String) -> Date? {
    guard text.utf8.count <= 64 else { return nil }
    let withFraction = ISO8601DateFormatter()
    withFraction.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    if let date = withFraction.date(from: text) { return date }
    let plain = ISO8601DateFormatter()
    plain.formatOptions = [.withInternetDateTime]
    return plain.date(from: text)
  }

  /// `2026-01-01T12:00:00.000Z` (Mastodon's `created_at`).
  static func isoMilliseconds(_ date: Date) -> String {
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    return formatter.string(from: date)
  }

  /// `2026-01-01T12:05:00.000000Z` (Mastodon's `X-RateLimit-Reset`).
  static func isoMicroseconds(_ date: Date) -> String {
    let plain = ISO8601DateFormatter()
    plain.formatOptions = [.withInternetDateTime]
    let seconds = date.timeIntervalSince1970
    let micros = Int(((seconds - seconds.rounded(.down)) * 1_000_000).rounded(.down))
    let text = plain.string(from: Date(timeIntervalSince1970: seconds.rounded(.down)))
    return String(text.dropLast()) + "." + String(format: "%06d", micros) + "Z"
  }

  static func htmlEscape(_ text: String) -> String {
    var result = ""
    for character in text {
      switch character {
      case "&": result += "&amp;"
      case "<": result += "&lt;"
      case ">": result += "&gt;"
      case "\"": result += "&quot;"
      case "'": result += "&#39;"
      default: result.append(character)
      }
    }
    return result
  }

  static func html(_ status: Int, title: String, message: String) -> HTTPResponse {
    let page = "<!DOCTYPE html><html><head><title>\(htmlEscape(title))</title></head><body><h1>\(htmlEscape(title))</h1><p>\(htmlEscape(message))</p></body></html>"
    return HTTPResponse(status: status, headers: ["Content-Type": "text/html; charset=utf-8"], body: Array(page.utf8))
  }
}

/// RFC 4648 base32, lowercase, no padding (atproto DIDs and CIDs use this alphabet).
enum Base32 {
  static let alphabet = Array("abcdefghijklmnopqrstuvwxyz234567".utf8)

  static func encode(_ bytes: [UInt8]) -> String {
    var output: [UInt8] = []
    var buffer = 0
    var bits = 0
    for byte in bytes {
      buffer = (buffer << 8) | Int(byte)
      bits += 8
      while bits >= 5 {
        output.append(alphabet[(buffer >> (bits - 5)) & 31])
        bits -= 5
      }
      buffer &= (1 << bits) - 1
    }
    if bits > 0 { output.append(alphabet[(buffer << (5 - bits)) & 31]) }
    return String(decoding: output, as: UTF8.self)
  }
}
