import Foundation

/// Serialises `Codable` messages. Chosen per call by the content-type subtype, so another codec
/// (a compact binary one, say) is one more registration, with no change to the transport.
public protocol MessageCodec: Sendable {
  func encode<T: Encodable>(_ value: T) throws(RPCError) -> [UInt8]
  func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws(RPCError) -> T
  /// `value` encoded and framed for the wire (`MessageFraming`): what a response sends. The
  /// default frames `encode(value)`; a codec that can leave room for the prefix spares the copy.
  func encodeFramed<T: Encodable>(_ value: T) throws(RPCError) -> [UInt8]
}

extension MessageCodec {
  public func encodeFramed<T: Encodable>(_ value: T) throws(RPCError) -> [UInt8] {
    MessageFraming.frame(try encode(value))
  }
}

/// JSON, the default: plain `application/grpc` and `application/grpc+json`. Uses the project's
/// own `Codable` JSON encoder and decoder (several times faster than Foundation's, and compatible
/// with it: see `FastJSONDecoder`).
public struct JSONMessageCodec: MessageCodec {
  public init() {}

  public func encode<T: Encodable>(_ value: T) throws(RPCError) -> [UInt8] {
    do {
      return try FastJSONEncoder().encode(value)
    } catch {
      throw RPCError(.internal, "failed to encode the response as JSON")
    }
  }

  /// Encodes after five bytes of room and writes the prefix into them.
  public func encodeFramed<T: Encodable>(_ value: T) throws(RPCError) -> [UInt8] {
    var framed: [UInt8]
    do {
      framed = try FastJSONEncoder().encode(value, reservingPrefix: MessageFraming.prefixLength)
    } catch {
      throw RPCError(.internal, "failed to encode the response as JSON")
    }
    MessageFraming.writePrefix(into: &framed)
    return framed
  }

  /// Unparseable bytes are `INTERNAL` (a message parse failure, as the protocol classes it);
  /// well-formed JSON of the wrong shape is `INVALID_ARGUMENT`, naming the offending field.
  public func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws(RPCError) -> T {
    do {
      return try FastJSONDecoder().decode(T.self, from: bytes)
    } catch let error as DecodingError {
      switch error {
      case .dataCorrupted(let context) where context.codingPath.isEmpty:
        if let range = context.underlyingError as? FastJSONNumberOutOfRange {
          let location = range.location.isEmpty ? "(the message)" : range.location
          throw RPCError(.invalidArgument, "invalid value at '\(location)': \(range.text) does not fit the expected number type")
        }
        throw RPCError(.internal, "the message is not valid JSON")
      case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
        throw RPCError(.invalidArgument, "invalid value at '\(Self.path(context.codingPath))': \(Self.reason(error))")
      case .keyNotFound(let key, let context):
        throw RPCError(.invalidArgument, "missing field '\(Self.path(context.codingPath + [key]))'")
      @unknown default:
        throw RPCError(.invalidArgument, "the message does not have the expected shape")
      }
    } catch {
      throw RPCError(.internal, "the message is not valid JSON")
    }
  }

  private static func path(_ keys: [any CodingKey]) -> String {
    if keys.isEmpty { return "(the message)" }
    return keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
  }

  private static func reason(_ error: DecodingError) -> String {
    switch error {
    case .typeMismatch(let type, _): return "expected \(Self.jsonKind(type))"
    case .valueNotFound(let type, _): return "expected \(Self.jsonKind(type)), found null"
    case .dataCorrupted(let context): return context.debugDescription
    default: return "unexpected value"
    }
  }

  private static func jsonKind(_ type: Any.Type) -> String {
    switch type {
    case is String.Type: return "a string"
    case is Bool.Type: return "a boolean"
    case is Int.Type, is Int64.Type, is Int32.Type, is UInt.Type, is Double.Type: return "a number"
    default:
      let name = String(describing: type)
      if name.hasPrefix("Dictionary") { return "an object" }
      if name.hasPrefix("Array") { return "an array" }
      return "a different kind of value"
    }
  }
}

/// The content-type of a gRPC request: `application/grpc`, optionally `+subtype` and `;params`.
public enum GRPCContentType {
  /// The subtype ("" for plain `application/grpc`), or nil when this is not a gRPC content-type.
  public static func subtype(of value: String) -> String? {
    // The common cases (what our clients and stock ones send), without allocating.
    if value == "application/grpc" { return "" }
    if value == "application/grpc+json" { return "json" }
    var text = Substring(value)
    if let semicolon = text.firstIndex(of: ";") { text = text[..<semicolon] }
    while text.last == " " || text.last == "\t" { text = text.dropLast() }
    while text.first == " " || text.first == "\t" { text = text.dropFirst() }
    let lowered = text.lowercased()
    let base = "application/grpc"
    guard lowered.hasPrefix(base) else { return nil }
    let rest = lowered.dropFirst(base.count)
    if rest.isEmpty { return "" }
    guard rest.first == "+", rest.count > 1 else { return nil }
    return String(rest.dropFirst())
  }
}

/// Codecs by content-type subtype.
public struct CodecRegistry: Sendable {
  private var codecs: [String: any MessageCodec]

  /// JSON for plain `application/grpc` and `+json`.
  public static var standard: CodecRegistry {
    CodecRegistry(codecs: ["": JSONMessageCodec(), "json": JSONMessageCodec()])
  }

  public init(codecs: [String: any MessageCodec]) { self.codecs = codecs }

  public mutating func register(_ codec: any MessageCodec, forSubtype subtype: String) {
    codecs[subtype] = codec
  }

  public func codec(forSubtype subtype: String) -> (any MessageCodec)? { codecs[subtype] }
}
