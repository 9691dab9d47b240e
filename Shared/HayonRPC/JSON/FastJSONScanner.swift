// Shared pieces of the fast JSON codec: the validating scanner that turns a UTF-8 document into a
// flat "tape" of nodes, the number and string readers the decoder uses on that tape, the coding-path
// bookkeeping, and the SWAR helpers both directions use to skip over plain bytes eight at a time.
//
// The scanner validates the whole document before any decoding happens (as Foundation does), so a
// syntax error anywhere is reported as `.dataCorrupted` with an empty coding path, regardless of
// which values the `Decodable` type would have read.

/// One value of the parsed document. Containers are followed by their contents; `end` lets a reader
/// skip a container without looking inside.
struct FastJSONNode {
  /// One of the `FastJSONNode.k…` constants.
  var kind: UInt8
  /// Strings: `stringEscaped` / `stringNonASCII`. Numbers: `numberNegative` / `numberNotInteger`.
  var flags: UInt8
  /// Strings and numbers: the first byte of the token (strings: after the opening quote).
  /// Arrays: the element count. Objects: the member count.
  var start: Int
  /// Strings and numbers: one past the last byte (strings: the closing quote's offset).
  /// Containers: the tape index just past the container's last descendant.
  var end: Int

  static let kNull: UInt8 = 0
  static let kFalse: UInt8 = 1
  static let kTrue: UInt8 = 2
  static let kNumber: UInt8 = 3
  static let kString: UInt8 = 4
  static let kArray: UInt8 = 5
  static let kObject: UInt8 = 6

  static let stringEscaped: UInt8 = 1
  static let stringNonASCII: UInt8 = 2
  static let numberNegative: UInt8 = 1
  static let numberNotInteger: UInt8 = 2

  /// How Foundation names a JSON value's type in its mismatch messages.
  static func kindDescription(_ kind: UInt8) -> String {
    switch kind {
    case kNull: return "null"
    case kFalse, kTrue: return "bool"
    case kNumber: return "number"
    case kString: return "a string"
    case kArray: return "an array"
    default: return "a dictionary"
    }
  }
}

/// Where and why the scanner gave up. Mapped to `DecodingError.dataCorrupted` with an empty path.
struct FastJSONSyntaxError: Error {
  var offset: Int
  var reason: String
}

/// The maximum nesting of arrays and objects the scanner accepts (Foundation's limit as well).
let fastJSONMaxDepth = 512

// MARK: - ASCII constants

let asciiQuote: UInt8 = 0x22  // "
let asciiBackslash: UInt8 = 0x5C  // \
let asciiComma: UInt8 = 0x2C
let asciiColon: UInt8 = 0x3A
let asciiMinus: UInt8 = 0x2D
let asciiPlus: UInt8 = 0x2B
let asciiDot: UInt8 = 0x2E
let asciiZero: UInt8 = 0x30
let asciiNine: UInt8 = 0x39
let asciiLowerE: UInt8 = 0x65
let asciiUpperE: UInt8 = 0x45
let asciiOpenBrace: UInt8 = 0x7B
let asciiCloseBrace: UInt8 = 0x7D
let asciiOpenBracket: UInt8 = 0x5B
let asciiCloseBracket: UInt8 = 0x5D

// MARK: - SWAR helpers

enum FastJSONSWAR {
  static let ones: UInt64 = 0x0101_0101_0101_0101
  static let highs: UInt64 = 0x8080_8080_8080_8080

  /// True when any of the eight bytes is below 0x20, a quote or a backslash: the bytes a string
  /// writer must escape. (Bytes >= 0x80 are fine for the writer.)
  @inline(__always)
  static func needsEscape(_ w: UInt64) -> Bool {
    let quote = w ^ (ones &* 0x22)
    let backslash = w ^ (ones &* 0x5C)
    let t = ((w &- ones &* 0x20) & ~w) | ((quote &- ones) & ~quote) | ((backslash &- ones) & ~backslash)
    return t & highs != 0
  }

  /// True when any byte needs attention from the string scanner: a control character, a quote, a
  /// backslash, or a non-ASCII byte (which has to be validated as UTF-8).
  @inline(__always)
  static func scannerStops(_ w: UInt64) -> Bool {
    let quote = w ^ (ones &* 0x22)
    let backslash = w ^ (ones &* 0x5C)
    let t = ((w &- ones &* 0x20) & ~w) | ((quote &- ones) & ~quote) | ((backslash &- ones) & ~backslash) | w
    return t & highs != 0
  }
}

// MARK: - Scanner

/// Validates a UTF-8 JSON document and records its structure as a tape of `FastJSONNode`s.
///
/// Accepts what Foundation's `JSONDecoder` accepts on this platform (for UTF-8 input): RFC 8259
/// plus a leading UTF-8 byte-order mark and one trailing comma before `]` or `}`. Rejects invalid
/// UTF-8 anywhere, unescaped control characters, bad escapes, unpaired surrogate escapes, and nesting
/// deeper than 512. Never recurses, so hostile nesting cannot exhaust the stack.
struct FastJSONScanner {
  let p: UnsafePointer<UInt8>
  let n: Int
  var nodes: [FastJSONNode] = []

  /// A scanner with an empty tape (`scan` gives it one with room for the document).
  init(_ p: UnsafePointer<UInt8>, _ n: Int) {
    self.p = p
    self.n = n
  }

  static func scan(_ buffer: UnsafeRawBufferPointer) throws(FastJSONSyntaxError) -> [FastJSONNode] {
    var tape: [FastJSONNode] = []
    try scan(buffer, into: &tape)
    return tape
  }

  /// Scans into `tape`, replacing what it held but reusing its storage.
  static func scan(_ buffer: UnsafeRawBufferPointer, into tape: inout [FastJSONNode]) throws(FastJSONSyntaxError) {
    guard let base = buffer.baseAddress, buffer.count > 0 else {
      throw FastJSONSyntaxError(offset: 0, reason: "the input is empty")
    }
    var scanner = FastJSONScanner(base.assumingMemoryBound(to: UInt8.self), buffer.count)
    // Swapped, not copied, in and out: the storage stays uniquely held, so no copy on write.
    swap(&scanner.nodes, &tape)
    defer { swap(&scanner.nodes, &tape) }
    scanner.nodes.removeAll(keepingCapacity: true)
    scanner.nodes.reserveCapacity(Swift.min(Swift.max(buffer.count / 6, 8), 1 << 16))
    try scanner.run()
  }

  @inline(__always)
  private func fail(_ offset: Int, _ reason: String) -> FastJSONSyntaxError {
    FastJSONSyntaxError(offset: offset, reason: reason)
  }

  @inline(__always)
  private func skipWhitespace(_ i: Int) -> Int {
    var i = i
    while i < n {
      let c = p[i]
      if c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 { i += 1 } else { break }
    }
    return i
  }

  private func unexpected(_ i: Int, _ expecting: String) -> FastJSONSyntaxError {
    if i >= n { return fail(i, "unexpected end of input, expected \(expecting)") }
    let c = p[i]
    let shown = c >= 0x20 && c < 0x7F ? "'\(Character(Unicode.Scalar(c)))'" : "byte 0x\(String(c, radix: 16))"
    return fail(i, "unexpected \(shown), expected \(expecting)")
  }

  /// The tape indices of the open containers. The first `inlineDepth` live on the call stack, so
  /// a message of ordinary depth costs no heap allocation for them; deeper documents move them to
  /// the heap, up to the depth limit.
  private struct OpenContainers: ~Copyable {
    static let inlineDepth = 64
    private var storage: UnsafeMutableBufferPointer<Int>
    private var spilled = false
    private(set) var count = 0

    init(_ inline: UnsafeMutableBufferPointer<Int>) { storage = inline }

    deinit { if spilled { storage.deallocate() } }

    /// Callers check `count < fastJSONMaxDepth` first.
    mutating func append(_ index: Int) {
      if count == storage.count {
        let larger = UnsafeMutableBufferPointer<Int>.allocate(capacity: fastJSONMaxDepth)
        _ = larger.initialize(from: storage)
        if spilled { storage.deallocate() }
        storage = larger
        spilled = true
      }
      storage[count] = index
      count += 1
    }

    mutating func removeLast() { count -= 1 }

    var last: Int? { count == 0 ? nil : storage[count - 1] }
  }

  private mutating func run() throws(FastJSONSyntaxError) {
    try withUnsafeTemporaryAllocation(of: Int.self, capacity: OpenContainers.inlineDepth) {
      (inline) throws(FastJSONSyntaxError) in
      try run(stack: OpenContainers(inline))
    }
  }

  private mutating func run(stack: consuming OpenContainers) throws(FastJSONSyntaxError) {
    var i = 0
    // A UTF-8 byte-order mark is skipped, as Foundation does.
    if n >= 3 && p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF { i = 3 }
    i = skipWhitespace(i)

    valueLoop: while true {
      // Expecting a value at i.
      guard i < n else { throw unexpected(i, "a value") }
      switch p[i] {
      case asciiOpenBrace:
        guard stack.count < fastJSONMaxDepth else { throw fail(i, "too many nested arrays or objects (limit \(fastJSONMaxDepth))") }
        nodes.append(FastJSONNode(kind: FastJSONNode.kObject, flags: 0, start: 0, end: 0))
        let index = nodes.count - 1
        stack.append(index)
        i = skipWhitespace(i + 1)
        if i < n && p[i] == asciiCloseBrace {
          i += 1
          nodes[index].end = nodes.count
          stack.removeLast()
        } else {
          i = try member(i, object: index)
          continue valueLoop
        }
      case asciiOpenBracket:
        guard stack.count < fastJSONMaxDepth else { throw fail(i, "too many nested arrays or objects (limit \(fastJSONMaxDepth))") }
        nodes.append(FastJSONNode(kind: FastJSONNode.kArray, flags: 0, start: 0, end: 0))
        let index = nodes.count - 1
        stack.append(index)
        i = skipWhitespace(i + 1)
        if i < n && p[i] == asciiCloseBracket {
          i += 1
          nodes[index].end = nodes.count
          stack.removeLast()
        } else {
          nodes[index].start = 1
          continue valueLoop
        }
      case asciiQuote:
        i = try string(i + 1)
      case asciiMinus, asciiZero...asciiNine:
        i = try number(i)
      case 0x74:  // t
        try literal(i, 0x74, 0x72, 0x75, 0x65)
        nodes.append(FastJSONNode(kind: FastJSONNode.kTrue, flags: 0, start: i, end: i + 4))
        i += 4
      case 0x66:  // f
        guard i + 5 <= n, p[i + 4] == 0x65 else { throw fail(i, "invalid literal") }
        try literal(i, 0x66, 0x61, 0x6C, 0x73)
        nodes.append(FastJSONNode(kind: FastJSONNode.kFalse, flags: 0, start: i, end: i + 5))
        i += 5
      case 0x6E:  // n
        try literal(i, 0x6E, 0x75, 0x6C, 0x6C)
        nodes.append(FastJSONNode(kind: FastJSONNode.kNull, flags: 0, start: i, end: i + 4))
        i += 4
      default:
        throw unexpected(i, "a value")
      }

      // A value just ended: close containers, or move on to the next element or member.
      while true {
        guard let top = stack.last else {
          i = skipWhitespace(i)
          guard i == n else { throw unexpected(i, "the end of the document") }
          return
        }
        i = skipWhitespace(i)
        guard i < n else { throw unexpected(i, "',' or a closing bracket") }
        let c = p[i]
        if nodes[top].kind == FastJSONNode.kObject {
          if c == asciiComma {
            i = skipWhitespace(i + 1)
            if i < n && p[i] == asciiCloseBrace {  // one trailing comma, as Foundation allows
              i += 1
              nodes[top].end = nodes.count
              stack.removeLast()
              continue
            }
            i = try member(i, object: top)
            continue valueLoop
          } else if c == asciiCloseBrace {
            i += 1
            nodes[top].end = nodes.count
            stack.removeLast()
          } else {
            throw unexpected(i, "',' or '}'")
          }
        } else {
          if c == asciiComma {
            i = skipWhitespace(i + 1)
            if i < n && p[i] == asciiCloseBracket {  // one trailing comma, as Foundation allows
              i += 1
              nodes[top].end = nodes.count
              stack.removeLast()
              continue
            }
            nodes[top].start += 1
            continue valueLoop
          } else if c == asciiCloseBracket {
            i += 1
            nodes[top].end = nodes.count
            stack.removeLast()
          } else {
            throw unexpected(i, "',' or ']'")
          }
        }
      }
    }
  }

  /// Scans `"key" :` and leaves `i` at the member's value.
  @inline(__always)
  private mutating func member(_ i: Int, object: Int) throws(FastJSONSyntaxError) -> Int {
    guard i < n, p[i] == asciiQuote else { throw unexpected(i, "a string key") }
    nodes[object].start += 1
    var i = try string(i + 1)
    i = skipWhitespace(i)
    guard i < n, p[i] == asciiColon else { throw unexpected(i, "':'") }
    return skipWhitespace(i + 1)
  }

  @inline(__always)
  private func literal(_ i: Int, _ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) throws(FastJSONSyntaxError) {
    guard i + 4 <= n, p[i] == a, p[i + 1] == b, p[i + 2] == c, p[i + 3] == d else {
      throw fail(i, "invalid literal")
    }
  }

  /// Scans a string whose opening quote was at `start - 1`; returns the offset after the closing quote.
  private mutating func string(_ start: Int) throws(FastJSONSyntaxError) -> Int {
    var j = start
    var flags: UInt8 = 0
    let raw = UnsafeRawPointer(p)
    while true {
      while j + 8 <= n && !FastJSONSWAR.scannerStops(raw.loadUnaligned(fromByteOffset: j, as: UInt64.self)) {
        j += 8
      }
      guard j < n else { throw fail(start - 1, "unterminated string") }
      let c = p[j]
      if c == asciiQuote {
        nodes.append(FastJSONNode(kind: FastJSONNode.kString, flags: flags, start: start, end: j))
        return j + 1
      } else if c == asciiBackslash {
        flags |= FastJSONNode.stringEscaped
        j = try escape(j + 1)
      } else if c < 0x20 {
        throw fail(j, "unescaped control character in a string")
      } else if c < 0x80 {
        j += 1
      } else {
        flags |= FastJSONNode.stringNonASCII
        j = try utf8Sequence(j)
      }
    }
  }

  /// Validates the escape after a backslash at `j - 1`; returns the offset after it.
  private func escape(_ j: Int) throws(FastJSONSyntaxError) -> Int {
    guard j < n else { throw fail(j, "unterminated escape") }
    switch p[j] {
    case asciiQuote, asciiBackslash, 0x2F, 0x62, 0x66, 0x6E, 0x72, 0x74:  // " \ / b f n r t
      return j + 1
    case 0x75:  // u
      let unit = try hex4(j + 1)
      if unit >= 0xD800 && unit <= 0xDBFF {
        guard j + 6 < n, p[j + 5] == asciiBackslash, p[j + 6] == 0x75 else {
          throw fail(j - 1, "unpaired high surrogate escape")
        }
        let low = try hex4(j + 7)
        guard low >= 0xDC00 && low <= 0xDFFF else { throw fail(j + 5, "high surrogate escape not followed by a low surrogate") }
        return j + 11
      }
      if unit >= 0xDC00 && unit <= 0xDFFF { throw fail(j - 1, "unpaired low surrogate escape") }
      return j + 5
    default:
      throw fail(j - 1, "invalid escape")
    }
  }

  private func hex4(_ j: Int) throws(FastJSONSyntaxError) -> UInt32 {
    guard j + 4 <= n else { throw fail(j, "truncated \\u escape") }
    var value: UInt32 = 0
    for k in 0..<4 {
      guard let digit = fastJSONHexValue(p[j + k]) else { throw fail(j + k, "invalid hex digit in \\u escape") }
      value = value << 4 | UInt32(digit)
    }
    return value
  }

  /// Validates one UTF-8 sequence starting at a byte >= 0x80 (RFC 3629: no overlongs, no surrogates,
  /// nothing above U+10FFFF); returns the offset after it.
  private func utf8Sequence(_ j: Int) throws(FastJSONSyntaxError) -> Int {
    let b0 = p[j]
    @inline(__always) func cont(_ k: Int, _ low: UInt8 = 0x80, _ high: UInt8 = 0xBF) -> Bool {
      k < n && p[k] >= low && p[k] <= high
    }
    switch b0 {
    case 0xC2...0xDF:
      if cont(j + 1) { return j + 2 }
    case 0xE0:
      if cont(j + 1, 0xA0, 0xBF) && cont(j + 2) { return j + 3 }
    case 0xE1...0xEC, 0xEE...0xEF:
      if cont(j + 1) && cont(j + 2) { return j + 3 }
    case 0xED:
      if cont(j + 1, 0x80, 0x9F) && cont(j + 2) { return j + 3 }
    case 0xF0:
      if cont(j + 1, 0x90, 0xBF) && cont(j + 2) && cont(j + 3) { return j + 4 }
    case 0xF1...0xF3:
      if cont(j + 1) && cont(j + 2) && cont(j + 3) { return j + 4 }
    case 0xF4:
      if cont(j + 1, 0x80, 0x8F) && cont(j + 2) && cont(j + 3) { return j + 4 }
    default:
      break
    }
    throw fail(j, "invalid UTF-8")
  }

  /// Scans `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`; returns the offset after it.
  /// What follows is checked by the caller (so `01` fails there, as trailing garbage).
  private mutating func number(_ start: Int) throws(FastJSONSyntaxError) -> Int {
    var j = start
    var flags: UInt8 = 0
    if p[j] == asciiMinus {
      flags |= FastJSONNode.numberNegative
      j += 1
    }
    guard j < n, p[j] >= asciiZero && p[j] <= asciiNine else { throw fail(j, "invalid number") }
    if p[j] == asciiZero {
      j += 1
    } else {
      while j < n && p[j] >= asciiZero && p[j] <= asciiNine { j += 1 }
    }
    if j < n && p[j] == asciiDot {
      flags |= FastJSONNode.numberNotInteger
      j += 1
      guard j < n, p[j] >= asciiZero && p[j] <= asciiNine else { throw fail(j, "invalid number: no digits after '.'") }
      while j < n && p[j] >= asciiZero && p[j] <= asciiNine { j += 1 }
    }
    if j < n && (p[j] == asciiLowerE || p[j] == asciiUpperE) {
      flags |= FastJSONNode.numberNotInteger
      j += 1
      if j < n && (p[j] == asciiPlus || p[j] == asciiMinus) { j += 1 }
      guard j < n, p[j] >= asciiZero && p[j] <= asciiNine else { throw fail(j, "invalid number: no digits in the exponent") }
      while j < n && p[j] >= asciiZero && p[j] <= asciiNine { j += 1 }
    }
    nodes.append(FastJSONNode(kind: FastJSONNode.kNumber, flags: flags, start: start, end: j))
    return j
  }
}

@inline(__always)
func fastJSONHexValue(_ c: UInt8) -> UInt8? {
  switch c {
  case 0x30...0x39: return c &- 0x30
  case 0x41...0x46: return c &- 0x41 &+ 10
  case 0x61...0x66: return c &- 0x61 &+ 10
  default: return nil
  }
}

// MARK: - Coding paths

/// The coding key Foundation uses for array positions ("Index 3", intValue 3) and for `super`.
struct FastJSONKey: CodingKey {
  var stringValue: String
  var intValue: Int?

  init(stringValue: String) {
    self.stringValue = stringValue
    self.intValue = nil
  }

  init(intValue: Int) {
    self.stringValue = "\(intValue)"
    self.intValue = intValue
  }

  init(index: Int) {
    self.stringValue = "Index \(index)"
    self.intValue = index
  }

  static let superKey = FastJSONKey(stringValue: "super")
}

/// One step of a coding path, kept cheap to push: array positions are materialised as keys only when
/// somebody asks for the path.
enum FastJSONPathElement {
  case key(any CodingKey)
  case index(Int)

  var codingKey: any CodingKey {
    switch self {
    case .key(let key): return key
    case .index(let index): return FastJSONKey(index: index)
    }
  }
}

/// A coding path as `base` leading elements of the codec's path stack plus `extra` elements that
/// belong to nested containers (which have no stack frame of their own).
@inline(__always)
func fastJSONPath(_ stack: [FastJSONPathElement], base: Int, extra: [FastJSONPathElement], appending last: FastJSONPathElement? = nil) -> [any CodingKey] {
  var path: [any CodingKey] = []
  path.reserveCapacity(base + extra.count + 1)
  for element in stack.prefix(base) { path.append(element.codingKey) }
  for element in extra { path.append(element.codingKey) }
  if let last { path.append(last.codingKey) }
  return path
}

// MARK: - Numbers

enum FastJSONNumbers {
  static let powersOf10: [Double] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
  ]
  static let powersOf10Float: [Float] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10]

  /// The decimal digits of a validated number token, without leading zeros, as far as they fit in
  /// 19 digits, and the power of ten they are scaled by. `exact` is false when digits were dropped.
  struct Decomposed {
    var mantissa: UInt64 = 0
    var exponent: Int = 0
    var digits = 0
    var exact = true
    var negative = false
  }

  /// Splits a validated token into mantissa and exponent (the exponent saturates far outside any
  /// representable range, so hostile exponents cannot overflow).
  static func decompose(_ p: UnsafePointer<UInt8>, _ start: Int, _ end: Int) -> Decomposed {
    var d = Decomposed()
    var j = start
    if j < end && p[j] == asciiMinus {
      d.negative = true
      j += 1
    }
    var sawDot = false
    while j < end {
      let c = p[j]
      if c >= asciiZero && c <= asciiNine {
        let digit = UInt64(c &- asciiZero)
        if d.digits == 0 && digit == 0 {
          if sawDot { d.exponent -= 1 }
        } else if d.digits < 19 {
          d.mantissa = d.mantissa &* 10 &+ digit
          d.digits += 1
          if sawDot { d.exponent -= 1 }
        } else {
          if digit != 0 { d.exact = false }
          if !sawDot { d.exponent += 1 }
        }
        j += 1
      } else if c == asciiDot {
        sawDot = true
        j += 1
      } else {
        break
      }
    }
    if j < end {  // exponent
      j += 1
      var negativeExponent = false
      if j < end && (p[j] == asciiPlus || p[j] == asciiMinus) {
        negativeExponent = p[j] == asciiMinus
        j += 1
      }
      var e = 0
      while j < end {
        if e < 100_000_000 { e = e * 10 + Int(p[j] &- asciiZero) }
        j += 1
      }
      d.exponent += negativeExponent ? -e : e
    }
    return d
  }

  /// The correctly rounded Double for a validated token (±infinity on overflow, ±0 on underflow).
  static func double(_ p: UnsafePointer<UInt8>, _ start: Int, _ end: Int) -> Double {
    floatingPoint(p, start, end, exactPowers: powersOf10)
  }

  /// The correctly rounded Float for a validated token (parsed directly, not via Double, which
  /// would round twice).
  static func float(_ p: UnsafePointer<UInt8>, _ start: Int, _ end: Int) -> Float {
    floatingPoint(p, start, end, exactPowers: powersOf10Float)
  }

  /// `exactPowers` holds the powers of ten the type represents exactly (10^0 up to 10^22 for
  /// Double, 10^10 for Float).
  @inline(__always)
  private static func floatingPoint<F: BinaryFloatingPoint & LosslessStringConvertible>(
    _ p: UnsafePointer<UInt8>, _ start: Int, _ end: Int, exactPowers: [F]
  ) -> F {
    let d = decompose(p, start, end)
    if d.exact {
      if d.mantissa == 0 { return d.negative ? -0.0 : 0.0 }
      // Clinger's fast path: mantissa and power of ten both exact, so one correctly rounded
      // operation gives the correctly rounded result.
      let maxPower = exactPowers.count - 1
      if d.mantissa <= 1 << (F.significandBitCount + 1) && d.exponent >= -maxPower && d.exponent <= maxPower {
        var value = F(d.mantissa)
        if d.exponent >= 0 { value *= exactPowers[d.exponent] } else { value /= exactPowers[-d.exponent] }
        return d.negative ? -value : value
      }
    }
    let text = String(decoding: UnsafeBufferPointer(start: p + start, count: end - start), as: UTF8.self)
    return F(text) ?? .nan
  }

  /// True when the token has no non-zero digit in its significand (so a zero result is not underflow).
  static func isTrueZero(_ p: UnsafePointer<UInt8>, _ start: Int, _ end: Int) -> Bool {
    var j = start
    while j < end {
      let c = p[j]
      if c == asciiLowerE || c == asciiUpperE { return true }
      if c >= 0x31 && c <= asciiNine { return false }
      j += 1
    }
    return true
  }

  /// A plain integer token (no fraction, no exponent) as T, or nil when it does not fit.
  @inline(__always)
  static func plainInteger<T: FixedWidthInteger>(_ p: UnsafePointer<UInt8>, _ start: Int, _ end: Int, negative: Bool, as: T.Type) -> T? {
    var j = negative ? start + 1 : start
    var magnitude: UInt64 = 0
    if end - j <= 19 {  // cannot overflow UInt64
      while j < end {
        magnitude = magnitude &* 10 &+ UInt64(p[j] &- asciiZero)
        j += 1
      }
    } else {
      while j < end {
        let (m, o1) = magnitude.multipliedReportingOverflow(by: 10)
        let (s, o2) = m.addingReportingOverflow(UInt64(p[j] &- asciiZero))
        if o1 || o2 { return nil }
        magnitude = s
        j += 1
      }
    }
    if negative {
      if T.isSigned {
        guard magnitude <= UInt64(T.max) &+ 1 else { return nil }
        return T(truncatingIfNeeded: 0 &- magnitude)
      }
      return magnitude == 0 ? 0 : nil
    }
    guard magnitude <= UInt64(T.max) else { return nil }
    return T(truncatingIfNeeded: magnitude)
  }

  /// Foundation's conversion of a number that is not a plain in-range integer: through Double,
  /// accepted when integral and exactly representable; at or beyond 2^53 the digits decide, the
  /// way Foundation's Decimal path does (mantissa of at most 38 significant digits with trailing
  /// zeros dropped must fit in UInt64, fractional digits truncated).
  static func slowInteger<T: FixedWidthInteger>(_ p: UnsafePointer<UInt8>, _ start: Int, _ end: Int, as: T.Type) -> T? {
    let d = double(p, start, end)
    guard let value = T(exactly: d) else { return nil }
    if d.magnitude < 9_007_199_254_740_992 { return value }

    // Collect up to 38 significant digits.
    var digits: [UInt8] = []
    digits.reserveCapacity(40)
    var exponent = 0
    var j = start
    var negative = false
    if p[j] == asciiMinus {
      negative = true
      j += 1
    }
    var sawDot = false
    while j < end {
      let c = p[j]
      if c >= asciiZero && c <= asciiNine {
        if digits.isEmpty && c == asciiZero {
          if sawDot { exponent -= 1 }
        } else if digits.count < 38 {
          digits.append(c &- asciiZero)
          if sawDot { exponent -= 1 }
        } else if !sawDot {
          exponent += 1
        }
        j += 1
      } else if c == asciiDot {
        sawDot = true
        j += 1
      } else {
        break
      }
    }
    if j < end {
      j += 1
      var negativeExponent = false
      if j < end && (p[j] == asciiPlus || p[j] == asciiMinus) {
        negativeExponent = p[j] == asciiMinus
        j += 1
      }
      var e = 0
      while j < end {
        if e < 100_000_000 { e = e * 10 + Int(p[j] &- asciiZero) }
        j += 1
      }
      exponent += negativeExponent ? -e : e
    }
    while let last = digits.last, last == 0 {
      digits.removeLast()
      exponent += 1
    }
    var magnitude: UInt64 = 0
    for digit in digits {
      let (m, o1) = magnitude.multipliedReportingOverflow(by: 10)
      let (s, o2) = m.addingReportingOverflow(UInt64(digit))
      if o1 || o2 { return nil }
      magnitude = s
    }
    if exponent < 0 {
      var e = exponent
      while e < 0 && magnitude != 0 {
        magnitude /= 10
        e += 1
      }
    } else {
      var e = exponent
      while e > 0 && magnitude != 0 {
        let (m, o) = magnitude.multipliedReportingOverflow(by: 10)
        if o { return nil }
        magnitude = m
        e -= 1
      }
    }
    guard let sized = T(exactly: magnitude) else { return nil }
    if negative {
      guard T.isSigned else { return sized == 0 ? 0 : nil }
      return 0 - sized
    }
    return sized
  }
}

/// The coding-path suffixes of nested containers (which have no frame on the path), referred to
/// by index so that containers hold no array and stay cheap to copy. Index 0 is the empty suffix
/// and needs no storage, so a coder that never nests such a container allocates nothing here.
struct FastJSONPathSuffixes {
  private var stored: [[FastJSONPathElement]] = []

  subscript(index: Int) -> [FastJSONPathElement] { index == 0 ? [] : stored[index - 1] }

  /// Adds a suffix and returns its index.
  mutating func append(_ suffix: [FastJSONPathElement]) -> Int {
    stored.append(suffix)
    return stored.count
  }
}
