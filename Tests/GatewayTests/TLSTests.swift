import Foundation
import Gateway
import Testing

@Suite("TLS with ALPN h2 and http/1.1 on one port", .serialized)
struct TLSTests {
  @Test("HTTP/1.1 and HTTP/2 (ALPN) over TLS: routes, cookies marked Secure, plaintext refused")
  func tls() async throws {
    try await withSelfSignedCertificate { tls in
      try await withStack(tls: tls, configure: { $0.secureCookies = true }) { stack in
        #expect(stack.baseURL.hasPrefix("https://"))
        let h1 = try await curl("GET", stack.url("/healthz"), protocol: .http1)
        #expect(h1.status == 200)
        #expect(h1.protocolLine == "HTTP/1.1")
        let h2 = try await curl("GET", stack.url("/healthz"), protocol: .h2cUpgrade)  // --http2: ALPN over TLS
        #expect(h2.status == 200)
        #expect(h2.protocolLine == "HTTP/2")

        let user = try await stack.signUp()
        for wire in [WireProtocol.http1, .h2cUpgrade] {
          let accounts = try await curl("GET", stack.url("/api/accounts"), protocol: wire, headers: bearer(user.access))
          #expect(accounts.status == 200)
          #expect((accounts.json?["platforms"] as? [Any])?.count == 6)
          let big = try await curl(
            "POST", stack.url("/api/auth/login"), protocol: wire, headers: ["Content-Type": "application/json"],
            body: "{\"email\":\"a@b.c\",\"password\":\"\(String(repeating: "p", count: 200_000))\"}")
          #expect(big.status == 413)
        }
        let page = try await curl("GET", stack.url("/settings"), protocol: .h2cUpgrade)
        #expect(page.headerValues("set-cookie").allSatisfy { $0.contains("; Secure") })

        // Plain HTTP on the TLS port is not served.
        let plain = try? await curl("GET", "http://127.0.0.1:\(stack.port)/healthz", extra: ["--max-time", "3"])
        #expect(plain == nil || plain!.status != 200)
      }
    }
  }
}
