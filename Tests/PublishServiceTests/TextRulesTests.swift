import Foundation
import HayonModel
import HayonPlatforms
import Testing

@testable import PublishService

@Suite("Text rules")
struct TextRulesTests {
  let bluesky = BlueskyTextRule()

  @Test("Bluesky: 300 graphemes pass, 301 fail, whatever each is made of", arguments: [
    "a", "é", "e\u{301}", "🇩🇪", "👍🏽", "👨‍👩‍👧‍👦", "ก", "한",
  ])
  func blueskyGraphemeBoundary(unit: String) {
    let fits = String(repeating: unit, count: 300)
    #expect(fits.count == 300)
    if fits.utf8.count <= 3000 {
      #expect(bluesky.problem(with: fits) == nil)
    }
    let over = fits + "a"
    #expect(bluesky.problem(with: over) != nil)
  }

  @Test("Bluesky: 3000 UTF-8 bytes pass, 3001 fail, though far below 300 graphemes")
  func blueskyByteBoundary() {
    let family = "👨‍👩‍👧‍👦"  // one grapheme, 7 scalars, 25 bytes
    #expect(family.count == 1 && family.utf8.count == 25)
    let exact = String(repeating: family, count: 120)
    #expect(exact.utf8.count == 3000 && exact.count == 120)
    #expect(bluesky.problem(with: exact) == nil)
    let over = exact + "a"
    #expect(bluesky.problem(with: over) == "is 3001 bytes long in UTF-8; Bluesky allows 3000")
    #expect(bluesky.problem(with: String(repeating: "a", count: 301)) == "is 301 characters (graphemes) long; Bluesky allows 300")
  }

  @Test("Mastodon: graphemes, every URL is 23, @user@domain counts as @user, at the instance's limit")
  func mastodonCounting() {
    #expect(MastodonTextRule.countedLength("hello") == 5)
    #expect(MastodonTextRule.countedLength("🇩🇪👨‍👩‍👧‍👦e\u{301}") == 3)
    let url = "https://example.com/" + String(repeating: "x", count: 200)
    #expect(MastodonTextRule.countedLength("see \(url)") == 4 + 23)
    #expect(MastodonTextRule.countedLength("see \(url).") == 4 + 23 + 1)
    #expect(MastodonTextRule.countedLength("hi @alice@mastodon.example!") == 3 + 6 + 1)
    #expect(MastodonTextRule.countedLength("mail me a@b.example") == 19)

    let rule = MastodonTextRule()
    let exact = String(repeating: "a", count: 476) + " " + url  // 476 + 1 + 23 = 500
    #expect(rule.problem(with: exact) == nil)
    #expect(rule.problem(with: "a" + exact) != nil)
    #expect(rule.problem(with: String(repeating: "🇩🇪", count: 500)) == nil)
    #expect(rule.problem(with: String(repeating: "🇩🇪", count: 501)) != nil)

    let small = MastodonTextRule(maximumCharacters: 100)
    #expect(small.problem(with: String(repeating: "b", count: 100)) == nil)
    #expect(
      small.problem(with: String(repeating: "b", count: 101))
        == "is 101 characters long as Mastodon counts them (every link counts as 23); this instance allows 100")
  }

  @Test("one rule per platform; platforms without a publisher have none")
  func table() {
    #expect(TextRules.rule(for: .bluesky, mastodonMaximum: nil) is BlueskyTextRule)
    #expect((TextRules.rule(for: .mastodon, mastodonMaximum: 42) as? MastodonTextRule)?.maximumCharacters == 42)
    #expect((TextRules.rule(for: .mastodon, mastodonMaximum: nil) as? MastodonTextRule)?.maximumCharacters == 500)
    #expect(TextRules.rule(for: .tumblr, mastodonMaximum: nil) == nil)
  }
}

@Suite("Bluesky facets")
struct FacetTests {
  func spans(_ text: String) -> [String] {
    BlueskyRichText(text).spans.map { span in
      switch span.kind {
      case .link(let uri): "link \(span.byteStart)..<\(span.byteEnd) \(uri)"
      case .mention(let handle): "mention \(span.byteStart)..<\(span.byteEnd) \(handle)"
      case .tag(let tag): "tag \(span.byteStart)..<\(span.byteEnd) \(tag)"
      }
    }
  }

  @Test("platforms.md worked example: byte offsets after non-ASCII text and emoji")
  func workedExample() {
    let text = "Café launch 🚀 #SwiftLang by @alice.bsky.social — see https://example.com/a?b=1"
    #expect(text.utf8.count == 84)
    #expect(spans(text) == [
      "tag 18..<28 SwiftLang", "mention 32..<50 alice.bsky.social", "link 59..<84 https://example.com/a?b=1",
    ])
  }

  @Test("bsky-docs test vector: ZWJ emoji before the link, trailing period excluded")
  func docsVector() {
    let text = "✨ example mentioning @atproto.com to share the URL 👨‍❤️‍👨 https://en.wikipedia.org/wiki/CBOR."
    #expect(text.utf8.count == 109)
    #expect(spans(text) == ["mention 23..<35 atproto.com", "link 74..<108 https://en.wikipedia.org/wiki/CBOR"])
  }

  @Test("unresolved mentions are left out; the encoded facets carry the feature types")
  func resolution() throws {
    let rich = BlueskyRichText("hi @a.example and @b.example #tag")
    #expect(rich.handles == ["a.example", "b.example"])
    let facets = rich.facets(resolving: ["b.example": "did:plc:bbb"])
    #expect(facets.count == 2)
    let json = String(decoding: try JSONEncoder().encode(facets), as: UTF8.self)
    #expect(json.contains(#""did":"did:plc:bbb""#))
    #expect(json.contains("app.bsky.richtext.facet#mention"))
    #expect(json.contains("app.bsky.richtext.facet#tag"))
    #expect(json.contains(#""byteStart":18"#))
  }

  @Test("edge cases: tags of digits only, punctuation, parentheses, mention-like text in links")
  func edges() {
    #expect(spans("#123 #a1 (#x)") == ["tag 5..<8 a1"])
    #expect(spans("end #done. next") == ["tag 4..<9 done"])
    #expect(spans("(https://example.com/x)") == ["link 1..<22 https://example.com/x"])
    #expect(spans("https://example.com/@a.b/#c") == ["link 0..<27 https://example.com/@a.b/#c"])
    #expect(spans("email a@b.example @nodot @ok.example.") == ["mention 25..<36 ok.example"])
    #expect(spans("日本語 #タグ") == ["tag 10..<17 タグ"])
  }
}
