import Foundation
import Testing

@testable import HayonRPC

/// Encodes another value with the same encoder type in the middle of its own encoding.
private struct Nesting: Codable, Equatable {
  var outer: String
  var inner: String

  init(outer: String, inner: String) {
    self.outer = outer
    self.inner = inner
  }

  private enum CodingKeys: String, CodingKey { case outer, inner }

  func encode(to encoder: any Encoder) throws {
    var container = encoder.container(keyedBy: CodingKeys.self)
    try container.encode(outer, forKey: .outer)
    // A nested encode on the same thread, while this one is half done. (A struct, not a
    // Dictionary: a dictionary's order depends on where its storage lies, so two encodes of
    // equal dictionaries may differ.)
    let innerJSON = try FastJSONEncoder().encode(Padded(value: inner, padding: String(repeating: "p", count: 2000)))
    try container.encode(String(decoding: innerJSON, as: UTF8.self), forKey: .inner)
  }

  init(from decoder: any Decoder) throws {
    let container = try decoder.container(keyedBy: CodingKeys.self)
    outer = try container.decode(String.self, forKey: .outer)
    let innerJSON = try container.decode(String.self, forKey: .inner)
    // A nested decode on the same thread, while this one is half done.
    inner = try FastJSONDecoder().decode(Padded.self, from: Array(innerJSON.utf8)).value
  }
}

private struct Padded: Codable {
  var value: String
  var padding: String
}

/// Keeps the container it was given past the encode (misuse), and writes through it later.
private final class ContainerThief: @unchecked Sendable {
  var kept: KeyedEncodingContainer<AnyKey>?
}

private struct AnyKey: CodingKey {
  var stringValue: String
  var intValue: Int? { nil }
  init(stringValue: String) { self.stringValue = stringValue }
  init?(intValue: Int) { nil }
}

private struct Stealing: Encodable {
  let thief: ContainerThief
  func encode(to encoder: any Encoder) throws {
    var container = encoder.container(keyedBy: AnyKey.self)
    try container.encode(1, forKey: AnyKey(stringValue: "a"))
    thief.kept = container
  }
}

/// Each thread keeps its JSON encoder's and decoder's working state between messages; these check
/// that nothing of one message reaches the next, including when one is encoded or decoded
/// inside another on the same thread.
@Suite("JSON scratch reuse")
struct JSONScratchReuseTests {
  @Test("messages of very different sizes in turn encode and decode exactly, as Foundation does")
  func alternatingSizes() throws {
    let large = (0..<300).map { "item-\($0)-" + String(repeating: "x", count: $0 % 50) }
    let values: [[String]] = [large, ["a"], [], large.reversed(), ["é😀\u{0}"], Array(large.prefix(3))]
    for _ in 0..<3 {
      for value in values {
        let ours = try FastJSONEncoder().encode(value)
        #expect(ours == Array(try JSONEncoder().encode(value)))
        #expect(try FastJSONDecoder().decode([String].self, from: ours) == value)
      }
    }
  }

  @Test("an encode or decode inside another on the same thread gets its own state")
  func nestedUse() throws {
    let value = Nesting(outer: "out", inner: "in")
    let json = try FastJSONEncoder().encode(value)
    #expect(try FastJSONDecoder().decode(Nesting.self, from: json) == value)
    #expect(try FastJSONDecoder().decode(Nesting.self, from: json) == value)
    #expect(try FastJSONEncoder().encode(value) == json)
  }

  @Test("a failed encode or decode leaves nothing behind for the next")
  func afterFailures() throws {
    #expect(throws: EncodingError.self) { _ = try FastJSONEncoder().encode([Double.nan]) }
    #expect(try FastJSONEncoder().encode([1.5]) == Array("[1.5]".utf8))
    #expect(throws: DecodingError.self) { _ = try FastJSONDecoder().decode([Int].self, from: Array("[1, {".utf8)) }
    #expect(throws: DecodingError.self) { _ = try FastJSONDecoder().decode([Int].self, from: Array(#"[1, "x"]"#.utf8)) }
    #expect(try FastJSONDecoder().decode([Int].self, from: Array("[1, 2]".utf8)) == [1, 2])
  }

  @Test("an encoder whose container was kept past the encode is not reused")
  func keptContainer() throws {
    let thief = ContainerThief()
    #expect(try FastJSONEncoder().encode(Stealing(thief: thief)) == Array(#"{"a":1}"#.utf8))
    #expect(try FastJSONEncoder().encode(["b": 2]) == Array(#"{"b":2}"#.utf8))
    // The late write is refused, and the message after it is untouched by it.
    #expect(throws: EncodingError.self) { try thief.kept?.encode(3, forKey: AnyKey(stringValue: "late")) }
    #expect(try FastJSONEncoder().encode(["c": 3]) == Array(#"{"c":3}"#.utf8))
  }
}
