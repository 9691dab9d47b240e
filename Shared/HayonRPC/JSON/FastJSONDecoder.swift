import Foundation

/// A `Decodable` JSON decoder for RPC messages: a drop-in for `JSONDecoder()` with default options,
/// several times faster on small messages.
///
/// Decoding happens in two passes. A validating scanner turns the whole document into a flat tape
/// of nodes (no per-value allocation, no recursion); then the `Decoder` walks the tape, reading
/// numbers and strings straight from the input bytes only when the type asks for them.
///
/// Behaviour follows Foundation's `JSONDecoder` on this platform (verified against it in the
/// tests): same accepted syntax (including one trailing comma in a container), same `DecodingError`
/// cases and coding paths, the first of duplicate keys wins, integers accept integral numbers
/// written with a fraction or exponent (`1.0`, `1e2`), and numbers that do not fit the requested type
/// are `.dataCorrupted` with an empty coding path, as Foundation reports them. `Date`, `Data`, `URL`
/// and `Decimal` follow Foundation's default strategies (seconds since 2001, base64 string, string,
/// number). Two deliberate differences, both stricter: invalid UTF-8 and unpaired surrogate escapes
/// are rejected anywhere in the document (Foundation only notices them in strings it decodes), and
/// only UTF-8 input is accepted (Foundation also sniffs UTF-16/32).
///
/// The `Decoder` and containers handed to `init(from:)` read the input in place: like the input
/// buffer itself, they must not be kept and used after `decode` returns.
struct FastJSONDecoder: Sendable {
  init() {}

  func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws -> T {
    try bytes.withUnsafeBytes { try decode(type, from: $0) }
  }

  /// Decodes from borrowed bytes; nothing derived from them outlives the call.
  func decode<T: Decodable>(_ type: T.Type, from buffer: UnsafeRawBufferPointer) throws -> T {
    let scratch = Self.spares.take() ?? Scratch()
    defer { if scratch.isWorthKeeping { Self.spares.keep(scratch) } }
    do {
      try FastJSONScanner.scan(buffer, into: &scratch.tape)
    } catch {
      throw DecodingError.dataCorrupted(DecodingError.Context(
        codingPath: [],
        debugDescription: "The given data was not valid JSON: \(error.reason) (byte offset \(error.offset))."
      ))
    }
    guard let base = buffer.baseAddress else {  // unreachable: the scanner rejects empty input
      throw DecodingError.dataCorrupted(DecodingError.Context(codingPath: [], debugDescription: "The given data was not valid JSON."))
    }
    return try scratch.tape.withUnsafeBufferPointer { nodes in
      var decoder = scratch.decoder ?? FastJSONDecoderImpl(bytes: base.assumingMemoryBound(to: UInt8.self), nodes: nodes, current: 0, path: [])
      scratch.decoder = nil
      decoder.start(bytes: base.assumingMemoryBound(to: UInt8.self), nodes: nodes)
      defer {
        // Reused unless something still holds it (a container kept past the decode: misuse).
        if isKnownUniquelyReferenced(&decoder) { scratch.decoder = decoder }
      }
      return try decoder.decodeValue(type, at: 0, base: 0, extra: 0, element: nil)
    }
  }

  /// Each thread's working state between messages: the tape's storage and the top-level decoder.
  final class Scratch {
    var tape: [FastJSONNode] = []
    var decoder: FastJSONDecoderImpl?

    /// Small enough to keep between messages.
    var isWorthKeeping: Bool { tape.capacity <= 4096 }
  }

  private static let spares = ThreadSpare<Scratch>()
}

/// A well-formed number that does not fit the requested type (the detail behind Foundation's
/// path-less `.dataCorrupted`).
struct FastJSONNumberOutOfRange: Error, Sendable {
  var location: String
  var text: String
  var type: String
}

// MARK: - Errors without a path

/// A value-level failure, thrown (typed, so without boxing) by the primitive readers and turned into
/// a `DecodingError` with the right coding path by whichever container asked.
struct FastJSONValueError: Error, @unchecked Sendable {
  enum Reason {
    case typeMismatch(found: UInt8)
    case valueNotFound
    case notRepresentable(String)
    case corrupted(String)
  }

  var type: Any.Type
  var reason: Reason

  func decodingError(_ path: [any CodingKey]) -> DecodingError {
    switch reason {
    case .typeMismatch(let kind):
      return .typeMismatch(type, DecodingError.Context(
        codingPath: path, debugDescription: "Expected to decode \(type) but found \(FastJSONNode.kindDescription(kind)) instead."))
    case .valueNotFound:
      return .valueNotFound(type, DecodingError.Context(
        codingPath: path, debugDescription: "Cannot get value of type \(type) -- found null value instead"))
    case .notRepresentable(let text):
      // Foundation reports these as a document-level failure, with an empty coding path; the
      // location is kept in the description.
      // The location travels as the underlying error, for callers that can say more than Foundation.
      let location = path.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
      return .dataCorrupted(DecodingError.Context(
        codingPath: [], debugDescription: "The given data was not valid JSON: number \(text.prefix(40)) at '\(location)' is not representable as \(type).",
        underlyingError: FastJSONNumberOutOfRange(location: location, text: String(text.prefix(40)), type: "\(type)")))
    case .corrupted(let message):
      return .dataCorrupted(DecodingError.Context(codingPath: path, debugDescription: message))
    }
  }
}

/// A one-node tape holding `null`, for `superDecoder(forKey:)` on a missing key (Foundation hands out
/// a decoder for null in that case).
nonisolated(unsafe) private let fastJSONNullTape: UnsafeMutableBufferPointer<FastJSONNode> = {
  let buffer = UnsafeMutableBufferPointer<FastJSONNode>.allocate(capacity: 1)
  _ = buffer.initialize(from: [FastJSONNode(kind: FastJSONNode.kNull, flags: 0, start: 0, end: 0)])
  return buffer
}()

// MARK: - Decoder

/// The `Decoder`: one instance per document, re-pointed at each nested value (the way Foundation's
/// works), so nesting costs no allocation beyond the containers themselves.
final class FastJSONDecoderImpl: Decoder {
  /// The document being decoded; set again by `start` when a thread's decoder is reused.
  @exclusivity(unchecked) private(set) var bytes: UnsafePointer<UInt8>
  @exclusivity(unchecked) private(set) var nodes: UnsafeBufferPointer<FastJSONNode>
  /// The tape index of the value `container(keyedBy:)` and friends open.
  @exclusivity(unchecked) var current: Int
  @exclusivity(unchecked) var path: [FastJSONPathElement]
  /// Key lookup tables for large objects, by the object's tape index.
  @exclusivity(unchecked) var tables: [Int: [String: Int]] = [:]
  /// The coding-path suffixes of nested containers (which have no frame on `path`), referred to
  /// by index so that containers hold no array and stay cheap to copy. Index 0 is the empty suffix.
  @exclusivity(unchecked) var extras = FastJSONPathSuffixes()

  func extend(_ extra: Int, _ element: FastJSONPathElement) -> Int {
    extras.append(extras[extra] + [element])
  }

  func pathFor(base: Int, extra: Int, appending last: FastJSONPathElement? = nil) -> [any CodingKey] {
    fastJSONPath(path, base: base, extra: extras[extra], appending: last)
  }

  init(bytes: UnsafePointer<UInt8>, nodes: UnsafeBufferPointer<FastJSONNode>, current: Int, path: [FastJSONPathElement]) {
    self.bytes = bytes
    self.nodes = nodes
    self.current = current
    self.path = path
  }

  /// Points a top-level decoder at a new document, as new otherwise (buffers keep their capacity).
  func start(bytes: UnsafePointer<UInt8>, nodes: UnsafeBufferPointer<FastJSONNode>) {
    self.bytes = bytes
    self.nodes = nodes
    current = 0
    path.removeAll(keepingCapacity: true)
    if !tables.isEmpty { tables = [:] }
    extras = FastJSONPathSuffixes()
  }

  var codingPath: [any CodingKey] { path.map(\.codingKey) }
  var userInfo: [CodingUserInfoKey: Any] { [:] }

  func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
    try keyedContainer(at: current, base: path.count, extra: 0, keyedBy: type)
  }

  func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
    try unkeyedContainer(at: current, base: path.count, extra: 0)
  }

  func singleValueContainer() throws -> any SingleValueDecodingContainer {
    FastJSONSingleValueDecodingContainer(decoder: self, index: current, base: path.count)
  }

  // MARK: Containers

  func keyedContainer<Key: CodingKey>(at index: Int, base: Int, extra: Int, keyedBy: Key.Type) throws -> KeyedDecodingContainer<Key> {
    let kind = nodes[index].kind
    guard kind == FastJSONNode.kObject else {
      let path = self.pathFor(base: base, extra: extra)
      if kind == FastJSONNode.kNull {
        throw DecodingError.valueNotFound([String: Any].self, DecodingError.Context(
          codingPath: path, debugDescription: "Cannot get keyed decoding container -- found null value instead"))
      }
      throw DecodingError.typeMismatch([String: Any].self, DecodingError.Context(
        codingPath: path, debugDescription: "Expected to decode \([String: Any].self) but found \(FastJSONNode.kindDescription(kind)) instead."))
    }
    return KeyedDecodingContainer(FastJSONKeyedDecodingContainer<Key>(decoder: self, object: index, base: base, extra: extra))
  }

  func unkeyedContainer(at index: Int, base: Int, extra: Int) throws -> FastJSONUnkeyedDecodingContainer {
    let node = nodes[index]
    guard node.kind == FastJSONNode.kArray else {
      let path = self.pathFor(base: base, extra: extra)
      if node.kind == FastJSONNode.kNull {
        throw DecodingError.valueNotFound([Any].self, DecodingError.Context(
          codingPath: path, debugDescription: "Cannot get unkeyed decoding container -- found null value instead"))
      }
      throw DecodingError.typeMismatch([Any].self, DecodingError.Context(
        codingPath: path, debugDescription: "Expected to decode \([Any].self) but found \(FastJSONNode.kindDescription(node.kind)) instead."))
    }
    return FastJSONUnkeyedDecodingContainer(decoder: self, base: base, extra: extra, elementCount: node.start, cursor: index + 1)
  }

  /// A separate decoder for `superDecoder()`, positioned at `index` (nil: a null value).
  func subDecoder(at index: Int?, base: Int, extra: Int, element: FastJSONPathElement) -> FastJSONDecoderImpl {
    var subPath = Array(path.prefix(base))
    subPath.append(contentsOf: extras[extra])
    subPath.append(element)
    if let index {
      return FastJSONDecoderImpl(bytes: bytes, nodes: nodes, current: index, path: subPath)
    }
    return FastJSONDecoderImpl(bytes: bytes, nodes: UnsafeBufferPointer(fastJSONNullTape), current: 0, path: subPath)
  }

  // MARK: Tape navigation

  /// The tape index of the value after the one at `index`.
  @inline(__always)
  func after(_ index: Int) -> Int {
    let node = nodes[index]
    return node.kind >= FastJSONNode.kArray ? node.end : index + 1
  }

  /// The tape index of the value for `key` in the object at `object` (the first, if repeated).
  @inline(__always)
  func find<Key: CodingKey>(_ key: Key, in object: Int) -> Int? {
    let count = nodes[object].start
    if count > 16 { return findInTable(key.stringValue, object: object, count: count) }
    var name = key.stringValue
    return name.withUTF8 { findLinear($0, object: object, count: count) }
  }

  private func findLinear(_ name: UnsafeBufferPointer<UInt8>, object: Int, count: Int) -> Int? {
    var nameIsASCII = true
    for byte in name where byte >= 0x80 {
      nameIsASCII = false
      break
    }
    let length = name.count
    var index = object + 1
    var remaining = count
    while remaining > 0 {
      let key = nodes[index]
      if key.flags == 0 && nameIsASCII {
        if key.end - key.start == length && fastJSONBytesEqual(bytes + key.start, name, length) { return index + 1 }
      } else if makeString(key) == String(decoding: name, as: UTF8.self) {
        // Non-ASCII or escaped: compare as Strings, which is what Foundation's dictionary does.
        return index + 1
      }
      index = after(index + 1)
      remaining -= 1
    }
    return nil
  }

  private func findInTable(_ name: String, object: Int, count: Int) -> Int? {
    if let table = tables[object] { return table[name] }
    var table: [String: Int] = [:]
    table.reserveCapacity(count)
    var index = object + 1
    for _ in 0..<count {
      let key = makeString(nodes[index])
      if table[key] == nil { table[key] = index + 1 }
      index = after(index + 1)
    }
    tables[object] = table
    return table[name]
  }

  /// The distinct keys of an object, first occurrences, in document order.
  func keys(of object: Int) -> [String] {
    let count = nodes[object].start
    var keys: [String] = []
    keys.reserveCapacity(count)
    var seen = Set<String>()
    var index = object + 1
    for _ in 0..<count {
      let key = makeString(nodes[index])
      if count <= 1 || seen.insert(key).inserted { keys.append(key) }
      index = after(index + 1)
    }
    return keys
  }

  // MARK: Primitive readers

  func makeString(_ node: FastJSONNode) -> String {
    let length = node.end - node.start
    if node.flags & FastJSONNode.stringEscaped == 0 {
      return String(decoding: UnsafeBufferPointer(start: bytes + node.start, count: length), as: UTF8.self)
    }
    return fastJSONUnescape(bytes, node.start, node.end)
  }

  @inline(__always)
  private func mismatch(_ type: Any.Type, _ kind: UInt8) -> FastJSONValueError {
    kind == FastJSONNode.kNull
      ? FastJSONValueError(type: type, reason: .valueNotFound)
      : FastJSONValueError(type: type, reason: .typeMismatch(found: kind))
  }

  @inline(__always)
  func readString(_ index: Int) throws(FastJSONValueError) -> String {
    let node = nodes[index]
    guard node.kind == FastJSONNode.kString else { throw mismatch(String.self, node.kind) }
    return makeString(node)
  }

  @inline(__always)
  func readBool(_ index: Int) throws(FastJSONValueError) -> Bool {
    switch nodes[index].kind {
    case FastJSONNode.kTrue: return true
    case FastJSONNode.kFalse: return false
    case let kind:  // Foundation reports null for Bool as a type mismatch too
      throw FastJSONValueError(type: Bool.self, reason: .typeMismatch(found: kind))
    }
  }

  @inline(__always)
  func readInteger<T: FixedWidthInteger>(_ index: Int, _ type: T.Type) throws(FastJSONValueError) -> T {
    let node = nodes[index]
    guard node.kind == FastJSONNode.kNumber else { throw mismatch(T.self, node.kind) }
    if node.flags & FastJSONNode.numberNotInteger == 0,
      let value = FastJSONNumbers.plainInteger(bytes, node.start, node.end, negative: node.flags & FastJSONNode.numberNegative != 0, as: T.self)
    {
      return value
    }
    if let value = FastJSONNumbers.slowInteger(bytes, node.start, node.end, as: T.self) { return value }
    throw notRepresentable(node, T.self)
  }

  @inline(__always)
  func readDouble(_ index: Int) throws(FastJSONValueError) -> Double {
    let node = nodes[index]
    guard node.kind == FastJSONNode.kNumber else { throw mismatch(Double.self, node.kind) }
    let value = FastJSONNumbers.double(bytes, node.start, node.end)
    guard value.isFinite, value != 0 || FastJSONNumbers.isTrueZero(bytes, node.start, node.end) else {
      throw notRepresentable(node, Double.self)
    }
    return value
  }

  @inline(__always)
  func readFloat(_ index: Int) throws(FastJSONValueError) -> Float {
    let node = nodes[index]
    guard node.kind == FastJSONNode.kNumber else { throw mismatch(Float.self, node.kind) }
    let value = FastJSONNumbers.float(bytes, node.start, node.end)
    guard value.isFinite, value != 0 || FastJSONNumbers.isTrueZero(bytes, node.start, node.end) else {
      throw notRepresentable(node, Float.self)
    }
    return value
  }

  private func notRepresentable(_ node: FastJSONNode, _ type: Any.Type) -> FastJSONValueError {
    let text = String(decoding: UnsafeBufferPointer(start: bytes + node.start, count: node.end - node.start), as: UTF8.self)
    return FastJSONValueError(type: type, reason: .notRepresentable(text))
  }

  // MARK: Values

  /// Decodes the value at `index`, whose coding path is the first `base` elements of `path`, then
  /// `extra`, then `element` (nil: the value is the one the current path already names).
  @inline(__always)
  func decodeValue<T: Decodable>(_ type: T.Type, at index: Int, base: Int, extra: Int, element: FastJSONPathElement?) throws -> T {
    do throws(FastJSONValueError) {
      if T.self == String.self { return unsafeBitCast(try readString(index), to: T.self) }
      if T.self == Int.self { return unsafeBitCast(try readInteger(index, Int.self), to: T.self) }
      if T.self == Double.self { return unsafeBitCast(try readDouble(index), to: T.self) }
      if T.self == Bool.self { return unsafeBitCast(try readBool(index), to: T.self) }
      if T.self == Int64.self { return unsafeBitCast(try readInteger(index, Int64.self), to: T.self) }
      if T.self == Int32.self { return unsafeBitCast(try readInteger(index, Int32.self), to: T.self) }
      if T.self == UInt64.self { return unsafeBitCast(try readInteger(index, UInt64.self), to: T.self) }
      if T.self == UInt32.self { return unsafeBitCast(try readInteger(index, UInt32.self), to: T.self) }
      if T.self == Float.self { return unsafeBitCast(try readFloat(index), to: T.self) }
      if T.self == UInt.self { return unsafeBitCast(try readInteger(index, UInt.self), to: T.self) }
      if T.self == Int8.self { return unsafeBitCast(try readInteger(index, Int8.self), to: T.self) }
      if T.self == Int16.self { return unsafeBitCast(try readInteger(index, Int16.self), to: T.self) }
      if T.self == UInt8.self { return unsafeBitCast(try readInteger(index, UInt8.self), to: T.self) }
      if T.self == UInt16.self { return unsafeBitCast(try readInteger(index, UInt16.self), to: T.self) }
    } catch {
      throw error.decodingError(pathFor(base: base, extra: extra, appending: element))
    }
    if T.self == Date.self || T.self == Data.self || T.self == URL.self || T.self == Decimal.self {
      return try decodeFoundationValue(type, at: index, base: base, extra: extra, element: element)
    }
    return try nested(at: index, base: base, extra: extra, element: element) { try T(from: self) }
  }

  /// Runs `body` with the decoder positioned at `index` and its path set to the value's.
  @inline(__always)
  func nested<R>(at index: Int, base: Int, extra: Int, element: FastJSONPathElement?, _ body: () throws -> R) rethrows -> R {
    let savedCurrent = current
    current = index
    defer { current = savedCurrent }
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

  /// `Date`, `Data`, `URL` and `Decimal` with Foundation's default strategies.
  private func decodeFoundationValue<T: Decodable>(_ type: T.Type, at index: Int, base: Int, extra: Int, element: FastJSONPathElement?) throws -> T {
    let node = nodes[index]
    let valuePath = { self.pathFor(base: base, extra: extra, appending: element) }
    if node.kind == FastJSONNode.kNull {
      throw DecodingError.valueNotFound(T.self, DecodingError.Context(
        codingPath: valuePath(), debugDescription: "Cannot get value of type \(T.self) -- found null value instead"))
    }
    if T.self == Date.self {
      // deferredToDate: Date's own Codable (a Double of seconds since 2001).
      return try nested(at: index, base: base, extra: extra, element: element) { try T(from: self) }
    }
    if T.self == Decimal.self {
      guard node.kind == FastJSONNode.kNumber else {
        throw DecodingError.typeMismatch(Decimal.self, DecodingError.Context(
          codingPath: valuePath(), debugDescription: "Expected to decode Decimal but found \(FastJSONNode.kindDescription(node.kind)) instead."))
      }
      let text = String(decoding: UnsafeBufferPointer(start: bytes + node.start, count: node.end - node.start), as: UTF8.self)
      guard let decimal = Decimal(string: text) else {
        throw FastJSONValueError(type: Decimal.self, reason: .notRepresentable(text)).decodingError(valuePath())
      }
      return unsafeBitCast(decimal, to: T.self)
    }
    let string: String
    do throws(FastJSONValueError) {
      string = try readString(index)
    } catch {
      throw error.decodingError(valuePath())
    }
    if T.self == Data.self {
      guard let data = Data(base64Encoded: string) else {
        throw DecodingError.dataCorrupted(DecodingError.Context(codingPath: valuePath(), debugDescription: "Encountered Data is not valid Base64."))
      }
      return unsafeBitCast(data, to: T.self)
    }
    guard let url = URL(string: string) else {
      throw DecodingError.dataCorrupted(DecodingError.Context(codingPath: valuePath(), debugDescription: "Invalid URL string."))
    }
    return unsafeBitCast(url, to: T.self)
  }
}

// MARK: - Keyed container

struct FastJSONKeyedDecodingContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
  let decoder: FastJSONDecoderImpl
  let object: Int
  let base: Int
  let extra: Int

  var codingPath: [any CodingKey] { decoder.pathFor(base: base, extra: extra) }

  var allKeys: [Key] { decoder.keys(of: object).compactMap { Key(stringValue: $0) } }

  func contains(_ key: Key) -> Bool { decoder.find(key, in: object) != nil }

  @inline(__always)
  private func value(for key: Key) throws -> Int {
    if let index = decoder.find(key, in: object) { return index }
    throw DecodingError.keyNotFound(key, DecodingError.Context(
      codingPath: codingPath, debugDescription: "No value associated with key \(key) (\"\(key.stringValue)\")."))
  }

  /// The value for `key` unless it is missing or null.
  @inline(__always)
  private func presentValue(for key: Key) -> Int? {
    guard let index = decoder.find(key, in: object), decoder.nodes[index].kind != FastJSONNode.kNull else { return nil }
    return index
  }

  private func failure(_ error: FastJSONValueError, _ key: Key) -> DecodingError {
    error.decodingError(decoder.pathFor(base: base, extra: extra, appending: .key(key)))
  }

  @inline(__always)
  private func integer<T: FixedWidthInteger>(_ index: Int, _ key: Key) throws -> T {
    do throws(FastJSONValueError) { return try decoder.readInteger(index, T.self) } catch { throw failure(error, key) }
  }

  func decodeNil(forKey key: Key) throws -> Bool {
    decoder.nodes[try value(for: key)].kind == FastJSONNode.kNull
  }

  func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool {
    let index = try value(for: key)
    do throws(FastJSONValueError) { return try decoder.readBool(index) } catch { throw failure(error, key) }
  }

  func decode(_ type: String.Type, forKey key: Key) throws -> String {
    let index = try value(for: key)
    do throws(FastJSONValueError) { return try decoder.readString(index) } catch { throw failure(error, key) }
  }

  func decode(_ type: Double.Type, forKey key: Key) throws -> Double {
    let index = try value(for: key)
    do throws(FastJSONValueError) { return try decoder.readDouble(index) } catch { throw failure(error, key) }
  }

  func decode(_ type: Float.Type, forKey key: Key) throws -> Float {
    let index = try value(for: key)
    do throws(FastJSONValueError) { return try decoder.readFloat(index) } catch { throw failure(error, key) }
  }

  func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try integer(value(for: key), key) }
  func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try integer(value(for: key), key) }
  func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try integer(value(for: key), key) }
  func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try integer(value(for: key), key) }
  func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try integer(value(for: key), key) }
  func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try integer(value(for: key), key) }
  func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try integer(value(for: key), key) }
  func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try integer(value(for: key), key) }
  func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try integer(value(for: key), key) }
  func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try integer(value(for: key), key) }

  func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
    try decoder.decodeValue(type, at: value(for: key), base: base, extra: extra, element: .key(key))
  }

  // One lookup instead of the default contains + decodeNil + decode.

  func decodeIfPresent(_ type: Bool.Type, forKey key: Key) throws -> Bool? {
    guard let index = presentValue(for: key) else { return nil }
    do throws(FastJSONValueError) { return try decoder.readBool(index) } catch { throw failure(error, key) }
  }

  func decodeIfPresent(_ type: String.Type, forKey key: Key) throws -> String? {
    guard let index = presentValue(for: key) else { return nil }
    do throws(FastJSONValueError) { return try decoder.readString(index) } catch { throw failure(error, key) }
  }

  func decodeIfPresent(_ type: Double.Type, forKey key: Key) throws -> Double? {
    guard let index = presentValue(for: key) else { return nil }
    do throws(FastJSONValueError) { return try decoder.readDouble(index) } catch { throw failure(error, key) }
  }

  func decodeIfPresent(_ type: Float.Type, forKey key: Key) throws -> Float? {
    guard let index = presentValue(for: key) else { return nil }
    do throws(FastJSONValueError) { return try decoder.readFloat(index) } catch { throw failure(error, key) }
  }

  func decodeIfPresent(_ type: Int.Type, forKey key: Key) throws -> Int? { try presentValue(for: key).map { try integer($0, key) } }
  func decodeIfPresent(_ type: Int8.Type, forKey key: Key) throws -> Int8? { try presentValue(for: key).map { try integer($0, key) } }
  func decodeIfPresent(_ type: Int16.Type, forKey key: Key) throws -> Int16? { try presentValue(for: key).map { try integer($0, key) } }
  func decodeIfPresent(_ type: Int32.Type, forKey key: Key) throws -> Int32? { try presentValue(for: key).map { try integer($0, key) } }
  func decodeIfPresent(_ type: Int64.Type, forKey key: Key) throws -> Int64? { try presentValue(for: key).map { try integer($0, key) } }
  func decodeIfPresent(_ type: UInt.Type, forKey key: Key) throws -> UInt? { try presentValue(for: key).map { try integer($0, key) } }
  func decodeIfPresent(_ type: UInt8.Type, forKey key: Key) throws -> UInt8? { try presentValue(for: key).map { try integer($0, key) } }
  func decodeIfPresent(_ type: UInt16.Type, forKey key: Key) throws -> UInt16? { try presentValue(for: key).map { try integer($0, key) } }
  func decodeIfPresent(_ type: UInt32.Type, forKey key: Key) throws -> UInt32? { try presentValue(for: key).map { try integer($0, key) } }
  func decodeIfPresent(_ type: UInt64.Type, forKey key: Key) throws -> UInt64? { try presentValue(for: key).map { try integer($0, key) } }

  func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
    guard let index = presentValue(for: key) else { return nil }
    return try decoder.decodeValue(type, at: index, base: base, extra: extra, element: .key(key))
  }

  func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
    try decoder.keyedContainer(at: value(for: key), base: base, extra: decoder.extend(extra, .key(key)), keyedBy: type)
  }

  func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
    try decoder.unkeyedContainer(at: value(for: key), base: base, extra: decoder.extend(extra, .key(key)))
  }

  func superDecoder() throws -> any Decoder {
    decoder.subDecoder(at: decoder.find(FastJSONKey.superKey, in: object), base: base, extra: extra, element: .key(FastJSONKey.superKey))
  }

  func superDecoder(forKey key: Key) throws -> any Decoder {
    decoder.subDecoder(at: decoder.find(key, in: object), base: base, extra: extra, element: .key(key))
  }
}

// MARK: - Unkeyed container

struct FastJSONUnkeyedDecodingContainer: UnkeyedDecodingContainer {
  let decoder: FastJSONDecoderImpl
  let base: Int
  let extra: Int
  let elementCount: Int
  /// The tape index of the next element.
  var cursor: Int
  private(set) var currentIndex = 0

  init(decoder: FastJSONDecoderImpl, base: Int, extra: Int, elementCount: Int, cursor: Int) {
    self.decoder = decoder
    self.base = base
    self.extra = extra
    self.elementCount = elementCount
    self.cursor = cursor
  }

  var codingPath: [any CodingKey] { decoder.pathFor(base: base, extra: extra) }
  var count: Int? { elementCount }
  var isAtEnd: Bool { currentIndex >= elementCount }

  private var elementPath: [any CodingKey] {
    decoder.pathFor(base: base, extra: extra, appending: .index(currentIndex))
  }

  @inline(__always)
  private func next(_ type: Any.Type, _ message: String = "Unkeyed container is at end.") throws -> Int {
    guard currentIndex < elementCount else {
      throw DecodingError.valueNotFound(type, DecodingError.Context(codingPath: elementPath, debugDescription: message))
    }
    return cursor
  }

  @inline(__always)
  private mutating func advance() {
    cursor = decoder.after(cursor)
    currentIndex += 1
  }

  @inline(__always)
  private mutating func primitive<T>(_ type: T.Type, _ read: (FastJSONDecoderImpl, Int) throws(FastJSONValueError) -> T) throws -> T {
    let index = try next(T.self)
    do throws(FastJSONValueError) {
      let value = try read(decoder, index)
      advance()
      return value
    } catch {
      throw error.decodingError(elementPath)
    }
  }

  mutating func decodeNil() throws -> Bool {
    let index = try next(Never.self)
    guard decoder.nodes[index].kind == FastJSONNode.kNull else { return false }
    advance()
    return true
  }

  mutating func decode(_ type: Bool.Type) throws -> Bool { try primitive(type) { d, index throws(FastJSONValueError) in try d.readBool(index) } }
  mutating func decode(_ type: String.Type) throws -> String { try primitive(type) { d, index throws(FastJSONValueError) in try d.readString(index) } }
  mutating func decode(_ type: Double.Type) throws -> Double { try primitive(type) { d, index throws(FastJSONValueError) in try d.readDouble(index) } }
  mutating func decode(_ type: Float.Type) throws -> Float { try primitive(type) { d, index throws(FastJSONValueError) in try d.readFloat(index) } }
  mutating func decode(_ type: Int.Type) throws -> Int { try primitive(type) { d, index throws(FastJSONValueError) in try d.readInteger(index, type) } }
  mutating func decode(_ type: Int8.Type) throws -> Int8 { try primitive(type) { d, index throws(FastJSONValueError) in try d.readInteger(index, type) } }
  mutating func decode(_ type: Int16.Type) throws -> Int16 { try primitive(type) { d, index throws(FastJSONValueError) in try d.readInteger(index, type) } }
  mutating func decode(_ type: Int32.Type) throws -> Int32 { try primitive(type) { d, index throws(FastJSONValueError) in try d.readInteger(index, type) } }
  mutating func decode(_ type: Int64.Type) throws -> Int64 { try primitive(type) { d, index throws(FastJSONValueError) in try d.readInteger(index, type) } }
  mutating func decode(_ type: UInt.Type) throws -> UInt { try primitive(type) { d, index throws(FastJSONValueError) in try d.readInteger(index, type) } }
  mutating func decode(_ type: UInt8.Type) throws -> UInt8 { try primitive(type) { d, index throws(FastJSONValueError) in try d.readInteger(index, type) } }
  mutating func decode(_ type: UInt16.Type) throws -> UInt16 { try primitive(type) { d, index throws(FastJSONValueError) in try d.readInteger(index, type) } }
  mutating func decode(_ type: UInt32.Type) throws -> UInt32 { try primitive(type) { d, index throws(FastJSONValueError) in try d.readInteger(index, type) } }
  mutating func decode(_ type: UInt64.Type) throws -> UInt64 { try primitive(type) { d, index throws(FastJSONValueError) in try d.readInteger(index, type) } }

  mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
    let index = try next(T.self)
    let value = try decoder.decodeValue(type, at: index, base: base, extra: extra, element: .index(currentIndex))
    advance()
    return value
  }

  mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
    let index = try next(KeyedDecodingContainer<NestedKey>.self)
    let container = try decoder.keyedContainer(at: index, base: base, extra: decoder.extend(extra, .index(currentIndex)), keyedBy: type)
    advance()
    return container
  }

  mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
    let index = try next((any UnkeyedDecodingContainer).self)
    let container = try decoder.unkeyedContainer(at: index, base: base, extra: decoder.extend(extra, .index(currentIndex)))
    advance()
    return container
  }

  mutating func superDecoder() throws -> any Decoder {
    let index = try next((any Decoder).self, "Cannot get superDecoder() -- unkeyed container is at end.")
    let sub = decoder.subDecoder(at: index, base: base, extra: extra, element: .index(currentIndex))
    advance()
    return sub
  }
}

// MARK: - Single-value container

struct FastJSONSingleValueDecodingContainer: SingleValueDecodingContainer {
  let decoder: FastJSONDecoderImpl
  let index: Int
  let base: Int

  var codingPath: [any CodingKey] { decoder.pathFor(base: base, extra: 0) }

  @inline(__always)
  private func read<T>(_ body: () throws(FastJSONValueError) -> T) throws -> T {
    do throws(FastJSONValueError) { return try body() } catch { throw error.decodingError(codingPath) }
  }

  func decodeNil() -> Bool { decoder.nodes[index].kind == FastJSONNode.kNull }
  func decode(_ type: Bool.Type) throws -> Bool { try read { () throws(FastJSONValueError) in try decoder.readBool(index) } }
  func decode(_ type: String.Type) throws -> String { try read { () throws(FastJSONValueError) in try decoder.readString(index) } }
  func decode(_ type: Double.Type) throws -> Double { try read { () throws(FastJSONValueError) in try decoder.readDouble(index) } }
  func decode(_ type: Float.Type) throws -> Float { try read { () throws(FastJSONValueError) in try decoder.readFloat(index) } }
  func decode(_ type: Int.Type) throws -> Int { try read { () throws(FastJSONValueError) in try decoder.readInteger(index, type) } }
  func decode(_ type: Int8.Type) throws -> Int8 { try read { () throws(FastJSONValueError) in try decoder.readInteger(index, type) } }
  func decode(_ type: Int16.Type) throws -> Int16 { try read { () throws(FastJSONValueError) in try decoder.readInteger(index, type) } }
  func decode(_ type: Int32.Type) throws -> Int32 { try read { () throws(FastJSONValueError) in try decoder.readInteger(index, type) } }
  func decode(_ type: Int64.Type) throws -> Int64 { try read { () throws(FastJSONValueError) in try decoder.readInteger(index, type) } }
  func decode(_ type: UInt.Type) throws -> UInt { try read { () throws(FastJSONValueError) in try decoder.readInteger(index, type) } }
  func decode(_ type: UInt8.Type) throws -> UInt8 { try read { () throws(FastJSONValueError) in try decoder.readInteger(index, type) } }
  func decode(_ type: UInt16.Type) throws -> UInt16 { try read { () throws(FastJSONValueError) in try decoder.readInteger(index, type) } }
  func decode(_ type: UInt32.Type) throws -> UInt32 { try read { () throws(FastJSONValueError) in try decoder.readInteger(index, type) } }
  func decode(_ type: UInt64.Type) throws -> UInt64 { try read { () throws(FastJSONValueError) in try decoder.readInteger(index, type) } }

  func decode<T: Decodable>(_ type: T.Type) throws -> T {
    try decoder.decodeValue(type, at: index, base: base, extra: 0, element: nil)
  }
}

// MARK: - Helpers

@inline(__always)
func fastJSONBytesEqual(_ a: UnsafePointer<UInt8>, _ b: UnsafeBufferPointer<UInt8>, _ count: Int) -> Bool {
  guard count > 0, let bp = b.baseAddress else { return true }
  let ra = UnsafeRawPointer(a)
  let rb = UnsafeRawPointer(bp)
  var i = 0
  while i + 8 <= count {
    if ra.loadUnaligned(fromByteOffset: i, as: UInt64.self) != rb.loadUnaligned(fromByteOffset: i, as: UInt64.self) { return false }
    i += 8
  }
  while i < count {
    if a[i] != bp[i] { return false }
    i += 1
  }
  return true
}

/// Decodes the escapes of a string the scanner has validated. Escapes only ever shrink, so the
/// result fits in the escaped length.
func fastJSONUnescape(_ p: UnsafePointer<UInt8>, _ start: Int, _ end: Int) -> String {
  String(unsafeUninitializedCapacity: end - start) { out in
    var o = 0
    var j = start
    @inline(__always) func hex4(_ k: Int) -> UInt32 {
      var value: UInt32 = 0
      var m = k
      while m < k + 4 && m < end {
        value = value << 4 | UInt32(fastJSONHexValue(p[m]) ?? 0)
        m += 1
      }
      return value
    }
    while j < end && o < out.count {
      let c = p[j]
      if c != asciiBackslash {
        out[o] = c
        o += 1
        j += 1
        continue
      }
      guard j + 1 < end else { break }
      let e = p[j + 1]
      j += 2
      var byte: UInt8
      switch e {
      case 0x62: byte = 0x08  // b
      case 0x66: byte = 0x0C  // f
      case 0x6E: byte = 0x0A  // n
      case 0x72: byte = 0x0D  // r
      case 0x74: byte = 0x09  // t
      case 0x75:  // u
        var scalar = hex4(j)
        j += 4
        if scalar >= 0xD800 && scalar <= 0xDBFF && j + 6 <= end {
          let low = hex4(j + 2)
          j += 6
          scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low &- 0xDC00)
        }
        // Encode as UTF-8 (the scanner has checked that this is a valid scalar).
        if scalar < 0x80 {
          byte = UInt8(truncatingIfNeeded: scalar)
        } else {
          let length = scalar < 0x800 ? 2 : scalar < 0x10000 ? 3 : 4
          guard o + length <= out.count else { return o }
          switch length {
          case 2:
            out[o] = 0xC0 | UInt8(truncatingIfNeeded: scalar >> 6)
          case 3:
            out[o] = 0xE0 | UInt8(truncatingIfNeeded: scalar >> 12)
            out[o + 1] = 0x80 | UInt8(truncatingIfNeeded: (scalar >> 6) & 0x3F)
          default:
            out[o] = 0xF0 | UInt8(truncatingIfNeeded: (scalar >> 18) & 0x07)
            out[o + 1] = 0x80 | UInt8(truncatingIfNeeded: (scalar >> 12) & 0x3F)
            out[o + 2] = 0x80 | UInt8(truncatingIfNeeded: (scalar >> 6) & 0x3F)
          }
          out[o + length - 1] = 0x80 | UInt8(truncatingIfNeeded: scalar & 0x3F)
          o += length
          continue
        }
      default: byte = e  // " \ /
      }
      out[o] = byte
      o += 1
    }
    return o
  }
}
