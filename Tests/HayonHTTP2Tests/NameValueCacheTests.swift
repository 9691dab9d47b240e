import CNghttp2
@testable import HayonHTTP2
import Testing

@Suite("NameValueCache")
struct NameValueCacheTests {
  /// The fields as nghttp2 would read them from the name/value array.
  private func laidOut(_ cache: inout NameValueCache, _ headers: [HTTP2Header]) -> [HTTP2Header] {
    cache.withNameValues(headers) { array, count in
      (0..<count).map { index in
        let field = array[index]
        return HTTP2Header(
          String(decoding: UnsafeBufferPointer(start: field.name, count: field.namelen), as: UTF8.self),
          String(decoding: UnsafeBufferPointer(start: field.value, count: field.valuelen), as: UTF8.self))
      }
    }
  }

  private static let initial = [
    HTTP2Header(":status", "200"), HTTP2Header("content-type", "application/grpc"),
    HTTP2Header("grpc-accept-encoding", "identity"), HTTP2Header("x-ünïcode", "välue"), HTTP2Header("empty", ""),
  ]

  @Test("a block sent again is laid out once and then read as it is, with the same fields every time")
  func repeatedBlockIsPrepared() {
    var cache = NameValueCache()
    let trailers = [HTTP2Header("grpc-status", "0")]
    for round in 0..<5 {
      #expect(laidOut(&cache, Self.initial) == Self.initial)
      #expect(laidOut(&cache, trailers) == trailers)
      #expect(cache.preparedCount == (round == 0 ? 0 : 2))
    }
  }

  @Test("equal fields in other storage are not taken for a prepared block, and a changed array is new")
  func storageIdentity() {
    var cache = NameValueCache()
    var headers = Self.initial
    _ = laidOut(&cache, headers)
    _ = laidOut(&cache, headers)
    #expect(cache.preparedCount == 1)
    headers[0] = HTTP2Header(":status", "404")  // copy on write: the cache still holds the old storage
    #expect(laidOut(&cache, headers) == headers)
    #expect(laidOut(&cache, Self.initial) == Self.initial)
    let rebuilt = Array(Self.initial.map { HTTP2Header($0.name, $0.value) })
    #expect(laidOut(&cache, rebuilt) == rebuilt)
    #expect(cache.preparedCount == 1)
  }

  @Test("blocks built afresh for each response stay unprepared, and the cache stays bounded")
  func freshBlocksAndBound() {
    var cache = NameValueCache()
    for index in 0..<50 {
      let fresh = [HTTP2Header(":status", "200"), HTTP2Header("x-request", String(index))]
      #expect(laidOut(&cache, fresh) == fresh)
    }
    #expect(cache.preparedCount == 0)
    let blocks = (0..<(NameValueCache.capacity + 3)).map { [HTTP2Header("x-block", String($0))] }
    for (index, block) in blocks.enumerated() {
      #expect(laidOut(&cache, block) == block)
      #expect(laidOut(&cache, block) == block)
      #expect(cache.preparedCount == min(index + 1, NameValueCache.capacity))
    }
    for block in blocks { #expect(laidOut(&cache, block) == block) }
    #expect(laidOut(&cache, []) == [])
  }
}
