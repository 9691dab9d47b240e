import HayonHTTP1
import Testing

/// What feeding some bytes produced, in order.
struct ParseOutcome: Equatable {
  var requests: [HTTPRequest] = []
  var keepAlive: [Bool] = []
  var continues = 0
  var error: HTTP1ParseError?
  var sawHTTP2Preface = false
}

/// Feeds `bytes` whole, or one byte at a time, draining every decision after each feed.
func parse(
  _ bytes: [UInt8], configuration: HTTP1RequestParser.Configuration = .defaults, byteAtATime: Bool = false
) -> ParseOutcome {
  var parser = HTTP1RequestParser(configuration: configuration)
  var outcome = ParseOutcome()
  let chunks: [[UInt8]] = byteAtATime ? bytes.map { [$0] } : [bytes]
  for chunk in chunks {
    parser.feed(chunk)
    drain: while true {
      switch parser.next() {
      case .needMoreData: break drain
      case .continueExpected: outcome.continues += 1
      case .request(let message):
        outcome.requests.append(message.request)
        outcome.keepAlive.append(message.keepAlive)
      case .http2Preface:
        outcome.sawHTTP2Preface = true
        break drain
      case .failed(let error):
        outcome.error = error
        return outcome
      }
    }
  }
  return outcome
}

func parse(_ text: String, configuration: HTTP1RequestParser.Configuration = .defaults, byteAtATime: Bool = false)
  -> ParseOutcome
{
  parse(Array(text.utf8), configuration: configuration, byteAtATime: byteAtATime)
}

/// One hostile request and the exact status it must get.
struct HostileCase: CustomTestStringConvertible, Sendable {
  var name: String
  var raw: [UInt8]
  var status: Int
  var configuration: HTTP1RequestParser.Configuration = .defaults

  init(_ name: String, _ raw: String, _ status: Int, configuration: HTTP1RequestParser.Configuration = .defaults) {
    self.name = name
    self.raw = Array(raw.utf8)
    self.status = status
    self.configuration = configuration
  }

  init(_ name: String, bytes: [UInt8], _ status: Int) {
    self.name = name
    self.raw = bytes
    self.status = status
  }

  var testDescription: String { name }
}

let smallBody = HTTP1RequestParser.Configuration.defaults { $0.maxBodySize = 16 }

let hostileCases: [HostileCase] = [
  // Framing: every ambiguity is a 400.
  HostileCase("Content-Length and Transfer-Encoding",
    "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
  HostileCase("Transfer-Encoding and Content-Length",
    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\nhello", 400),
  HostileCase("duplicate equal Content-Length",
    "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello", 400),
  HostileCase("differing Content-Length",
    "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 400),
  HostileCase("Content-Length list 5, 5", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\nhello", 400),
  HostileCase("non-digit Content-Length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5a\r\n\r\nhello", 400),
  HostileCase("hex Content-Length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\nhello", 400),
  HostileCase("plus-signed Content-Length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\nhello", 400),
  HostileCase("negative Content-Length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -5\r\n\r\nhello", 400),
  HostileCase("empty Content-Length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", 400),
  HostileCase("overlong Content-Length",
    "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0000000000000000000000005\r\n\r\nhello", 400),
  HostileCase("Content-Length overflowing Int",
    "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n", 400),
  HostileCase("Transfer-Encoding gzip, chunked",
    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 400),
  HostileCase("Transfer-Encoding chunked, chunked",
    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", 400),
  HostileCase("two Transfer-Encoding fields",
    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
  HostileCase("Transfer-Encoding identity", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n", 400),
  HostileCase("Transfer-Encoding xchunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n", 400),
  HostileCase("Transfer-Encoding in HTTP/1.0",
    "POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
  // Line syntax.
  HostileCase("obs-fold continuation line", "GET / HTTP/1.1\r\nHost: a\r\nX-A: one\r\n two\r\n\r\n", 400),
  HostileCase("obs-fold with tab", "GET / HTTP/1.1\r\nHost: a\r\nX-A: one\r\n\ttwo\r\n\r\n", 400),
  HostileCase("whitespace before the first field", "GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400),
  HostileCase("bare CR in a field", "GET / HTTP/1.1\r\nHost: a\r\nX-A: o\rne\r\n\r\n", 400),
  HostileCase("bare CR in the request line", "GET /\r HTTP/1.1\r\nHost: a\r\n\r\n", 400),
  HostileCase("bare LF line endings", "GET / HTTP/1.1\nHost: a\n\n", 400),
  HostileCase("bare LF after a field", "GET / HTTP/1.1\r\nHost: a\nX-A: b\r\n\r\n", 400),
  HostileCase("space before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400),
  HostileCase("tab before colon", "GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", 400),
  HostileCase("quote in a field name", "GET / HTTP/1.1\r\nHost: a\r\nX\"A: b\r\n\r\n", 400),
  HostileCase("slash in a field name", "GET / HTTP/1.1\r\nHost: a\r\nX/A: b\r\n\r\n", 400),
  HostileCase("empty field name", "GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n", 400),
  HostileCase("field line without colon", "GET / HTTP/1.1\r\nHost: a\r\nX-A b\r\n\r\n", 400),
  HostileCase("control character in a value", "GET / HTTP/1.1\r\nHost: a\r\nX-A: a\u{01}b\r\n\r\n", 400),
  HostileCase("escape in a value", "GET / HTTP/1.1\r\nHost: a\r\nX-A: a\u{1B}b\r\n\r\n", 400),
  HostileCase("DEL in a value", "GET / HTTP/1.1\r\nHost: a\r\nX-A: a\u{7F}b\r\n\r\n", 400),
  HostileCase("NUL in a value", bytes: Array("GET / HTTP/1.1\r\nHost: a\r\nX-A: a".utf8) + [0] + Array("b\r\n\r\n".utf8), 400),
  HostileCase("NUL in the target", bytes: Array("GET /a".utf8) + [0] + Array(" HTTP/1.1\r\nHost: a\r\n\r\n".utf8), 400),
  HostileCase("NUL in a field name", bytes: Array("GET / HTTP/1.1\r\nHost: a\r\nX".utf8) + [0] + Array(": b\r\n\r\n".utf8), 400),
  // Request line.
  HostileCase("method not a token", "GE(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
  HostileCase("two spaces after the method", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
  HostileCase("trailing space after the version", "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400),
  HostileCase("missing version", "GET /\r\nHost: a\r\n\r\n", 400),
  HostileCase("absolute-form target", "GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400),
  HostileCase("authority-form target", "CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n", 400),
  HostileCase("asterisk with GET", "GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400),
  HostileCase("space inside the target", "GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", 400),
  HostileCase("angle bracket in the target", "GET /a<b HTTP/1.1\r\nHost: a\r\n\r\n", 400),
  HostileCase("fragment in the target", "GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n", 400),
  HostileCase("bad percent escape in the target", "GET /a%zz HTTP/1.1\r\nHost: a\r\n\r\n", 400),
  HostileCase("truncated percent escape", "GET /a%4 HTTP/1.1\r\nHost: a\r\n\r\n", 400),
  HostileCase("lower-case protocol name", "GET / http/1.1\r\nHost: a\r\n\r\n", 400),
  HostileCase("malformed version", "GET / HTTP/1.1x\r\nHost: a\r\n\r\n", 400),
  HostileCase("two-digit version", "GET / HTTP/11\r\nHost: a\r\n\r\n", 400),
  HostileCase("HTTP/2.0 request line", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
  HostileCase("HTTP/1.2", "GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505),
  HostileCase("HTTP/0.9 style version", "GET / HTTP/0.9\r\nHost: a\r\n\r\n", 505),
  HostileCase("HTTP/3.0", "GET / HTTP/3.0\r\nHost: a\r\n\r\n", 505),
  // Host.
  HostileCase("HTTP/1.1 without Host", "GET / HTTP/1.1\r\nX-A: b\r\n\r\n", 400),
  HostileCase("two Host fields", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
  HostileCase("two Host fields in HTTP/1.0", "GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n", 400),
  HostileCase("Host with a slash", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400),
  HostileCase("Host with a space", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
  // Expect.
  HostileCase("unsupported Expect", "POST / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\nContent-Length: 1\r\n\r\nx", 417),
  // Chunked bodies.
  HostileCase("non-hex chunk size", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", 400),
  HostileCase("empty chunk size", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n\r\nhello\r\n0\r\n\r\n", 400),
  HostileCase("signed chunk size", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n+5\r\nhello\r\n0\r\n\r\n", 400),
  HostileCase("chunk size with 0x prefix", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n", 400),
  HostileCase("chunk size with trailing space only", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n", 400),
  HostileCase("overflowing chunk size",
    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff1\r\nhello\r\n0\r\n\r\n", 400),
  HostileCase("chunk extension too long",
    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;" + String(repeating: "x", count: 2000) + "\r\nhello\r\n0\r\n\r\n", 400),
  HostileCase("control character in a chunk extension",
    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;a\u{01}=b\r\nhello\r\n0\r\n\r\n", 400),
  HostileCase("chunk data longer than its size", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello!\r\n0\r\n\r\n", 400),
  HostileCase("chunk data followed by LF only", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\n0\r\n\r\n", 400),
  HostileCase("bare LF after the chunk size", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n", 400),
  HostileCase("invalid trailer field", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX A: b\r\n\r\n", 400),
  HostileCase("obs-fold in trailers", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-A: b\r\n c\r\n\r\n", 400),
  HostileCase("trailer section too large",
    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-A: " + String(repeating: "b", count: 5000) + "\r\n\r\n", 431),
  HostileCase("too many trailer fields",
    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n" + String(repeating: "X-A: b\r\n", count: 21) + "\r\n", 431),
  // Size limits.
  HostileCase("Content-Length over the body limit", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 17\r\n\r\n", 413, configuration: smallBody),
  HostileCase("Content-Length over the default 1 MiB", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1048577\r\n\r\n", 413),
  HostileCase("chunks adding up over the body limit",
    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n9\r\n123456789\r\n0\r\n\r\n", 413,
    configuration: smallBody),
  HostileCase("request line over 8 KiB", "GET /" + String(repeating: "a", count: 8200) + " HTTP/1.1\r\nHost: a\r\n\r\n", 414),
  HostileCase("101 header fields", "GET / HTTP/1.1\r\nHost: a\r\n" + String(repeating: "X-A: b\r\n", count: 100) + "\r\n", 431),
  HostileCase("one field over 16 KiB", "GET / HTTP/1.1\r\nHost: a\r\nX-A: " + String(repeating: "b", count: 16_400) + "\r\n\r\n", 431),
  HostileCase("header section over 16 KiB",
    "GET / HTTP/1.1\r\nHost: a\r\n" + String(repeating: "X-A: " + String(repeating: "b", count: 2000) + "\r\n", count: 9) + "\r\n", 431),
  HostileCase("endless empty lines before the request", String(repeating: "\r\n", count: 10) + "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
]

@Suite("HTTP/1.1 request parser")
struct ParserTests {
  @Test("hostile request → exact status, no request produced", arguments: hostileCases)
  func hostile(_ hostile: HostileCase) {
    let whole = parse(hostile.raw, configuration: hostile.configuration)
    #expect(whole.error?.status == hostile.status, "\(whole)")
    #expect(whole.requests.isEmpty)
  }

  @Test("hostile request fed a byte at a time → the same status", arguments: hostileCases)
  func hostileByteAtATime(_ hostile: HostileCase) {
    let split = parse(hostile.raw, configuration: hostile.configuration, byteAtATime: true)
    #expect(split.error?.status == hostile.status, "\(split)")
    #expect(split.requests.isEmpty)
  }

  static let validRequests: [String] = [
    "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
    "GET /a/b%20c?x=1&y=%2F HTTP/1.1\r\nHost: example.com:8080\r\nAccept: */*\r\nX-Empty:\r\n\r\n",
    "POST /submit HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\nContent-Type: text/plain\r\n\r\nhello world",
    "POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;name=\"v\"\r\nhello\r\n1 ; x\r\n \r\nA\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n",
    "POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n000005\r\nhello\r\n0\r\n\r\n",
    "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
    "GET /old HTTP/1.0\r\n\r\n",
    "\r\nGET /after-crlf HTTP/1.1\r\nHost: a\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: a\r\nX-Obs: caf\u{E9}\r\nX-Spaces: \t  padded \t\r\n\r\n",
  ]

  @Test("valid request parses the same whole and split at every byte", arguments: validRequests)
  func splitAtEveryByte(_ raw: String) {
    let whole = parse(raw)
    #expect(whole.error == nil)
    #expect(whole.requests.count == 1)
    #expect(parse(raw, byteAtATime: true) == whole)
    // Every two-piece split, too.
    let bytes = Array(raw.utf8)
    for cut in 1..<bytes.count {
      var parser = HTTP1RequestParser()
      var requests: [HTTPRequest] = []
      for piece in [Array(bytes[..<cut]), Array(bytes[cut...])] {
        parser.feed(piece)
        while case .request(let message) = parser.next() { requests.append(message.request) }
      }
      #expect(requests == whole.requests, "split at \(cut)")
    }
  }

  @Test func fieldsAndBody() throws {
    let outcome = parse(Self.validRequests[1])
    let request = try #require(outcome.requests.first)
    #expect(request.method == "GET")
    #expect(request.target == "/a/b%20c?x=1&y=%2F")
    #expect(request.path == "/a/b%20c")
    #expect(request.query == "x=1&y=%2F")
    #expect(request.version == .http1_1)
    #expect(request.headers["host"] == "example.com:8080")
    #expect(request.headers["x-empty"] == "")
    #expect(request.headers.count == 3)
    #expect(outcome.keepAlive == [true])

    let trimmed = try #require(parse(Self.validRequests[8]).requests.first)
    #expect(trimmed.headers["x-spaces"] == "padded")
    #expect(trimmed.headers["x-obs"] == "caf\u{E9}")
  }

  @Test func chunkedBodyIsDechunkedAndTrailersDropped() throws {
    let request = try #require(parse(Self.validRequests[3]).requests.first)
    #expect(String(decoding: request.body, as: UTF8.self) == "hello 0123456789")
    #expect(request.headers["x-trailer"] == nil)
    #expect(request.headers["transfer-encoding"] == "chunked")
  }

  @Test func keepAliveRules() {
    #expect(parse("GET / HTTP/1.1\r\nHost: a\r\n\r\n").keepAlive == [true])
    #expect(parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").keepAlive == [false])
    #expect(parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: TE, Close\r\n\r\n").keepAlive == [false])
    #expect(parse("GET / HTTP/1.0\r\n\r\n").keepAlive == [false])
    #expect(parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").keepAlive == [true])
  }

  @Test func pipelinedRequestsComeOutInOrder() {
    let raw =
      "GET /1 HTTP/1.1\r\nHost: a\r\n\r\n"
      + "POST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"
      + "POST /3 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nde\r\n0\r\n\r\n"
      + "GET /4 HTTP/1.1\r\nHost: a\r\n\r\n"
    for byteAtATime in [false, true] {
      let outcome = parse(raw, byteAtATime: byteAtATime)
      #expect(outcome.error == nil)
      #expect(outcome.requests.map(\.target) == ["/1", "/2", "/3", "/4"])
      #expect(outcome.requests.map { String(decoding: $0.body, as: UTF8.self) } == ["", "abc", "de", ""])
    }
  }

  /// A request that is valid on its own, smuggled behind a framing conflict, is never produced.
  @Test func nothingIsParsedAfterAnError() {
    var parser = HTTP1RequestParser()
    parser.feed(Array("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 40\r\n\r\nGET /admin HTTP/1.1\r\nHost: a\r\n\r\n".utf8))
    #expect(parser.next() == .failed(HTTP1ParseError(status: 400, reason: "more than one Content-Length")))
    parser.feed(Array("GET / HTTP/1.1\r\nHost: a\r\n\r\n".utf8))
    #expect(parser.next() == .failed(HTTP1ParseError(status: 400, reason: "more than one Content-Length")))
    #expect(parser.hasFailed)
    #expect(parser.bufferedByteCount == 0)
  }

  @Test func expectContinueIsAnnouncedBeforeTheBody() throws {
    var parser = HTTP1RequestParser()
    parser.feed(Array("PUT /u HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n".utf8))
    #expect(parser.next() == .continueExpected)
    #expect(parser.next() == .needMoreData)
    parser.feed(Array("ok".utf8))
    guard case .request(let message) = parser.next() else {
      Issue.record("no request")
      return
    }
    #expect(message.request.body == Array("ok".utf8))
    // Nothing to continue when there is no body, or for HTTP/1.0.
    #expect(parse("GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n").continues == 0)
    #expect(parse("POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx").continues == 0)
  }

  @Test func limitsAreInclusive() {
    let exact = HTTP1RequestParser.Configuration.defaults { $0.maxBodySize = 5 }
    #expect(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello", configuration: exact).requests.count == 1)
    #expect(parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", configuration: exact).requests.count == 1)
    let hundred = "GET / HTTP/1.1\r\nHost: a\r\n" + String(repeating: "X-A: b\r\n", count: 99) + "\r\n"
    #expect(parse(hundred).requests.first?.headers.count == 100)
    let longLine = "GET /" + String(repeating: "a", count: 8192 - 14) + " HTTP/1.1"
    #expect(longLine.utf8.count == 8192)
    #expect(parse(longLine + "\r\nHost: a\r\n\r\n").requests.count == 1)
    #expect(parse("GET /" + String(repeating: "a", count: 8192 - 13) + " HTTP/1.1\r\nHost: a\r\n\r\n").error?.status == 414)
  }

  @Test func http2PrefaceIsRecognisedAndLeftUnconsumed() {
    let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)
    var parser = HTTP1RequestParser()
    parser.feed(preface.prefix(10))
    #expect(parser.next() == .needMoreData)
    parser.feed(preface.dropFirst(10) + [0, 0, 0])
    #expect(parser.next() == .http2Preface)
    #expect(parser.bufferedBytes() == preface + [0, 0, 0])
    // Only as the very first bytes; later it is just an unsupported version.
    let later = parse("GET / HTTP/1.1\r\nHost: a\r\n\r\nPRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
    #expect(later.requests.count == 1)
    #expect(later.error?.status == 505)
  }

  @Test func h2cUpgradeRequestIsFlagged() throws {
    var parser = HTTP1RequestParser()
    parser.feed(Array("GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n".utf8))
    guard case .request(let message) = parser.next() else {
      Issue.record("no request")
      return
    }
    #expect(message.requestsH2CUpgrade)
    parser.feed(Array("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\n\r\n".utf8))
    guard case .request(let plain) = parser.next() else {
      Issue.record("no request")
      return
    }
    #expect(!plain.requestsH2CUpgrade)
  }
}

/// A small deterministic generator (SplitMix64), so the fuzz cases are the same on every run.
struct SplitMix64: RandomNumberGenerator {
  var state: UInt64
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var mixed = state
    mixed = (mixed ^ (mixed >> 30)) &* 0xBF58_476D_1CE4_E5B9
    mixed = (mixed ^ (mixed >> 27)) &* 0x94D0_49BB_1331_11EB
    return mixed ^ (mixed >> 31)
  }
}

@Suite("HTTP/1.1 request parser, mutated input")
struct ParserFuzzTests {
  static let seeds: [String] = ParserTests.validRequests + [
    "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcGET /q HTTP/1.1\r\nHost: a\r\n\r\n",
    "PUT /e HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
  ]

  /// Random mutations of valid requests never crash the parser, and feeding them whole, a byte
  /// at a time, or in random pieces always decides the same.
  @Test(arguments: 0..<8)
  func mutationsDecideTheSameHoweverSplit(_ round: Int) {
    var random = SplitMix64(state: UInt64(round) &* 7919 &+ 17)
    let interesting: [UInt8] = [0x00, 0x09, 0x0A, 0x0D, 0x20, 0x3A, 0x3B, 0x2C, 0x7F, 0xFF, 0x30, 0x66, 0x47]
    for _ in 0..<150 {
      var bytes = Array(Self.seeds.randomElement(using: &random)!.utf8)
      for _ in 0..<Int.random(in: 1...4, using: &random) {
        let index = Int.random(in: 0..<bytes.count, using: &random)
        let byte = Bool.random(using: &random)
          ? interesting.randomElement(using: &random)! : UInt8.random(in: 0...255, using: &random)
        switch Int.random(in: 0..<3, using: &random) {
        case 0: bytes[index] = byte
        case 1: bytes.insert(byte, at: index)
        default: if bytes.count > 1 { bytes.remove(at: index) }
        }
      }
      let whole = parse(bytes)
      #expect(parse(bytes, byteAtATime: true) == whole, "\(String(decoding: bytes, as: UTF8.self).debugDescription)")
      var parser = HTTP1RequestParser()
      var pieces = ParseOutcome()
      var offset = 0
      feeding: while offset < bytes.count {
        let length = Int.random(in: 1...16, using: &random)
        parser.feed(bytes[offset..<min(bytes.count, offset + length)])
        offset += length
        while true {
          switch parser.next() {
          case .needMoreData: continue feeding
          case .continueExpected: pieces.continues += 1
          case .request(let message):
            pieces.requests.append(message.request)
            pieces.keepAlive.append(message.keepAlive)
          case .http2Preface:
            pieces.sawHTTP2Preface = true
            continue feeding
          case .failed(let error):
            pieces.error = error
            break feeding
          }
        }
      }
      #expect(pieces == whole, "\(String(decoding: bytes, as: UTF8.self).debugDescription)")
    }
  }
}
