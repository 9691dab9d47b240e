import Foundation
import HayonHTTP1
import HayonHTTP2
import PlatformSandbox
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// One loop group for every sandbox in this target.
let sandboxTestGroup = EventLoopGroup(loopCount: 1, name: "sandbox-test")

struct ClientError: Error, CustomStringConvertible {
  var description: String
  init(_ description: String) { self.description = description }
}

/// A response as read off the wire.
struct Reply: Sendable {
  var status: Int
  var headers: [(name: String, value: String)]
  var body: [UInt8]

  func header(_ name: String) -> String? {
    headers.first { $0.name.lowercased() == name.lowercased() }?.value
  }

  var text: String { String(decoding: body, as: UTF8.self) }

  /// The body as a JSON object (empty when it is not one).
  var json: [String: Any] {
    (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] ?? [:]
  }

  /// `error` of a Mastodon/XRPC error body.
  var error: String? { json["error"] as? String }
  var message: String? { json["message"] as? String }
}

/// Starts a sandbox on port 0, runs `body`, and always shuts it down.
func withSandbox(_ body: (PlatformSandbox) async throws -> Void) async throws {
  var configuration = PlatformSandbox.Configuration()
  configuration.group = sandboxTestGroup
  let sandbox = try await PlatformSandbox.start(configuration)
  do {
    try await body(sandbox)
  } catch {
    await sandbox.shutdown()
    throw error
  }
  await sandbox.shutdown()
}

/// A minimal HTTP/1.1 client: one request per connection (`Connection: close`), never follows
/// redirects. Nil when the server closed the connection without answering.
func exchange(
  _ sandbox: PlatformSandbox, _ method: String, _ target: String, headers: [(String, String)] = [],
  body: [UInt8] = []
) async throws -> Reply? {
  let port = Int(sandbox.baseURL.split(separator: ":").last!)!
  var head = "\(method) \(target) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n"
  for (name, value) in headers { head += "\(name): \(value)\r\n" }
  if !body.isEmpty || method == "POST" { head += "Content-Length: \(body.count)\r\n" }
  head += "\r\n"
  let request = Array(head.utf8) + body
  return try await offPool { try rawExchange(port: port, request) }
}

/// Runs blocking socket work on its own thread, keeping the concurrency pool free.
func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
  try await withCheckedThrowingContinuation { continuation in
    let thread = Thread { continuation.resume(with: Result { try body() }) }
    thread.start()
  }
}

/// Sends `request` on a fresh connection and reads until the server closes.
func rawRequest(port: Int, _ text: String) throws -> Reply? { try rawExchange(port: port, Array(text.utf8)) }

private func rawExchange(port: Int, _ request: [UInt8]) throws -> Reply? {
  let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
  guard fd >= 0 else { throw ClientError("socket failed") }
  defer { close(fd) }
  // A safety net only: a broken server fails the test instead of hanging it.
  var timeout = timeval(tv_sec: 10, tv_usec: 0)
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
  var address = sockaddr_in()
  address.sin_family = sa_family_t(AF_INET)
  address.sin_port = UInt16(port).bigEndian
  address.sin_addr.s_addr = inet_addr("127.0.0.1")
  let connected = withUnsafePointer(to: &address) {
    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
  }
  guard connected == 0 else { throw ClientError("connect failed: errno \(errno)") }
  var offset = 0
  while offset < request.count {
    let written = request[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    guard written > 0 else { break }  // the server may close early (e.g. 413)
    offset += written
  }
  var received: [UInt8] = []
  var chunk = [UInt8](repeating: 0, count: 64 * 1024)
  while true {
    let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
    if count > 0 {
      received.append(contentsOf: chunk[0..<count])
      continue
    }
    if count == 0 || errno == ECONNRESET { break }
    throw ClientError("recv failed: errno \(errno)")
  }
  guard !received.isEmpty else { return nil }
  guard let headEnd = find([13, 10, 13, 10], in: received) else { throw ClientError("incomplete response") }
  let head = String(decoding: received[0..<headEnd], as: UTF8.self)
  var lines = head.components(separatedBy: "\r\n")
  let statusLine = lines.removeFirst().split(separator: " ")
  guard statusLine.count >= 2, let status = Int(statusLine[1]) else { throw ClientError("bad status line \(head)") }
  var headers: [(name: String, value: String)] = []
  for line in lines {
    guard let colon = line.firstIndex(of: ":") else { continue }
    headers.append((String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
  }
  var body = Array(received[(headEnd + 4)...])
  if let length = headers.first(where: { $0.name.lowercased() == "content-length" }).flatMap({ Int($0.value) }) {
    body = Array(body.prefix(length))
  }
  return Reply(status: status, headers: headers, body: body)
}

private func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
  guard haystack.count >= needle.count else { return nil }
  for index in 0...(haystack.count - needle.count) where Array(haystack[index..<(index + needle.count)]) == needle {
    return index
  }
  return nil
}

/// Convenience requests (each throws when the connection ended without an answer).
extension PlatformSandbox {
  func get(_ target: String, bearer: String? = nil, headers: [(String, String)] = []) async throws -> Reply {
    var all = headers
    if let bearer { all.append(("Authorization", "Bearer \(bearer)")) }
    return try await require(exchange(self, "GET", target, headers: all))
  }

  func post(_ target: String, json: Any? = nil, bearer: String? = nil, headers: [(String, String)] = []) async throws
    -> Reply
  {
    var all = headers
    if let bearer { all.append(("Authorization", "Bearer \(bearer)")) }
    var body: [UInt8] = []
    if let json {
      body = Array(try JSONSerialization.data(withJSONObject: json))
      all.append(("Content-Type", "application/json"))
    }
    return try await require(exchange(self, "POST", target, headers: all, body: body))
  }

  func post(_ target: String, form: [(String, String)], bearer: String? = nil, headers: [(String, String)] = [])
    async throws -> Reply
  {
    var all = headers
    if let bearer { all.append(("Authorization", "Bearer \(bearer)")) }
    all.append(("Content-Type", "application/x-www-form-urlencoded"))
    let body = form.map { "\(formEncode($0.0))=\(formEncode($0.1))" }.joined(separator: "&")
    return try await require(exchange(self, "POST", target, headers: all, body: Array(body.utf8)))
  }

  func postRaw(_ target: String, body: [UInt8], contentType: String, bearer: String? = nil) async throws -> Reply {
    var all = [("Content-Type", contentType)]
    if let bearer { all.append(("Authorization", "Bearer \(bearer)")) }
    return try await require(exchange(self, "POST", target, headers: all, body: body))
  }
}

func require(_ reply: Reply?) throws -> Reply {
  guard let reply else { throw ClientError("the connection closed without a response") }
  return reply
}

func formEncode(_ text: String) -> String {
  var allowed = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~")
  allowed.remove(charactersIn: "+&=")
  return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
}

/// The decoded query parameters of a URL string (`Location` headers).
func queryItems(_ url: String) -> [String: String] {
  var result: [String: String] = [:]
  for item in URLComponents(string: url)?.queryItems ?? [] { result[item.name] = item.value ?? "" }
  return result
}

/// The header and claims of a JWT (unverified).
func jwtParts(_ token: String) -> (header: [String: Any], claims: [String: Any]) {
  let parts = token.split(separator: ".").map(String.init)
  func decode(_ part: String) -> [String: Any] {
    var base64 = part.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
    while base64.count % 4 != 0 { base64 += "=" }
    guard let data = Data(base64Encoded: base64) else { return [:] }
    return (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
  }
  guard parts.count == 3 else { return ([:], [:]) }
  return (decode(parts[0]), decode(parts[1]))
}
