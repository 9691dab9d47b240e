import HayonPlatforms
import HayonModel

/// A platform's rule for how long a post's text may be, measured the platform's own way
/// (platforms.md §0.4). One type per platform; `TextRules.rule(for:)` is the one table.
public protocol TextRule: Sendable {
  var platform: Platform { get }
  /// Nil when `text` fits, else a message for the person (`is 301 graphemes; Bluesky allows 300`).
  func problem(with text: String) -> String?
}

/// Bluesky: at most 300 grapheme clusters **and** at most 3000 UTF-8 bytes (the lexicon's
/// `maxGraphemes` / `maxLength`). Swift's `String.count` counts extended grapheme clusters, so a
/// flag, a ZWJ family or a letter with combining marks is one.
public struct BlueskyTextRule: TextRule {
  public static let maximumGraphemes = 300
  public static let maximumBytes = 3000
  public var platform: Platform { .bluesky }

  public init() {}

  public func problem(with text: String) -> String? {
    let graphemes = text.count
    if graphemes > Self.maximumGraphemes {
      return "is \(graphemes) characters (graphemes) long; Bluesky allows \(Self.maximumGraphemes)"
    }
    let bytes = text.utf8.count
    if bytes > Self.maximumBytes {
      return "is \(bytes) bytes long in UTF-8; Bluesky allows \(Self.maximumBytes)"
    }
    return nil
  }
}

/// Mastodon: grapheme clusters, with every URL counted as 23 characters and a remote mention
/// `@user@domain` counted as `@user`, against the instance's `max_characters` (500 by default).
public struct MastodonTextRule: TextRule {
  public static let defaultMaximum = 500
  public static let charactersPerURL = 23
  public var platform: Platform { .mastodon }
  public var maximumCharacters: Int

  public init(maximumCharacters: Int = MastodonTextRule.defaultMaximum) {
    self.maximumCharacters = maximumCharacters
  }

  public func problem(with text: String) -> String? {
    let length = Self.countedLength(text)
    guard length > maximumCharacters else { return nil }
    return "is \(length) characters long as Mastodon counts them (every link counts as \(Self.charactersPerURL)); "
      + "this instance allows \(maximumCharacters)"
  }

  /// Graphemes outside links and remote-mention domains, plus 23 per link.
  public static func countedLength(_ text: String) -> Int {
    let links = TextScanner.links(in: text)
    var count = 0
    var cursor = text.startIndex
    for link in links {
      count += countWithoutMentionDomains(text[cursor..<link.range.lowerBound])
      count += charactersPerURL
      cursor = link.range.upperBound
    }
    count += countWithoutMentionDomains(text[cursor...])
    return count
  }

  /// `@user@domain` counts as `@user`: the `@domain` part is free.
  static func countWithoutMentionDomains(_ text: Substring) -> Int {
    var total = text.count
    for mention in TextScanner.remoteMentionDomains(in: text) {
      total -= text[mention].count
    }
    return total
  }
}

/// The rules for each platform. Platforms without a publisher yet have no rule (nil).
public enum TextRules {
  public static func rule(for platform: Platform, mastodonMaximum: Int?) -> (any TextRule)? {
    switch platform {
    case .bluesky: BlueskyTextRule()
    case .mastodon: MastodonTextRule(maximumCharacters: mastodonMaximum ?? MastodonTextRule.defaultMaximum)
    case .tumblr, .facebook, .instagram, .threads: nil
    }
  }
}

/// Finding links, mentions and hashtags in post text. Shared by the Mastodon length rule and
/// the Bluesky facet builder, so both see the same links.
public enum TextScanner {
  public struct Match: Sendable, Hashable {
    public var range: Range<String.Index>
    /// The link's URL, the mention's handle (without `@`) or the tag (without `#`).
    public var value: String
  }

  /// `http://` and `https://` links: start at a word boundary (start, whitespace or `(`), run to
  /// the next whitespace, and lose trailing sentence punctuation (`.,;:!?`, quotes) and a
  /// closing `)` that has no opening one inside the link.
  public static func links(in text: String) -> [Match] {
    var matches: [Match] = []
    var index = text.startIndex
    while index < text.endIndex {
      let rest = text[index...]
      let startsWord = index == text.startIndex || isBoundary(text[text.index(before: index)])
      if startsWord, rest.hasPrefix("https://") || rest.hasPrefix("http://") {
        var end = index
        while end < text.endIndex, !text[end].isWhitespace { end = text.index(after: end) }
        end = trimTrailing(text, from: index, to: end)
        let schemeLength = rest.hasPrefix("https://") ? 8 : 7
        if text.distance(from: index, to: end) > schemeLength {
          matches.append(Match(range: index..<end, value: String(text[index..<end])))
          index = end
          continue
        }
      }
      index = text.index(after: index)
    }
    return matches
  }

  /// `@handle.domain` mentions (atproto handles: dot-separated labels of letters, digits and
  /// hyphens, at least two labels, the last not starting with a digit). Match ranges include `@`.
  public static func mentions(in text: String) -> [Match] {
    var matches: [Match] = []
    var index = text.startIndex
    while index < text.endIndex {
      if text[index] == "@", index == text.startIndex || isBoundary(text[text.index(before: index)]) {
        var end = text.index(after: index)
        while end < text.endIndex, isHandleCharacter(text[end]) { end = text.index(after: end) }
        // A handle does not end with a dot or hyphen ("@alice.bsky.social." ends a sentence).
        while end > text.index(after: index), let last = text[text.index(before: end)].unicodeScalars.first,
          last == "." || last == "-"
        {
          end = text.index(before: end)
        }
        let handle = String(text[text.index(after: index)..<end]).lowercased()
        if BlueskyRules.isHandle(handle) {
          matches.append(Match(range: index..<end, value: handle))
          index = end
          continue
        }
      }
      index = text.index(after: index)
    }
    return matches
  }

  /// `#tags`: `#` at a word boundary followed by non-space characters, trailing punctuation
  /// dropped; at least one character that is not a digit; at most 64 characters.
  public static func hashtags(in text: String) -> [Match] {
    var matches: [Match] = []
    var index = text.startIndex
    while index < text.endIndex {
      let character = text[index]
      if character == "#" || character == "＃", index == text.startIndex || text[text.index(before: index)].isWhitespace {
        let start = text.index(after: index)
        var end = start
        while end < text.endIndex, !text[end].isWhitespace, !isInvisibleSeparator(text[end]) {
          end = text.index(after: end)
        }
        while end > start, let last = text[text.index(before: end)].unicodeScalars.first,
          isPunctuation(last)
        {
          end = text.index(before: end)
        }
        let tag = text[start..<end]
        if !tag.isEmpty, tag.count <= 64, tag.contains(where: { !$0.isNumber }),
          tag.first?.unicodeScalars.first != "\u{FE0F}"
        {
          matches.append(Match(range: index..<end, value: String(tag)))
          index = end
          continue
        }
      }
      index = text.index(after: index)
    }
    return matches
  }

  /// The `@domain` parts of `@user@domain` mentions (Mastodon counts only `@user`).
  static func remoteMentionDomains(in text: Substring) -> [Range<Substring.Index>] {
    var ranges: [Range<Substring.Index>] = []
    var index = text.startIndex
    while index < text.endIndex {
      if text[index] == "@", index == text.startIndex || isBoundary(text[text.index(before: index)]) {
        var userEnd = text.index(after: index)
        while userEnd < text.endIndex, isUserCharacter(text[userEnd]) { userEnd = text.index(after: userEnd) }
        if userEnd > text.index(after: index), userEnd < text.endIndex, text[userEnd] == "@" {
          var domainEnd = text.index(after: userEnd)
          while domainEnd < text.endIndex, isHandleCharacter(text[domainEnd]) { domainEnd = text.index(after: domainEnd) }
          while domainEnd > text.index(after: userEnd), text[text.index(before: domainEnd)] == "." {
            domainEnd = text.index(before: domainEnd)
          }
          let domain = text[text.index(after: userEnd)..<domainEnd]
          if domain.contains("."), !domain.hasPrefix(".") {
            ranges.append(userEnd..<domainEnd)
            index = domainEnd
            continue
          }
        }
      }
      index = text.index(after: index)
    }
    return ranges
  }

  static func isPunctuation(_ scalar: Unicode.Scalar) -> Bool {
    switch scalar.properties.generalCategory {
    case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation, .initialPunctuation,
      .finalPunctuation, .otherPunctuation:
      true
    default: false
    }
  }

  static func isBoundary(_ character: Character) -> Bool { character.isWhitespace || character == "(" }

  static func isInvisibleSeparator(_ character: Character) -> Bool {
    character.unicodeScalars.contains { ["\u{00AD}", "\u{2060}", "\u{200A}", "\u{200B}", "\u{200C}", "\u{200D}", "\u{20E2}"].contains($0) }
      && character.unicodeScalars.count == 1
  }

  static func isHandleCharacter(_ character: Character) -> Bool {
    guard character.unicodeScalars.count == 1, let scalar = character.unicodeScalars.first, scalar.isASCII else { return false }
    let value = scalar.value
    return (0x61...0x7A).contains(value) || (0x41...0x5A).contains(value) || (0x30...0x39).contains(value)
      || value == 0x2D || value == 0x2E
  }

  static func isUserCharacter(_ character: Character) -> Bool {
    guard character.unicodeScalars.count == 1, let scalar = character.unicodeScalars.first, scalar.isASCII else { return false }
    let value = scalar.value
    return (0x61...0x7A).contains(value) || (0x41...0x5A).contains(value) || (0x30...0x39).contains(value) || value == 0x5F
  }

  /// Drops trailing punctuation that ends a sentence rather than the link.
  static func trimTrailing(_ text: String, from start: String.Index, to end: String.Index) -> String.Index {
    var end = end
    while end > start {
      let last = text[text.index(before: end)]
      if ".,;:!?\"'".contains(last) {
        end = text.index(before: end)
      } else if last == ")", !text[start..<text.index(before: end)].contains("(") {
        end = text.index(before: end)
      } else {
        break
      }
    }
    return end
  }
}
