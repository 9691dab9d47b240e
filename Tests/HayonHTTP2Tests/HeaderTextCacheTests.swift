@testable import HayonHTTP2
import Testing

@Suite("HeaderTextCache")
struct HeaderTextCacheTests {
  private func text(_ cache: inout HeaderTextCache, _ bytes: [UInt8]) -> String {
    bytes.withUnsafeBytes { cache.text(for: $0) }
  }

  @Test func returnsTheTextOfTheBytesWhetherCachedOrNot() {
    var cache = HeaderTextCache()
    let fields = [
      ":path", "/hayon.diagnostics.v1.Diagnostics/Echo", "application/grpc", "Bearer bench-token", "te", "",
      String(repeating: "x", count: HeaderTextCache.maxCachedLength + 1),
    ]
    for _ in 0..<3 {
      for field in fields { #expect(text(&cache, Array(field.utf8)) == field) }
    }
  }

  @Test func repeatedFieldsAreKeptAndServedFromTheCache() {
    var cache = HeaderTextCache()
    let fields = ["/hayon.diagnostics.v1.Diagnostics/Echo", "application/grpc", "Bearer bench-token", "h2load nghttp2/1.52.0"]
    for field in fields { _ = text(&cache, Array(field.utf8)) }
    let held = cache.heldBytes
    #expect(held == fields.reduce(0) { $0 + $1.utf8.count })
    // The same fields again are hits: nothing more is stored.
    for field in fields { #expect(text(&cache, Array(field.utf8)) == field) }
    #expect(cache.heldBytes == held)
  }

  @Test func shortTextsAreDecodedNotStored() {
    var cache = HeaderTextCache()
    for field in [":method", "POST", "content-type", "127.0.0.1:50999"] {
      #expect(text(&cache, Array(field.utf8)) == field)
    }
    #expect(cache.heldBytes == 0)
  }

  @Test func invalidUTF8IsRepairedAndNeverMistakenForTheRepairedText() {
    var cache = HeaderTextCache()
    let invalid: [UInt8] = Array(repeating: 0x61, count: 16) + [0xFF, 0x62]
    let expected = String(repeating: "a", count: 16) + "\u{FFFD}b"
    let repaired = text(&cache, invalid)
    #expect(repaired == expected)
    #expect(text(&cache, invalid) == expected)
    #expect(text(&cache, Array(repaired.utf8)) == repaired)
  }

  @Test func aPeerSendingEndlessDistinctValuesCannotGrowItPastItsBudget() {
    var cache = HeaderTextCache()
    for index in 0..<5_000 {
      let value = "request-\(index)-" + String(repeating: "v", count: 200)
      #expect(text(&cache, Array(value.utf8)) == value)
      #expect(cache.heldBytes <= HeaderTextCache.byteBudget)
    }
  }
}
