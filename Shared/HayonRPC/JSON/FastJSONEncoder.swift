import Foundation

/// An `Encodable` JSON encoder for RPC messages: compact output, keys in the order they are
/// encoded, several times faster than `JSONEncoder()` on small messages.
///
/// Output is streamed straight into one growing byte buffer; containers are closed when their
/// owner writes its next element or when the value that opened them finishes encoding.
///
/// Matches `JSONEncoder()` with default options, except for two deliberate differences: `/` is not
/// escaped (Foundation writes `\/`), and keys come out in encode order (Foundation on Linux emits
/// them in hash order). Numbers are written as Foundation writes them (`description`, with a
/// trailing `.0` dropped); non-finite floating-point values throw `EncodingError.invalidValue`.
/// `Date`, `Data`, `URL` and `Decimal` follow Foundation's default strategies: seconds since 2001
/// (via `Date`'s own `Codable`), a base64 string, the absolute string, and a JSON number.
///
/// Streaming imposes one rule Foundation's tree-building encoder does not have: a nested container
/// (or a `superEncoder`) is finished as soon as its parent writes another element, so writing to it
/// afterwards throws `EncodingError.invalidValue` instead of silently reordering the output. Writing
/// the same key twice writes it twice (Foundation keeps the last value). No synthesized
/// conformance does either.
struct FastJSONEncoder: Sendable {
  init() {}

  /// With `reservingPrefix`, the output starts with that many zero bytes for the caller to fill
  /// in (a gRPC length prefix): framing the message then needs no second buffer.
  func encode<T: Encodable>(_ value: T, reservingPrefix prefix: Int = 0) throws -> [UInt8] {
    var encoder = Self.spares.take() ?? FastJSONEncoderImpl()
    defer {
      // Kept for the next message on this thread unless something still holds it (a container
      // kept past the encode, which is misuse) or it grew large on a big message.
      if encoder.isWorthKeeping && isKnownUniquelyReferenced(&encoder) {
        encoder.reset()
        Self.spares.keep(encoder)
      }
    }
    return try encoder.encodeTopLevel(value, prefix: prefix)
  }

  /// Each thread's encoder between messages: its output buffer and container stack are reused.
  private static let spares = ThreadSpare<FastJSONEncoderImpl>()
}

// MARK: - Output buffer

struct FastJSONWriter {
  var base: UnsafeMutablePointer<UInt8>
  var count = 0
  var capacity: Int

  init(capacity: Int) {
    self.base = .allocate(capacity: capacity)
    self.capacity = capacity
  }

  func deallocate() { base.deallocate() }

  var bytes: [UInt8] { Array(UnsafeBufferPointer(start: base, count: count)) }

  @inline(__always)
  mutating func reserve(_ extra: Int) {
    if capacity - count < extra { grow(extra) }
  }

  @inline(never)
  mutating func grow(_ extra: Int) {
    var newCapacity = capacity * 2
    while newCapacity - count < extra { newCapacity *= 2 }
    let newBase = UnsafeMutablePointer<UInt8>.allocate(capacity: newCapacity)
    newBase.initialize(from: base, count: count)
    base.deallocate()
    base = newBase
    capacity = newCapacity
  }

  mutating func appendZeros(_ count: Int) {
    reserve(count)
    (base + self.count).initialize(repeating: 0, count: count)
    self.count += count
  }

  @inline(__always)
  mutating func append(_ byte: UInt8) {
    reserve(1)
    base[count] = byte
    count += 1
  }

  @inline(__always)
  mutating func append(_ a: UInt8, _ b: UInt8) {
    reserve(2)
    base[count] = a
    base[count + 1] = b
    count += 2
  }

  @inline(__always)
  mutating func append(_ bytes: UnsafeBufferPointer<UInt8>) {
    guard let source = bytes.baseAddress, bytes.count > 0 else { return }
    reserve(bytes.count)
    (base + count).initialize(from: source, count: bytes.count)
    count += bytes.count
  }

  @inline(__always)
  mutating func appendNull() {
    reserve(4)
    base[count] = 0x6E
    base[count + 1] = 0x75
    base[count + 2] = 0x6C
    base[count + 3] = 0x6C
    count += 4
  }

  @inline(__always)
  mutating func writeBool(_ value: Bool) {
    reserve(5)
    if value {
      base[count] = 0x74
      base[count + 1] = 0x72
      base[count + 2] = 0x75
      base[count + 3] = 0x65
      count += 4
    } else {
      base[count] = 0x66
      base[count + 1] = 0x61
      base[count + 2] = 0x6C
      base[count + 3] = 0x73
      base[count + 4] = 0x65
      count += 5
    }
  }

  @inline(__always)
  mutating func writeString(_ string: String) {
    var string = string
    string.withUTF8 { writeEscaped($0) }
  }

  /// `"key":`
  @inline(__always)
  mutating func writeKey(_ key: String) {
    var key = key
    key.withUTF8 { writeEscaped($0) }
    append(asciiColon)
  }

  private static let hexDigits: StaticString = "0123456789abcdef"

  /// Writes a quoted string, escaping `"`, `\` and control characters; everything else (including
  /// `/` and non-ASCII) is copied as is.
  mutating func writeEscaped(_ utf8: UnsafeBufferPointer<UInt8>) {
    reserve(utf8.count + 2)
    base[count] = asciiQuote
    count += 1
    guard let source = utf8.baseAddress else {
      base[count] = asciiQuote
      count += 1
      return
    }
    let n = utf8.count
    let raw = UnsafeRawPointer(source)
    var i = 0
    var runStart = 0
    while i < n {
      if i + 8 <= n && !FastJSONSWAR.needsEscape(raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)) {
        i += 8
        continue
      }
      let c = source[i]
      if c >= 0x20 && c != asciiQuote && c != asciiBackslash {
        i += 1
        continue
      }
      append(UnsafeBufferPointer(start: source + runStart, count: i - runStart))
      reserve(6)
      base[count] = asciiBackslash
      switch c {
      case asciiQuote: base[count + 1] = asciiQuote; count += 2
      case asciiBackslash: base[count + 1] = asciiBackslash; count += 2
      case 0x08: base[count + 1] = 0x62; count += 2  // \b
      case 0x0C: base[count + 1] = 0x66; count += 2  // \f
      case 0x0A: base[count + 1] = 0x6E; count += 2  // \n
      case 0x0D: base[count + 1] = 0x72; count += 2  // \r
      case 0x09: base[count + 1] = 0x74; count += 2  // \t
      default:  // \u00xx, lower-case hex like Foundation
        let hex = Self.hexDigits.utf8Start
        base[count + 1] = 0x75
        base[count + 2] = asciiZero
        base[count + 3] = asciiZero
        base[count + 4] = hex[Int(c >> 4)]
        base[count + 5] = hex[Int(c & 0xF)]
        count += 6
      }
      i += 1
      runStart = i
    }
    append(UnsafeBufferPointer(start: source + runStart, count: n - runStart))
    append(asciiQuote)
  }

  mutating func writeUnsigned(_ value: UInt64) {
    reserve(20)
    var digits = 1
    var rest = value
    while rest >= 10 {
      rest /= 10
      digits += 1
    }
    var position = count + digits - 1
    rest = value
    repeat {
      base[position] = asciiZero &+ UInt8(truncatingIfNeeded: rest % 10)
      rest /= 10
      position -= 1
    } while rest != 0
    count += digits
  }

  @inline(__always)
  mutating func writeSigned(_ value: Int64) {
    if value < 0 {
      append(asciiMinus)
      writeUnsigned(0 &- UInt64(bitPattern: value))
    } else {
      writeUnsigned(UInt64(bitPattern: value))
    }
  }

  /// A finite Double, as Foundation writes it: `description` without a trailing `.0`.
  mutating func writeDouble(_ value: Double) {
    if value == value.rounded(.towardZero) && value.magnitude < 1e15 {
      if value == 0 {
        if value.sign == .minus { append(asciiMinus) }
        append(asciiZero)
      } else {
        writeSigned(Int64(value))
      }
      return
    }
    if writeShortDecimal(value) { return }
    writeDescription(value.description)
  }

  private static let powersOf10: [Double] = [1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15]

  /// Values like 1.35 or 0.001 without going through `description`: when some m / 10^k with at
  /// most 15 significant digits parses back to exactly this Double, the smallest such k gives the
  /// shortest round-tripping digits, which is what `description` prints for 1e-4 <= |v| < 1e15.
  /// (A decimal of at most 15 significant digits is the only one of its length that maps to its
  /// Double, and m / 10^k with m < 2^53 and k <= 15 is one correctly rounded division, exactly
  /// as a parser computes it.)
  @inline(__always)
  private mutating func writeShortDecimal(_ value: Double) -> Bool {
    let magnitude = value.magnitude
    guard magnitude >= 1e-4 && magnitude < 1e15 else { return false }
    var integerDigits = 1
    var bound = 10.0
    while magnitude >= bound {
      integerDigits += 1
      bound *= 10
    }
    var k = 1
    while k <= 15 {
      let scale = Self.powersOf10[k]
      let scaled = (magnitude * scale).rounded()
      if scaled >= 1e15 { return false }  // more than 15 significant digits
      if scaled / scale == magnitude {
        var m = UInt64(scaled)
        // m has at most 15 digits; lay them out as [integer part].[k fraction digits].
        reserve(32)
        if value < 0 {
          base[count] = asciiMinus
          count += 1
        }
        let fractionStart = integerDigits >= 1 && magnitude >= 1 ? integerDigits : 1
        let total = fractionStart + 1 + k  // integer part, dot, fraction
        var position = count + total - 1
        for _ in 0..<k {
          base[position] = asciiZero &+ UInt8(truncatingIfNeeded: m % 10)
          m /= 10
          position -= 1
        }
        base[position] = asciiDot
        position -= 1
        for _ in 0..<fractionStart {
          base[position] = asciiZero &+ UInt8(truncatingIfNeeded: m % 10)
          m /= 10
          position -= 1
        }
        count += total
        return true
      }
      k += 1
    }
    return false
  }

  /// A finite Float, as Foundation writes it (its own `description`, not the Double's).
  mutating func writeFloat(_ value: Float) {
    if value == value.rounded(.towardZero) && value.magnitude < 8_388_608 {
      if value == 0 {
        if value.sign == .minus { append(asciiMinus) }
        append(asciiZero)
      } else {
        writeSigned(Int64(value))
      }
      return
    }
    writeDescription(value.description)
  }

  private mutating func writeDescription(_ text: String) {
    var text = text
    text.withUTF8 { utf8 in
      let n = utf8.count
      let length = n >= 2 && utf8[n - 2] == asciiDot && utf8[n - 1] == asciiZero ? n - 2 : n
      append(UnsafeBufferPointer(rebasing: utf8[0..<length]))
    }
  }
}

// MARK: - Encoder

final class FastJSONEncoderImpl: Encoder {
  struct Frame {
    var id: Int
    var count: Int
    var isObject: Bool
  }

  @exclusivity(unchecked) var writer = FastJSONWriter(capacity: 512)
  /// The open containers, outermost first; a container's depth is its index here.
  @exclusivity(unchecked) var frames: [Frame] = []
  @exclusivity(unchecked) var nextID = 1
  /// The value slot waiting for its value (a key or array position was written), or 0.
  @exclusivity(unchecked) var pendingSlot = 0
  /// The value this `Encoder` currently stands for: its slot, the depth its container would have,
  /// and the container it opened (0: none yet).
  @exclusivity(unchecked) var slot = 0
  @exclusivity(unchecked) var slotDepth = 0
  @exclusivity(unchecked) var slotFrame = 0
  @exclusivity(unchecked) var path: [FastJSONPathElement] = []
  /// The coding-path suffixes of nested containers (which have no frame on `path`), referred to
  /// by index so that containers hold no array and stay cheap to copy. Index 0 is the empty suffix.
  @exclusivity(unchecked) var extras = FastJSONPathSuffixes()
  /// The first error that left the output inconsistent; the encode fails with it even if the
  /// `Encodable` code caught it.
  @exclusivity(unchecked) var failure: (any Error)?

  init() {
    frames.reserveCapacity(8)
  }

  deinit { writer.deallocate() }

  /// Small enough to keep between messages.
  var isWorthKeeping: Bool { writer.capacity <= 64 * 1024 && frames.capacity <= 64 && path.capacity <= 64 }

  /// As new, keeping the buffers' capacity.
  func reset() {
    writer.count = 0
    frames.removeAll(keepingCapacity: true)
    nextID = 1
    pendingSlot = 0
    slot = 0
    slotDepth = 0
    slotFrame = 0
    path.removeAll(keepingCapacity: true)
    extras = FastJSONPathSuffixes()
    failure = nil
  }

  var codingPath: [any CodingKey] { path.map(\.codingKey) }
  var userInfo: [CodingUserInfoKey: Any] { [:] }

  func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
    keyedContainer(slot: slot, depth: slotDepth, frame: &slotFrame, base: path.count, extra: 0, keyedBy: type)
  }

  func unkeyedContainer() -> any UnkeyedEncodingContainer {
    unkeyedContainer(slot: slot, depth: slotDepth, frame: &slotFrame, base: path.count, extra: 0)
  }

  func singleValueContainer() -> any SingleValueEncodingContainer {
    FastJSONSingleValueEncodingContainer(encoder: self, slot: slot, depth: slotDepth, base: path.count, extra: 0)
  }

  // MARK: Top level

  func encodeTopLevel<T: Encodable>(_ value: T, prefix: Int) throws -> [UInt8] {
    if prefix > 0 { writer.appendZeros(prefix) }
    if try writeDirect(value, base: 0, extra: 0, element: nil) { return writer.bytes }
    let empty = try encodeInNewSlot(value, depth: 0, base: 0, extra: 0, element: nil)
    if let failure { throw failure }
    if empty {
      throw EncodingError.invalidValue(value, EncodingError.Context(
        codingPath: [], debugDescription: "Top-level \(T.self) did not encode any values."))
    }
    return writer.bytes
  }

  // MARK: Structure

  func extend(_ extra: Int, _ element: FastJSONPathElement) -> Int {
    register(extras[extra] + [element])
  }

  func register(_ elements: [FastJSONPathElement]) -> Int {
    extras.append(elements)
  }

  func pathFor(base: Int, extra: Int, appending last: FastJSONPathElement? = nil) -> [any CodingKey] {
    fastJSONPath(path, base: base, extra: extras[extra], appending: last)
  }

  func misuse(_ message: String, base: Int, extra: Int) -> EncodingError {
    let error = EncodingError.invalidValue(Optional<Int>.none as Any, EncodingError.Context(
      codingPath: pathFor(base: base, extra: extra), debugDescription: message))
    record(error)
    return error
  }

  @inline(__always)
  func record(_ error: any Error) {
    if failure == nil { failure = error }
  }

  /// A slot nobody filled (an unused `superEncoder`) becomes `{}`, as in Foundation.
  @inline(__always)
  func fillPending() {
    if pendingSlot != 0 {
      pendingSlot = 0
      writer.append(asciiOpenBrace, asciiCloseBrace)
    }
  }

  @inline(__always)
  func closeFrames(downTo depth: Int) {
    while frames.count > depth {
      let frame = frames.removeLast()
      writer.append(frame.isObject ? asciiCloseBrace : asciiCloseBracket)
    }
  }

  /// Prepares the container at `depth` (identity `id`) for a new element: finishes whatever was
  /// open inside it and writes the separating comma.
  @inline(__always)
  func beginElement(depth: Int, id: Int, base: Int, extra: Int) throws {
    fillPending()
    guard depth < frames.count, frames[depth].id == id else {
      throw misuse("Cannot encode into a container that is already finished: a nested container or superEncoder must be "
        + "filled before its parent encodes anything else.", base: base, extra: extra)
    }
    if frames.count > depth + 1 { closeFrames(downTo: depth + 1) }
    if frames[depth].count > 0 { writer.append(asciiComma) }
    frames[depth].count += 1
  }

  @inline(__always)
  func openFrame(isObject: Bool) -> (depth: Int, id: Int) {
    writer.append(isObject ? asciiOpenBrace : asciiOpenBracket)
    let id = nextID
    nextID += 1
    frames.append(Frame(id: id, count: 0, isObject: isObject))
    return (frames.count - 1, id)
  }

  /// Opens the container for the value in `slot`, or hands back the one it already opened.
  private func openContainer(isObject: Bool, slot: Int, depth: Int, frame: inout Int) -> (depth: Int, id: Int)? {
    if slot != 0 && pendingSlot == slot {
      pendingSlot = 0
      let opened = openFrame(isObject: isObject)
      frame = opened.id
      return opened
    }
    if frame != 0, depth < frames.count, frames[depth].id == frame, frames[depth].isObject == isObject {
      return (depth, frame)
    }
    return nil
  }

  func keyedContainer<Key: CodingKey>(slot: Int, depth: Int, frame: inout Int, base: Int, extra: Int, keyedBy: Key.Type) -> KeyedEncodingContainer<Key> {
    guard let opened = openContainer(isObject: true, slot: slot, depth: depth, frame: &frame) else {
      _ = misuse("Cannot open a keyed container for a value that already holds something else.", base: base, extra: extra)
      return KeyedEncodingContainer(FastJSONKeyedEncodingContainer<Key>(encoder: self, depth: depth, id: 0, base: base, extra: extra))
    }
    return KeyedEncodingContainer(FastJSONKeyedEncodingContainer<Key>(encoder: self, depth: opened.depth, id: opened.id, base: base, extra: extra))
  }

  func unkeyedContainer(slot: Int, depth: Int, frame: inout Int, base: Int, extra: Int) -> any UnkeyedEncodingContainer {
    guard let opened = openContainer(isObject: false, slot: slot, depth: depth, frame: &frame) else {
      _ = misuse("Cannot open an unkeyed container for a value that already holds something else.", base: base, extra: extra)
      return FastJSONUnkeyedEncodingContainer(encoder: self, depth: depth, id: 0, base: base, extra: extra)
    }
    return FastJSONUnkeyedEncodingContainer(encoder: self, depth: opened.depth, id: opened.id, base: base, extra: extra)
  }

  /// Reserves the next value slot (after a key or array position) for a `superEncoder`.
  func subEncoder(depth: Int, base: Int, extra: Int, element: FastJSONPathElement) -> FastJSONSubEncoder {
    let slot = nextID
    nextID += 1
    pendingSlot = slot
    var subPath = Array(path.prefix(base))
    subPath.append(contentsOf: extras[extra])
    subPath.append(element)
    return FastJSONSubEncoder(encoder: self, slot: slot, depth: depth, path: subPath, extra: register(subPath))
  }

  // MARK: Values

  func nonFinite(_ value: Any, _ description: String, base: Int, extra: Int, element: FastJSONPathElement?) -> EncodingError {
    EncodingError.invalidValue(value, EncodingError.Context(
      codingPath: pathFor(base: base, extra: extra, appending: element),
      debugDescription: "Unable to encode \(description) directly in JSON."))
  }

  @inline(__always)
  func isDirect<T>(_ type: T.Type) -> Bool {
    T.self == String.self || T.self == Int.self || T.self == Double.self || T.self == Bool.self
      || T.self == Int64.self || T.self == Int32.self || T.self == UInt64.self || T.self == UInt32.self
      || T.self == Float.self || T.self == UInt.self || T.self == Int8.self || T.self == Int16.self
      || T.self == UInt8.self || T.self == UInt16.self || T.self == Data.self || T.self == URL.self
      || T.self == Decimal.self
  }

  /// Writes values that need no `Encoder` of their own; false for everything else.
  @inline(__always)
  func writeDirect<T>(_ value: T, base: Int, extra: Int, element: FastJSONPathElement?) throws -> Bool {
    if T.self == String.self {
      writer.writeString(unsafeBitCast(value, to: String.self))
    } else if T.self == Int.self {
      writer.writeSigned(Int64(unsafeBitCast(value, to: Int.self)))
    } else if T.self == Double.self {
      let double = unsafeBitCast(value, to: Double.self)
      guard double.isFinite else { throw nonFinite(double, "Double.\(double)", base: base, extra: extra, element: element) }
      writer.writeDouble(double)
    } else if T.self == Bool.self {
      writer.writeBool(unsafeBitCast(value, to: Bool.self))
    } else if T.self == Int64.self {
      writer.writeSigned(unsafeBitCast(value, to: Int64.self))
    } else if T.self == Int32.self {
      writer.writeSigned(Int64(unsafeBitCast(value, to: Int32.self)))
    } else if T.self == UInt64.self {
      writer.writeUnsigned(unsafeBitCast(value, to: UInt64.self))
    } else if T.self == UInt32.self {
      writer.writeUnsigned(UInt64(unsafeBitCast(value, to: UInt32.self)))
    } else if T.self == Float.self {
      let float = unsafeBitCast(value, to: Float.self)
      guard float.isFinite else { throw nonFinite(float, "Float.\(float)", base: base, extra: extra, element: element) }
      writer.writeFloat(float)
    } else if T.self == UInt.self {
      writer.writeUnsigned(UInt64(unsafeBitCast(value, to: UInt.self)))
    } else if T.self == Int8.self {
      writer.writeSigned(Int64(unsafeBitCast(value, to: Int8.self)))
    } else if T.self == Int16.self {
      writer.writeSigned(Int64(unsafeBitCast(value, to: Int16.self)))
    } else if T.self == UInt8.self {
      writer.writeUnsigned(UInt64(unsafeBitCast(value, to: UInt8.self)))
    } else if T.self == UInt16.self {
      writer.writeUnsigned(UInt64(unsafeBitCast(value, to: UInt16.self)))
    } else if T.self == Data.self {
      writer.writeString(unsafeBitCast(value, to: Data.self).base64EncodedString())
    } else if T.self == URL.self {
      writer.writeString(unsafeBitCast(value, to: URL.self).absoluteString)
    } else if T.self == Decimal.self {
      let decimal = unsafeBitCast(value, to: Decimal.self)
      guard !decimal.isNaN else { throw nonFinite(decimal, "Decimal.nan", base: base, extra: extra, element: element) }
      var text = decimal.description
      text.withUTF8 { writer.append($0) }
    } else {
      return false
    }
    return true
  }

  /// Encodes a value whose key or array position has just been written.
  @inline(__always)
  func encodeValue<T: Encodable>(_ value: T, depth: Int, base: Int, extra: Int, element: FastJSONPathElement?) throws {
    do {
      if try writeDirect(value, base: base, extra: extra, element: element) { return }
      if try encodeInNewSlot(value, depth: depth, base: base, extra: extra, element: element) {
        writer.append(asciiOpenBrace, asciiCloseBrace)  // encoded nothing: {} as in Foundation
      }
    } catch {
      record(error)  // a key is already written: the output cannot be completed
      throw error
    }
  }

  /// Runs `value.encode(to:)` for a fresh slot at `depth`; returns true when it encoded nothing.
  func encodeInNewSlot<T: Encodable>(_ value: T, depth: Int, base: Int, extra: Int, element: FastJSONPathElement?) throws -> Bool {
    if pendingSlot != 0 { fillPending() }
    let newSlot = nextID
    nextID += 1
    pendingSlot = newSlot
    let saved = (slot, slotDepth, slotFrame)
    slot = newSlot
    slotDepth = depth
    slotFrame = 0
    defer { (slot, slotDepth, slotFrame) = saved }
    try withPath(base: base, extra: extra, element: element) { try value.encode(to: self) }
    let empty = pendingSlot == newSlot
    if empty {
      pendingSlot = 0
    } else {
      fillPending()
    }
    closeFrames(downTo: depth)
    return empty
  }

  /// Encodes through a single-value container: into `slot`, whose path is already complete.
  func encodeInSlot<T: Encodable>(_ value: T, slot target: Int, depth: Int, base: Int, extra: Int) throws {
    let saved = (slot, slotDepth, slotFrame)
    slot = target
    slotDepth = depth
    slotFrame = 0
    defer { (slot, slotDepth, slotFrame) = saved }
    do {
      try withPath(base: base, extra: extra, element: nil) { try value.encode(to: self) }
    } catch {
      record(error)
      throw error
    }
  }

  @inline(__always)
  func withPath<R>(base: Int, extra: Int, element: FastJSONPathElement?, _ body: () throws -> R) rethrows -> R {
    if path.count == base && extra == 0 {
      guard let element else { return try body() }
      // Reserved on first use, not up front: flat messages never push a path element.
      if path.capacity == 0 { path.reserveCapacity(8) }
      path.append(element)
      defer { path.removeLast() }
      return try body()
    }
    let savedPath = path
    path = Array(path.prefix(base))
    path.append(contentsOf: extras[extra])
    if let element { path.append(element) }
    defer { path = savedPath }
    return try body()
  }
}

/// The `Encoder` a `superEncoder()` call hands out: stands for one reserved value slot.
final class FastJSONSubEncoder: Encoder {
  let encoder: FastJSONEncoderImpl
  let slot: Int
  let depth: Int
  let path: [FastJSONPathElement]
  /// `path`, registered with the encoder, for the containers this encoder hands out.
  let extra: Int
  var frame = 0

  init(encoder: FastJSONEncoderImpl, slot: Int, depth: Int, path: [FastJSONPathElement], extra: Int) {
    self.encoder = encoder
    self.slot = slot
    self.depth = depth
    self.path = path
    self.extra = extra
  }

  var codingPath: [any CodingKey] { path.map(\.codingKey) }
  var userInfo: [CodingUserInfoKey: Any] { [:] }

  func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
    encoder.keyedContainer(slot: slot, depth: depth, frame: &frame, base: 0, extra: extra, keyedBy: type)
  }

  func unkeyedContainer() -> any UnkeyedEncodingContainer {
    encoder.unkeyedContainer(slot: slot, depth: depth, frame: &frame, base: 0, extra: extra)
  }

  func singleValueContainer() -> any SingleValueEncodingContainer {
    FastJSONSingleValueEncodingContainer(encoder: encoder, slot: slot, depth: depth, base: 0, extra: extra)
  }
}

// MARK: - Keyed container

struct FastJSONKeyedEncodingContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
  let encoder: FastJSONEncoderImpl
  let depth: Int
  /// The frame this container writes to; 0 for a container that could not be opened.
  let id: Int
  let base: Int
  let extra: Int

  var codingPath: [any CodingKey] { encoder.pathFor(base: base, extra: extra) }

  @inline(__always)
  private func begin(_ key: Key) throws {
    try encoder.beginElement(depth: depth, id: id, base: base, extra: extra)
    encoder.writer.writeKey(key.stringValue)
  }

  private func nonFinite(_ value: Any, _ description: String, _ key: Key) -> EncodingError {
    encoder.nonFinite(value, description, base: base, extra: extra, element: .key(key))
  }

  mutating func encodeNil(forKey key: Key) throws {
    try begin(key)
    encoder.writer.appendNull()
  }

  mutating func encode(_ value: Bool, forKey key: Key) throws {
    try begin(key)
    encoder.writer.writeBool(value)
  }

  mutating func encode(_ value: String, forKey key: Key) throws {
    try begin(key)
    encoder.writer.writeString(value)
  }

  mutating func encode(_ value: Double, forKey key: Key) throws {
    guard value.isFinite else { throw nonFinite(value, "Double.\(value)", key) }
    try begin(key)
    encoder.writer.writeDouble(value)
  }

  mutating func encode(_ value: Float, forKey key: Key) throws {
    guard value.isFinite else { throw nonFinite(value, "Float.\(value)", key) }
    try begin(key)
    encoder.writer.writeFloat(value)
  }

  mutating func encode(_ value: Int, forKey key: Key) throws { try begin(key); encoder.writer.writeSigned(Int64(value)) }
  mutating func encode(_ value: Int8, forKey key: Key) throws { try begin(key); encoder.writer.writeSigned(Int64(value)) }
  mutating func encode(_ value: Int16, forKey key: Key) throws { try begin(key); encoder.writer.writeSigned(Int64(value)) }
  mutating func encode(_ value: Int32, forKey key: Key) throws { try begin(key); encoder.writer.writeSigned(Int64(value)) }
  mutating func encode(_ value: Int64, forKey key: Key) throws { try begin(key); encoder.writer.writeSigned(value) }
  mutating func encode(_ value: UInt, forKey key: Key) throws { try begin(key); encoder.writer.writeUnsigned(UInt64(value)) }
  mutating func encode(_ value: UInt8, forKey key: Key) throws { try begin(key); encoder.writer.writeUnsigned(UInt64(value)) }
  mutating func encode(_ value: UInt16, forKey key: Key) throws { try begin(key); encoder.writer.writeUnsigned(UInt64(value)) }
  mutating func encode(_ value: UInt32, forKey key: Key) throws { try begin(key); encoder.writer.writeUnsigned(UInt64(value)) }
  mutating func encode(_ value: UInt64, forKey key: Key) throws { try begin(key); encoder.writer.writeUnsigned(value) }

  mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
    try begin(key)
    try encoder.encodeValue(value, depth: depth + 1, base: base, extra: extra, element: .key(key))
  }

  mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
    let nestedExtra = encoder.extend(extra, .key(key))
    do {
      try begin(key)
    } catch {
      return KeyedEncodingContainer(FastJSONKeyedEncodingContainer<NestedKey>(encoder: encoder, depth: depth + 1, id: 0, base: base, extra: nestedExtra))
    }
    let opened = encoder.openFrame(isObject: true)
    return KeyedEncodingContainer(FastJSONKeyedEncodingContainer<NestedKey>(encoder: encoder, depth: opened.depth, id: opened.id, base: base, extra: nestedExtra))
  }

  mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
    let nestedExtra = encoder.extend(extra, .key(key))
    do {
      try begin(key)
    } catch {
      return FastJSONUnkeyedEncodingContainer(encoder: encoder, depth: depth + 1, id: 0, base: base, extra: nestedExtra)
    }
    let opened = encoder.openFrame(isObject: false)
    return FastJSONUnkeyedEncodingContainer(encoder: encoder, depth: opened.depth, id: opened.id, base: base, extra: nestedExtra)
  }

  mutating func superEncoder() -> any Encoder {
    superEncoder(named: FastJSONKey.superKey)
  }

  mutating func superEncoder(forKey key: Key) -> any Encoder {
    superEncoder(named: key)
  }

  private func superEncoder(named key: some CodingKey) -> any Encoder {
    do {
      try encoder.beginElement(depth: depth, id: id, base: base, extra: extra)
    } catch {
      return FastJSONSubEncoder(encoder: encoder, slot: 0, depth: depth + 1, path: [], extra: 0)
    }
    encoder.writer.writeKey(key.stringValue)
    return encoder.subEncoder(depth: depth + 1, base: base, extra: extra, element: .key(key))
  }
}

// MARK: - Unkeyed container

struct FastJSONUnkeyedEncodingContainer: UnkeyedEncodingContainer, FastJSONPrimitiveSlot {
  let encoder: FastJSONEncoderImpl
  let depth: Int
  let id: Int
  let base: Int
  let extra: Int
  private(set) var count = 0

  init(encoder: FastJSONEncoderImpl, depth: Int, id: Int, base: Int, extra: Int) {
    self.encoder = encoder
    self.depth = depth
    self.id = id
    self.base = base
    self.extra = extra
  }

  var codingPath: [any CodingKey] { encoder.pathFor(base: base, extra: extra) }

  @inline(__always)
  fileprivate mutating func begin() throws {
    try encoder.beginElement(depth: depth, id: id, base: base, extra: extra)
    count += 1
  }

  fileprivate func nonFinite(_ value: Any, _ description: String) -> EncodingError {
    encoder.nonFinite(value, description, base: base, extra: extra, element: .index(count))
  }


  mutating func encode<T: Encodable>(_ value: T) throws {
    let index = count
    try begin()
    try encoder.encodeValue(value, depth: depth + 1, base: base, extra: extra, element: .index(index))
  }

  mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
    let nestedExtra = encoder.extend(extra, .index(count))
    do {
      try begin()
    } catch {
      return KeyedEncodingContainer(FastJSONKeyedEncodingContainer<NestedKey>(encoder: encoder, depth: depth + 1, id: 0, base: base, extra: nestedExtra))
    }
    let opened = encoder.openFrame(isObject: true)
    return KeyedEncodingContainer(FastJSONKeyedEncodingContainer<NestedKey>(encoder: encoder, depth: opened.depth, id: opened.id, base: base, extra: nestedExtra))
  }

  mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
    let nestedExtra = encoder.extend(extra, .index(count))
    do {
      try begin()
    } catch {
      return FastJSONUnkeyedEncodingContainer(encoder: encoder, depth: depth + 1, id: 0, base: base, extra: nestedExtra)
    }
    let opened = encoder.openFrame(isObject: false)
    return FastJSONUnkeyedEncodingContainer(encoder: encoder, depth: opened.depth, id: opened.id, base: base, extra: nestedExtra)
  }

  mutating func superEncoder() -> any Encoder {
    let index = count
    do {
      try begin()
    } catch {
      return FastJSONSubEncoder(encoder: encoder, slot: 0, depth: depth + 1, path: [], extra: 0)
    }
    return encoder.subEncoder(depth: depth + 1, base: base, extra: extra, element: .index(index))
  }
}

// MARK: - Single-value container

struct FastJSONSingleValueEncodingContainer: SingleValueEncodingContainer, FastJSONPrimitiveSlot {
  let encoder: FastJSONEncoderImpl
  let slot: Int
  let depth: Int
  let base: Int
  let extra: Int

  var codingPath: [any CodingKey] { encoder.pathFor(base: base, extra: extra) }

  /// Claims the slot; a second value for the same slot is an error (Foundation traps).
  @inline(__always)
  fileprivate func begin() throws {
    guard slot != 0, encoder.pendingSlot == slot else {
      throw encoder.misuse("Attempt to encode value through single value container when previously value already encoded.",
        base: base, extra: extra)
    }
    encoder.pendingSlot = 0
  }

  fileprivate func nonFinite(_ value: Any, _ description: String) -> EncodingError {
    encoder.nonFinite(value, description, base: base, extra: extra, element: nil)
  }


  mutating func encode<T: Encodable>(_ value: T) throws {
    if encoder.isDirect(T.self) {
      // Check for non-finite values before claiming the slot, so nothing is half-written.
      if T.self == Double.self, !unsafeBitCast(value, to: Double.self).isFinite {
        throw nonFinite(value, "Double.\(value)")
      }
      if T.self == Float.self, !unsafeBitCast(value, to: Float.self).isFinite {
        throw nonFinite(value, "Float.\(value)")
      }
      try begin()
      _ = try encoder.writeDirect(value, base: base, extra: extra, element: nil)
      return
    }
    guard slot != 0, encoder.pendingSlot == slot else {
      throw encoder.misuse("Attempt to encode value through single value container when previously value already encoded.",
        base: base, extra: extra)
    }
    try encoder.encodeInSlot(value, slot: slot, depth: depth, base: base, extra: extra)
  }
}

// MARK: - Primitives shared by the unkeyed and single-value containers

/// The two containers that write bare values differ only in how they claim their slot
/// (`begin`); the primitive writes are the same, so they live here once.
fileprivate protocol FastJSONPrimitiveSlot {
  var encoder: FastJSONEncoderImpl { get }
  mutating func begin() throws
  func nonFinite(_ value: Any, _ description: String) -> EncodingError
}

extension FastJSONPrimitiveSlot {
  mutating func encodeNil() throws {
    try begin()
    encoder.writer.appendNull()
  }

  mutating func encode(_ value: Bool) throws { try begin(); encoder.writer.writeBool(value) }
  mutating func encode(_ value: String) throws { try begin(); encoder.writer.writeString(value) }

  mutating func encode(_ value: Double) throws {
    guard value.isFinite else { throw nonFinite(value, "Double.\(value)") }
    try begin()
    encoder.writer.writeDouble(value)
  }

  mutating func encode(_ value: Float) throws {
    guard value.isFinite else { throw nonFinite(value, "Float.\(value)") }
    try begin()
    encoder.writer.writeFloat(value)
  }

  mutating func encode(_ value: Int) throws { try begin(); encoder.writer.writeSigned(Int64(value)) }
  mutating func encode(_ value: Int8) throws { try begin(); encoder.writer.writeSigned(Int64(value)) }
  mutating func encode(_ value: Int16) throws { try begin(); encoder.writer.writeSigned(Int64(value)) }
  mutating func encode(_ value: Int32) throws { try begin(); encoder.writer.writeSigned(Int64(value)) }
  mutating func encode(_ value: Int64) throws { try begin(); encoder.writer.writeSigned(value) }
  mutating func encode(_ value: UInt) throws { try begin(); encoder.writer.writeUnsigned(UInt64(value)) }
  mutating func encode(_ value: UInt8) throws { try begin(); encoder.writer.writeUnsigned(UInt64(value)) }
  mutating func encode(_ value: UInt16) throws { try begin(); encoder.writer.writeUnsigned(UInt64(value)) }
  mutating func encode(_ value: UInt32) throws { try begin(); encoder.writer.writeUnsigned(UInt64(value)) }
  mutating func encode(_ value: UInt64) throws { try begin(); encoder.writer.writeUnsigned(value) }
}
