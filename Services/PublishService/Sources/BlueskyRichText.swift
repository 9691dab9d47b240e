import HayonPlatforms

/// Builds the facets of a Bluesky post from its final text: links, mentions and hashtags, each
/// with **UTF-8 byte** offsets (start inclusive, end exclusive) into exactly the text that is
/// sent. Mentions need a DID: `detect` returns them unresolved and `facets(resolving:)` drops
/// those whose handle does not resolve (the text stays plain there).
public struct BlueskyRichText: Sendable, Hashable {
  public enum Kind: Sendable, Hashable {
    case link(uri: String)
    case mention(handle: String)
    case tag(String)
  }

  public struct Span: Sendable, Hashable {
    public var byteStart: Int
    public var byteEnd: Int
    public var kind: Kind
  }

  public let text: String
  public let spans: [Span]

  public init(_ text: String) {
    self.text = text
    var spans: [Span] = []
    let links = TextScanner.links(in: text)
    for link in links {
      spans.append(Span(byteStart: Self.offset(of: link.range.lowerBound, in: text), byteEnd: Self.offset(of: link.range.upperBound, in: text), kind: .link(uri: link.value)))
    }
    // Mentions and tags inside a link (`https://x.example/@a.b/#c`) are part of the link.
    func overlapsLink(_ range: Range<String.Index>) -> Bool { links.contains { $0.range.overlaps(range) } }
    for mention in TextScanner.mentions(in: text) where !overlapsLink(mention.range) {
      spans.append(Span(byteStart: Self.offset(of: mention.range.lowerBound, in: text), byteEnd: Self.offset(of: mention.range.upperBound, in: text), kind: .mention(handle: mention.value)))
    }
    for tag in TextScanner.hashtags(in: text) where !overlapsLink(tag.range) {
      spans.append(Span(byteStart: Self.offset(of: tag.range.lowerBound, in: text), byteEnd: Self.offset(of: tag.range.upperBound, in: text), kind: .tag(tag.value)))
    }
    self.spans = spans.sorted { $0.byteStart < $1.byteStart }
  }

  /// The handles to resolve, each once.
  public var handles: [String] {
    var seen: Set<String> = []
    return spans.compactMap { span in
      guard case .mention(let handle) = span.kind, seen.insert(handle).inserted else { return nil }
      return handle
    }
  }

  /// The facets, with mentions resolved through `dids` (handle → DID); unresolved mentions are left out.
  public func facets(resolving dids: [String: String]) -> [BlueskyFacet] {
    spans.compactMap { span in
      switch span.kind {
      case .link(let uri): BlueskyFacet(byteStart: span.byteStart, byteEnd: span.byteEnd, feature: .link(uri: uri))
      case .tag(let tag): BlueskyFacet(byteStart: span.byteStart, byteEnd: span.byteEnd, feature: .tag(tag))
      case .mention(let handle):
        dids[handle].map { BlueskyFacet(byteStart: span.byteStart, byteEnd: span.byteEnd, feature: .mention(did: $0)) }
      }
    }
  }

  static func offset(of index: String.Index, in text: String) -> Int {
    text.utf8.distance(from: text.utf8.startIndex, to: index)
  }
}
