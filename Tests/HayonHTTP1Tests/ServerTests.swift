import Foundation
import HayonHTTP1
import HayonHTTP2
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("HTTP/1.1 server", .serialized)
struct ServerTests {
  @Test func simpleRequestGetsFramingAndDate() async throws {
    let calls = CallCounter()
    try await withServer(handler: echoHandler(calls)) { _, port in
      let client = try RawClient(port: port)
      try client.send("GET /hello?x=1 HTTP/1.1\r\nHost: localhost\r\n\r\n")
      let response = try #require(try client.readResponse())
      #expect(response.status == 200)
      #expect(response.bodyText == "GET /hello?x=1 0")
      #expect(response.headers["content-length"] == "16")
      #expect(response.headers["content-type"] == "text/plain")
      let date = try #require(response.headers["date"])
      #expect(date.hasSuffix(" GMT") && date.count == 29)
      #expect(response.headers["connection"] == nil)
      #expect(calls.count == 1)
    }
  }

  @Test("hostile request → status, connection closed, handler never called", arguments: hostileCases)
  func hostileOverTheWire(_ hostile: HostileCase) async throws {
    let calls = CallCounter()
    try await withServer(configure: { $0.parser = hostile.configuration }, handler: echoHandler(calls)) { _, port in
      let client = try RawClient(port: port)
      try client.send(hostile.raw)
      let response = try #require(try client.readResponse())
      #expect(response.status == hostile.status)
      #expect(response.headers["connection"] == "close")
      #expect(response.headers["content-type"] == "application/json")
      #expect(response.bodyText.hasPrefix(#"{"error":{"code":""#))
      #expect(try client.readToEnd().isEmpty, "connection must close after the error")
      #expect(calls.count == 0)
    }
  }

  @Test(
    "hostile request sent a byte per write → the same status, closed, handler never called",
    arguments: hostileCases.filter { $0.raw.count <= 1500 })
  func hostileByteByByteOverTheWire(_ hostile: HostileCase) async throws {
    let calls = CallCounter()
    try await withServer(configure: { $0.parser = hostile.configuration }, handler: echoHandler(calls)) { _, port in
      let client = try RawClient(port: port)
      // The server may answer before the last byte; sending stops once it has.
      for byte in hostile.raw {
        if (try? client.send([byte])) == nil || client.waitForPeerClose(timeoutMilliseconds: 0) { break }
      }
      let response = try #require(try client.readResponse())
      #expect(response.status == hostile.status)
      #expect(try client.readToEnd().isEmpty)
      #expect(calls.count == 0)
    }
  }

  @Test func requestSentByteByByte() async throws {
    let calls = CallCounter()
    try await withServer(handler: echoHandler(calls)) { _, port in
      let client = try RawClient(port: port)
      try client.sendByteByByte("POST /bytes HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
      let response = try #require(try client.readResponse())
      #expect(response.bodyText == "POST /bytes 5 abcde")
      #expect(calls.count == 1)
    }
  }

  @Test func pipelinedRequestsAreAnsweredInOrder() async throws {
    let calls = CallCounter()
    let probe = ConcurrencyProbe()
    let handler: HTTP1Server.Handler = { request in
      calls.increment()
      probe.enter()
      // The first request is the slowest, so out-of-order completion would show.
      let yields = request.target == "/1" ? 200 : 1
      for _ in 0..<yields { await Task.yield() }
      probe.leave()
      return HTTPResponse(status: 200, body: Array(request.target.utf8))
    }
    try await withServer(handler: handler) { _, port in
      let client = try RawClient(port: port)
      var batch = ""
      for index in 1...20 { batch += "GET /\(index) HTTP/1.1\r\nHost: a\r\n\r\n" }
      try client.send(batch)
      for index in 1...20 {
        let response = try #require(try client.readResponse())
        #expect(response.bodyText == "/\(index)")
      }
      #expect(calls.count == 20)
      #expect(probe.maximum == 1, "at most one handler in flight per connection")
    }
  }

  @Test func keepAliveReusesTheConnection() async throws {
    let calls = CallCounter()
    try await withServer(handler: echoHandler(calls)) { server, port in
      let client = try RawClient(port: port)
      for index in 1...3 {
        try client.send("POST /k\(index) HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi")
        let response = try #require(try client.readResponse())
        #expect(response.bodyText == "POST /k\(index) 2 hi")
        #expect(response.headers["connection"] == nil)
      }
      #expect(server.connectionCount == 1)
      #expect(calls.count == 3)
    }
  }

  @Test func connectionCloseIsHonoured() async throws {
    let calls = CallCounter()
    try await withServer(handler: echoHandler(calls)) { _, port in
      let client = try RawClient(port: port)
      try client.send("GET /a HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n")
      let response = try #require(try client.readResponse())
      #expect(response.bodyText == "GET /a 0")
      #expect(response.headers["connection"] == "close")
      #expect(try client.readToEnd().isEmpty)
      #expect(calls.count == 1, "nothing after Connection: close is served")
    }
  }

  @Test func http10ClosesByDefaultAndKeepsAliveOnRequest() async throws {
    let calls = CallCounter()
    try await withServer(handler: echoHandler(calls)) { _, port in
      let plain = try RawClient(port: port)
      try plain.send("GET /old HTTP/1.0\r\n\r\n")
      let first = try #require(try plain.readResponse())
      #expect(first.headers["connection"] == "close")
      #expect(try plain.readToEnd().isEmpty)

      let kept = try RawClient(port: port)
      try kept.send("GET /1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
      let second = try #require(try kept.readResponse())
      #expect(second.headers["connection"] == "keep-alive")
      try kept.send("GET /2 HTTP/1.0\r\n\r\n")
      #expect(try kept.readResponse()?.bodyText == "GET /2 0")
      #expect(try kept.readToEnd().isEmpty)
    }
  }

  @Test func headGetsLengthButNoBody() async throws {
    let handler: HTTP1Server.Handler = { _ in HTTPResponse(status: 200, body: Array("twelve bytes".utf8)) }
    try await withServer(handler: handler) { _, port in
      let client = try RawClient(port: port)
      try client.send("HEAD / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n")
      let head = try #require(try client.readResponse(bodyless: true))
      #expect(head.headers["content-length"] == "12")
      // If HEAD had carried a body, it would be read here as the next status line.
      let get = try #require(try client.readResponse())
      #expect(get.status == 200)
      #expect(get.bodyText == "twelve bytes")
    }
  }

  @Test func headHandlerMayDeclareTheLength() async throws {
    let handler: HTTP1Server.Handler = { request in
      request.method == "HEAD"
        ? HTTPResponse(status: 200, headers: ["Content-Length": "12345"])
        : HTTPResponse(status: 200, headers: ["Content-Length": "12345"], body: Array("short".utf8))
    }
    try await withServer(handler: handler) { _, port in
      let client = try RawClient(port: port)
      try client.send("HEAD / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n")
      #expect(try client.readResponse(bodyless: true)?.headers.values("content-length") == ["12345"])
      // A GET's length is always the body's: a handler cannot desynchronise the stream.
      let get = try #require(try client.readResponse())
      #expect(get.headers.values("content-length") == ["5"])
      #expect(get.bodyText == "short")
    }
  }

  @Test func pipelinedExpectContinueComesAfterTheEarlierResponse() async throws {
    let calls = CallCounter()
    try await withServer(handler: echoHandler(calls)) { _, port in
      let client = try RawClient(port: port)
      try client.send("GET /first HTTP/1.1\r\nHost: a\r\n\r\nPUT /second HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n")
      #expect(try client.readResponse()?.bodyText == "GET /first 0")
      #expect(try client.readResponse()?.status == 100)
      try client.send("ok")
      #expect(try client.readResponse()?.bodyText == "PUT /second 2 ok")
      #expect(calls.count == 2)
    }
  }

  @Test func expectContinueOverTheLimitIsRefusedWithoutContinue() async throws {
    let calls = CallCounter()
    try await withServer(configure: { $0.parser.maxBodySize = 10 }, handler: echoHandler(calls)) { _, port in
      let client = try RawClient(port: port)
      try client.send("PUT /up HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 11\r\n\r\n")
      #expect(try client.readResponse()?.status == 413)
      #expect(try client.readToEnd().isEmpty)
      #expect(calls.count == 0)
    }
  }

  @Test func serverOwnsFraming() async throws {
    let handler: HTTP1Server.Handler = { request in
      switch request.path {
      case "/204":
        return HTTPResponse(status: 204, headers: ["Content-Length": "99"], body: Array("ignored".utf8))
      case "/bad-header":
        return HTTPResponse(status: 200, headers: ["X-Split": "a\r\nSet-Cookie: evil"])
      case "/bad-status":
        return HTTPResponse(status: 42)
      default:
        return HTTPResponse(
          status: 200, headers: ["Content-Length": "1", "Transfer-Encoding": "chunked", "Date": "fixed"],
          body: Array("abc".utf8))
      }
    }
    try await withServer(handler: handler) { _, port in
      let client = try RawClient(port: port)
      try client.send("GET /own HTTP/1.1\r\nHost: a\r\n\r\nGET /204 HTTP/1.1\r\nHost: a\r\n\r\nGET /own HTTP/1.1\r\nHost: a\r\n\r\n")
      let own = try #require(try client.readResponse())
      #expect(own.headers.values("content-length") == ["3"])
      #expect(own.headers["transfer-encoding"] == nil)
      #expect(own.headers["date"] == "fixed")
      #expect(own.bodyText == "abc")
      let noContent = try #require(try client.readResponse(bodyless: true))
      #expect(noContent.status == 204)
      #expect(noContent.headers["content-length"] == nil)
      #expect(try client.readResponse()?.bodyText == "abc", "the 204 carried no body")

      for path in ["/bad-header", "/bad-status"] {
        let broken = try RawClient(port: port)
        try broken.send("GET \(path) HTTP/1.1\r\nHost: a\r\n\r\n")
        let response = try #require(try broken.readResponse())
        #expect(response.status == 500)
        #expect(response.headers["set-cookie"] == nil)
        #expect(try broken.readToEnd().isEmpty)
      }
    }
  }

  @Test func expectContinue() async throws {
    let calls = CallCounter()
    try await withServer(handler: echoHandler(calls)) { _, port in
      let client = try RawClient(port: port)
      try client.send("PUT /up HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
      let interim = try #require(try client.readResponse())
      #expect(interim.status == 100)
      #expect(calls.count == 0)
      try client.send("data")
      let final = try #require(try client.readResponse())
      #expect(final.status == 200)
      #expect(final.bodyText == "PUT /up 4 data")
    }
  }

  @Test func droppedResponseClosesWithoutWriting() async throws {
    let calls = CallCounter()
    let handler: HTTP1Server.Handler = { request in
      calls.increment()
      if request.path == "/lost" { return HTTPResponse(status: 200, body: Array("never".utf8), dropsConnection: true) }
      return HTTPResponse(status: 200, body: Array("kept".utf8))
    }
    try await withServer(handler: handler) { _, port in
      let client = try RawClient(port: port)
      try client.send("GET /first HTTP/1.1\r\nHost: a\r\n\r\nGET /lost HTTP/1.1\r\nHost: a\r\n\r\nGET /after HTTP/1.1\r\nHost: a\r\n\r\n")
      #expect(try client.readResponse()?.bodyText == "kept")
      #expect(try client.readToEnd().isEmpty)
      #expect(calls.count == 2)
    }
  }
}
