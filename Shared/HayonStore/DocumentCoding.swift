#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The one place documents are turned into JSON and back, so every service stores the same
/// shapes. Dates are Foundation's default (`deferredToDate`: seconds since 2001 as a JSON number):
/// exact round-trips, numeric order for index queries, and the same encoding the RPC layer uses.
public enum DocumentCoding {
  private static let encoder: JSONEncoder = {
    let encoder = JSONEncoder()
    encoder.dateEncodingStrategy = .deferredToDate
    return encoder
  }()

  private static let decoder: JSONDecoder = {
    let decoder = JSONDecoder()
    decoder.dateDecodingStrategy = .deferredToDate
    return decoder
  }()

  /// The number a `Date` becomes inside a document; `StoreValue.date(_:)` uses it too.
  public static func storedNumber(for date: Date) -> Double { date.timeIntervalSinceReferenceDate }

  public static func encode<Value: Encodable>(_ value: Value, collection: String) throws(StoreError) -> String {
    do {
      return String(decoding: try encoder.encode(value), as: UTF8.self)
    } catch {
      // The encoder's own message may quote the offending value; keep only where it was.
      throw StoreError.invalidDocument(
        collection: collection, reason: "\(Value.self) does not encode to JSON\(Self.location(of: error))")
    }
  }

  public static func decode<Value: Decodable>(
    _ type: Value.Type, from json: String, collection: String
  ) throws(StoreError) -> Value {
    do {
      return try decoder.decode(type, from: Data(json.utf8))
    } catch {
      throw StoreError.corrupt(
        "a document in '\(collection)' does not decode as \(Value.self)\(Self.location(of: error))")
    }
  }

  /// The coding path of a coding error (field names only, never values).
  private static func location(of error: any Error) -> String {
    let path: [any CodingKey]
    switch error {
    case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context),
      DecodingError.keyNotFound(_, let context), DecodingError.dataCorrupted(let context):
      path = context.codingPath + keyPath(of: error)
    case EncodingError.invalidValue(_, let context):
      path = context.codingPath
    default:
      return ""
    }
    guard !path.isEmpty else { return "" }
    return " at '" + path.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".") + "'"
  }

  private static func keyPath(of error: any Error) -> [any CodingKey] {
    if case DecodingError.keyNotFound(let key, _) = error { return [key] }
    return []
  }
}
