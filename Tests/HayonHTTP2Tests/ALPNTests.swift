@testable import HayonHTTP2
import Testing

/// The server's ALPN choice, without a handshake: the callback only maps the client's list
/// (wire format) to an offset in it.
@Suite("ALPN selection")
struct ALPNTests {
  /// A client's offer in wire format: each name preceded by its length.
  private func wire(_ names: [String]) -> [UInt8] {
    names.flatMap { [UInt8($0.utf8.count)] + Array($0.utf8) }
  }

  /// The name chosen from `offered`, read back from the offset the selection returns.
  private func chosen(_ selection: ALPNSelection, _ offered: [UInt8]) -> String? {
    offered.withUnsafeBufferPointer { buffer in
      selection.select(from: buffer).map { String(decoding: buffer[$0.offset..<$0.offset + $0.length], as: UTF8.self) }
    }
  }

  @Test func h2OnlyPicksH2AndRefusesTheRest() {
    let selection = ALPNSelection(accepting: ["h2"])
    #expect(!selection.fallsBackToHTTP1)
    #expect(chosen(selection, wire(["http/1.1", "h2"])) == "h2")
    #expect(chosen(selection, wire(["http/1.1"])) == nil)
    #expect(chosen(selection, wire(["h2c", "h3"])) == nil)
    #expect(chosen(selection, []) == nil)
  }

  @Test func serverPreferenceWinsOverTheClientsOrder() {
    let selection = ALPNSelection(accepting: ["h2", "http/1.1"])
    #expect(selection.fallsBackToHTTP1)
    #expect(chosen(selection, wire(["http/1.1", "h2"])) == "h2")
    #expect(chosen(selection, wire(["spdy/3", "http/1.1"])) == "http/1.1")
    #expect(chosen(selection, wire(["spdy/3"])) == nil)
  }

  @Test func lookAlikesAndTruncatedListsAreNotMatches() {
    let selection = ALPNSelection(accepting: ["h2", "http/1.1"])
    // Same length, other bytes; a prefix; and an entry whose length runs past the end.
    #expect(chosen(selection, wire(["h3", "http/1.0", "http/1"])) == nil)
    #expect(chosen(selection, [8] + Array("http/1".utf8)) == nil)
    // A valid entry before a truncated one is still found.
    #expect(chosen(selection, wire(["h2"]) + [9, 0x68]) == "h2")
  }
}
