import Foundation
import Gateway
import HayonTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Sends raw bytes and reads until the server closes (or 5 s pass). Blocking, on purpose small.
func rawExchange(port: Int, _ bytes: [UInt8]) throws -> (text: String, closed: Bool) {
  let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
  guard fd >= 0 else { throw CurlFailure(description: "socket failed") }
  defer { close(fd) }
  var address = sockaddr_in()
  address.sin_family = sa_family_t(AF_INET)
  address.sin_port = in_port_t(UInt16(port).bigEndian)
  address.sin_addr.s_addr = inet_addr("127.0.0.1")
  let connected = withUnsafePointer(to: &address) {
    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
  }
  guard connected == 0 else { throw CurlFailure(description: "connect failed") }
  var timeout = timeval(tv_sec: 5, tv_usec: 0)
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
  _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
  var received: [UInt8] = []
  var buffer = [UInt8](repeating: 0, count: 4096)
  var closed = false
  while true {
    let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
    if count > 0 {
      received += buffer[0..<count]
      continue
    }
    closed = count == 0 || errno == ECONNRESET
    break
  }
  return (String(decoding: received, as: UTF8.self), closed)
}

/// The `X-Request-Id` value of a raw HTTP/1.1 response, if it has one.
func requestId(in response: String) -> String? {
  let head = response.components(separatedBy: "\r\n\r\n").first ?? ""
  for line in head.components(separatedBy: "\r\n") where line.lowercased().hasPrefix("x-request-id: ") {
    return String(line.dropFirst("x-request-id: ".count))
  }
  return nil
}

@Suite("hostile and malformed requests", .serialized)
struct HostileTests {
  /// Each case: 400, the connection closed, nothing forwarded to any service.
  static let cases: [(String, String)] = [
    ("Content-Length with Transfer-Encoding", "POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    ("duplicate Content-Length", "POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}x"),
    ("Content-Length list", "POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: 2, 2\r\n\r\n{}"),
    ("negative Content-Length", "POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n"),
    ("unknown transfer coding", "POST /api/auth/login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"),
    ("chunked not last", "POST /api/auth/login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n"),
    ("bad chunk size", "POST /api/auth/login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n"),
    ("bare LF in the request line", "GET /healthz HTTP/1.1\nHost: x\r\n\r\n"),
    ("bare CR in a header", "GET /healthz HTTP/1.1\r\nHost: x\rX: y\r\n\r\n"),
    ("obs-fold", "GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: one\r\n  two\r\n\r\n"),
    ("NUL in a header value", "GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\u{0}b\r\n\r\n"),
    ("space before the colon", "GET /healthz HTTP/1.1\r\nHost : x\r\n\r\n"),
    ("invalid header name", "GET /healthz HTTP/1.1\r\nHost: x\r\nBad[Name]: y\r\n\r\n"),
    ("invalid method", "G(ET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("missing Host", "GET /healthz HTTP/1.1\r\n\r\n"),
    ("two Host headers", "GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
    ("bad percent-encoding in the path", "GET /api/%zz HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("NUL percent-encoded in the path", "GET /api/accounts%00 HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("absolute-form target", "GET http://evil.example/api/accounts HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("malformed query", "GET /api/posts?status=%G1 HTTP/1.1\r\nHost: x\r\n\r\n"),
  ]

  @Test("each hostile request: 400, connection closed, nothing forwarded")
  func hostile() async throws {
    try await withStack { stack in
      stack.recorder.reset()
      for (name, request) in Self.cases {
        let (text, closed) = try rawExchange(port: stack.port, Array(request.utf8))
        #expect(text.hasPrefix("HTTP/1.1 400 "), "\(name): \(text.prefix(80))")
        #expect(closed, "\(name): connection left open")
        #expect(text.contains(#"{"error":{"code":"#), "\(name): \(text)")
        // Refused by the parser or by the gateway, it carries a request id like every response.
        #expect(requestId(in: text) != nil, "\(name): \(text)")
      }
      // A smuggling attempt: the second request hidden in the body must not run.
      let smuggle = "POST /api/auth/logout HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /api/accounts HTTP/1.1\r\nHost: x\r\n\r\n"
      let (text, _) = try rawExchange(port: stack.port, Array(smuggle.utf8))
      #expect(text.components(separatedBy: "HTTP/1.1 ").count == 2, "exactly one response: \(text)")
      #expect(stack.recorder.count == 0, "forwarded: \(stack.recorder.all.map(\.method))")
    }
  }

  @Test("oversized heads and bodies: 414, 431, 413; nothing forwarded")
  func oversized() async throws {
    try await withStack { stack in
      stack.recorder.reset()
      let longTarget = "GET /\(String(repeating: "a", count: 9000)) HTTP/1.1\r\nHost: x\r\n\r\n"
      var many = "GET /healthz HTTP/1.1\r\nHost: x\r\n"
      for index in 0..<150 { many += "X-\(index): y\r\n" }
      let huge = "POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5000000\r\n\r\n"
      var ids: Set<String> = []
      for (request, status) in [(longTarget, 414), (many + "\r\n", 431), (huge, 413)] {
        let text = try rawExchange(port: stack.port, Array(request.utf8)).text
        #expect(text.hasPrefix("HTTP/1.1 \(status) "), "\(text.prefix(80))")
        // The parser refused it before routing: the request id is a fresh one each time.
        let id = try #require(requestId(in: text), "\(status) without a request id")
        #expect(id.count == 32)
        ids.insert(id)
      }
      #expect(ids.count == 3)
      // Within the server's limit but over the route's JSON limit.
      let body = "{\"email\":\"\(String(repeating: "a", count: 70_000))\",\"password\":\"x\"}"
      let big = try await curl("POST", stack.url("/api/auth/login"), headers: ["Content-Type": "application/json"], body: body)
      #expect(big.status == 413)
      #expect(big.errorCode == "payload_too_large")
      let longEmail = try await curl(
        "POST", stack.url("/api/auth/signup"), headers: ["Content-Type": "application/json"],
        body: "{\"email\":\"\(String(repeating: "a", count: 400))@x.com\",\"password\":\"correct horse\"}")
      #expect(longEmail.status == 400)
      let noType = try await curl("POST", stack.url("/api/auth/login"), body: #"{"email":"a@b.c","password":"x"}"#)
      #expect(noType.status == 415)
      #expect(stack.recorder.count == 0, "forwarded: \(stack.recorder.all.map(\.method))")
    }
  }

  @Test("HTTP/2: bad paths and oversized bodies are refused before any service is called")
  func http2Hostile() async throws {
    try await withStack { stack in
      stack.recorder.reset()
      let badPath = try await curl("GET", stack.url("/api/%zz"), protocol: .h2PriorKnowledge, extra: ["--path-as-is"])
      #expect(badPath.status == 400)
      #expect(badPath.errorCode == "invalid_argument")
      #expect(badPath.header("x-request-id") != nil)
      let body = String(repeating: "x", count: 1_100_000)
      let big = try await curl(
        "POST", stack.url("/api/auth/login"), protocol: .h2PriorKnowledge,
        headers: ["Content-Type": "application/json", "X-Request-Id": "client-413"], body: body)
      #expect(big.status == 413)
      // Refused over a size limit, as HTTP/1.1's parser refuses one: a fresh id.
      #expect(big.header("x-request-id")?.count == 32)
      let hugeHeader = try await curl(
        "GET", stack.url("/healthz"), protocol: .h2PriorKnowledge,
        headers: ["X-Big": String(repeating: "b", count: 20_000), "X-Request-Id": "not-reused"])
      #expect(hugeHeader.status == 431)
      // The header list was dropped unread, the client's id with it: a fresh one.
      #expect(hugeHeader.header("x-request-id")?.count == 32)
      let token = try await curl(
        "GET", stack.url("/api/accounts"), protocol: .h2PriorKnowledge, headers: bearer(String(repeating: "t", count: 5000)))
      #expect(token.status == 401)
      #expect(stack.recorder.count == 0, "forwarded: \(stack.recorder.all.map(\.method))")
    }
  }

  @Test("HTTP/2: a request whose body ends with trailers (nghttp --trailer) is routed like any other")
  func http2RequestEndedByTrailers() async throws {
    try await withStack { stack in
      let bodyFile = FileManager.default.temporaryDirectory.appendingPathComponent("hayon-trailers-\(UInt64.random(in: 0...UInt64.max)).json")
      try Data(#"{"email":"trailers@example.com","password":"correct horse battery"}"#.utf8).write(to: bodyFile)
      defer { try? FileManager.default.removeItem(at: bodyFile) }
      let result = try await runProcess(
        "nghttp",
        ["-v", "-t", "20", "-H", "content-type: application/json", "--trailer", "x-body-check: 1", "-d", bodyFile.path,
         stack.url("/api/auth/signup")],
        timeout: .seconds(30))
      let output = String(decoding: result.stdout, as: UTF8.self)
      #expect(result.succeeded, "\(result)")
      // nghttp ended its side with the trailer block, not with the DATA frame.
      let trailers = try #require(output.range(of: "x-body-check: 1"), "\(output)")
      let sentBlock = try #require(output[..<trailers.lowerBound].range(of: "send HEADERS frame", options: .backwards), "\(output)")
      #expect(output[sentBlock.upperBound..<trailers.lowerBound].contains("END_STREAM"), "\(output)")
      #expect(output.contains(":status: 201"), "\(output)")
      #expect(stack.recorder.count > 0, "the signup reached no service")
    }
  }

  @Test("keep-alive, pipelining and chunked request bodies reach the routes in order")
  func pipelinedAndChunked() async throws {
    try await withStack { stack in
      let body = #"{"email":"chunky@example.com","password":"correct horse battery"}"#
      let half = body.utf8.count / 2
      let first = String(body.prefix(half))
      let second = String(body.dropFirst(half))
      let chunked =
        "POST /api/auth/signup HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
        + "X-Request-Id: one\r\n\r\n"
        + String(first.utf8.count, radix: 16) + "\r\n" + first + "\r\n"
        + String(second.utf8.count, radix: 16) + "\r\n" + second + "\r\n0\r\n\r\n"
      let health = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-Id: two\r\n\r\n"
      let last = "GET /api/nope HTTP/1.1\r\nHost: x\r\nX-Request-Id: three\r\nConnection: close\r\n\r\n"
      let (text, closed) = try rawExchange(port: stack.port, Array((chunked + health + last).utf8))
      #expect(closed)
      // Bodies are not newline-terminated, so a status line may follow a body directly.
      let statuses = text.components(separatedBy: "HTTP/1.1 ").dropFirst().map { String($0.prefix(3)) }
      #expect(statuses == ["201", "200", "404"], "\(text)")
      let ids = text.lowercased().components(separatedBy: "\r\n").filter { $0.hasPrefix("x-request-id: ") }
      #expect(ids == ["x-request-id: one", "x-request-id: two", "x-request-id: three"])
    }
  }
}
