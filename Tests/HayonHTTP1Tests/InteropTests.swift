import Foundation
import HayonHTTP1
import Synchronization
import Testing

/// FNV-1a, to compare a large body without echoing it.
func fnv1a(_ bytes: [UInt8]) -> UInt64 {
  var hash: UInt64 = 0xcbf2_9ce4_8422_2325
  for byte in bytes {
    hash ^= UInt64(byte)
    hash = hash &* 0x100_0000_01b3
  }
  return hash
}

@Suite("curl interop", .serialized)
struct InteropTests {
  static let curl = "/usr/bin/curl"

  @Test func keepAliveAcrossTwoURLs() async throws {
    let calls = CallCounter()
    try await withServer(handler: echoHandler(calls)) { _, port in
      let result = try await run(Self.curl, [
        "--http1.1", "-sS", "-v", "--max-time", "20",
        "http://127.0.0.1:\(port)/one?a=1", "http://127.0.0.1:\(port)/two",
      ])
      #expect(result.status == 0, "\(result.stderr)")
      #expect(result.stdout == "GET /one?a=1 0GET /two 0")
      #expect(result.stderr.contains("Re-using existing connection"), "\(result.stderr)")
      #expect(calls.count == 2)
    }
  }

  @Test func chunkedUploadWithExpectContinue() async throws {
    let seen = Mutex<(transferEncoding: String?, length: Int)>((nil, 0))
    let handler: HTTP1Server.Handler = { request in
      seen.withLock { $0 = (request.headers["transfer-encoding"], request.body.count) }
      return HTTPResponse(status: 200, body: Array("\(request.body.count) \(fnv1a(request.body))".utf8))
    }
    var payload = [UInt8](repeating: 0, count: 300_000)
    for index in payload.indices { payload[index] = UInt8(truncatingIfNeeded: index &* 31 &+ index >> 8) }
    let file = FileManager.default.temporaryDirectory.appendingPathComponent("http1-upload-\(UUID().uuidString)")
    try Data(payload).write(to: file)
    defer { try? FileManager.default.removeItem(at: file) }
    try await withServer(handler: handler) { _, port in
      let result = try await run(Self.curl, [
        "--http1.1", "-sS", "-v", "--max-time", "20", "-H", "Transfer-Encoding: chunked",
        "--data-binary", "@\(file.path)", "http://127.0.0.1:\(port)/upload",
      ])
      #expect(result.status == 0, "\(result.stderr)")
      #expect(result.stdout == "\(payload.count) \(fnv1a(payload))")
      #expect(seen.withLock { $0.transferEncoding } == "chunked")
      #expect(seen.withLock { $0.length } == payload.count)
    }
  }

  @Test func headAndOversizedUploadWithCurl() async throws {
    let calls = CallCounter()
    try await withServer(
      configure: { $0.parser.maxBodySize = 1000 }, handler: echoHandler(calls)
    ) { _, port in
      let head = try await run(Self.curl, ["--http1.1", "-sS", "-I", "--max-time", "20", "http://127.0.0.1:\(port)/h"])
      #expect(head.status == 0, "\(head.stderr)")
      #expect(head.stdout.hasPrefix("HTTP/1.1 200 OK\r\n"))
      #expect(head.stdout.contains("Content-Length: 9\r\n"), "the length of \"HEAD /h 0\", without the body")

      let big = String(repeating: "z", count: 5000)
      let refused = try await run(Self.curl, [
        "--http1.1", "-sS", "--max-time", "20", "-o", "/dev/null", "-w", "%{http_code}",
        "--data-binary", big, "http://127.0.0.1:\(port)/big",
      ])
      #expect(refused.stdout == "413")
      #expect(calls.count == 1, "only the HEAD reached the handler")
    }
  }
}

@Suite("form and query decoding")
struct FormTests {
  @Test func decodesPairs() throws {
    let form = try FormParameters(parsing: "grant_type=authorization_code&code=a%2Bb+c&&redirect_uri=https%3A%2F%2Fx.test%2Fcb&flag&e=&%E2%9C%93=%E2%9C%93")
    #expect(form["grant_type"] == "authorization_code")
    #expect(form["code"] == "a+b c")
    #expect(form["redirect_uri"] == "https://x.test/cb")
    #expect(form["flag"] == "")
    #expect(form["e"] == "")
    #expect(form["✓"] == "✓")
    #expect(form.count == 6)
    #expect(form["missing"] == nil)
    #expect(try FormParameters(parsing: "a=1&a=2").values("a") == ["1", "2"])
  }

  static let malformed: [(String, FormDecodingError)] = [
    ("a=%zz", .malformedPercentEncoding),
    ("a=%4", .malformedPercentEncoding),
    ("a%=1", .malformedPercentEncoding),
    ("a=%FF", .invalidUTF8),
    ("a=%C3", .invalidUTF8),
  ]

  @Test(arguments: malformed)
  func rejectsMalformed(_ input: String, _ error: FormDecodingError) {
    #expect(throws: error) { try FormParameters(parsing: input) }
  }

  @Test func limits() {
    var limits = FormParameters.Limits()
    limits.maxParameters = 3
    #expect(throws: FormDecodingError.tooManyParameters(limit: 3)) { try FormParameters(parsing: "a&b&c&d", limits: limits) }
    #expect((try? FormParameters(parsing: "a&b&c", limits: limits))?.count == 3)
    limits.maxInputLength = 8
    #expect(throws: FormDecodingError.tooLong(limit: 8)) { try FormParameters(parsing: "a=123456789", limits: limits) }
  }

  @Test func requestHelpers() throws {
    let get = HTTPRequest(method: "GET", target: "/cb?state=abc&code=x%20y")
    #expect(try get.queryParameters()["code"] == "x y")
    #expect(try HTTPRequest(method: "GET", target: "/").queryParameters().count == 0)

    let post = HTTPRequest(
      method: "POST", target: "/oauth/token",
      headers: ["Content-Type": "application/x-www-form-urlencoded; charset=utf-8"],
      body: Array("grant_type=refresh_token&refresh_token=r1".utf8))
    #expect(try post.formParameters()["refresh_token"] == "r1")
    let json = HTTPRequest(method: "POST", target: "/", headers: ["Content-Type": "application/json"], body: Array("a=1".utf8))
    #expect(throws: FormDecodingError.notAForm) { try json.formParameters() }

    #expect(HTTPRequest(method: "GET", target: "/a%20b/c+d?x").decodedPath == "/a b/c+d")
    #expect(HTTPRequest(method: "GET", target: "/a%zz").decodedPath == nil)
  }
}
