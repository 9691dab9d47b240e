/// Name/value pairs from a query string or an `application/x-www-form-urlencoded` body, decoded
/// (`+` is a space, `%XX` a byte, the result must be UTF-8), in order, bounded.
public struct FormParameters: Sendable, Hashable, Sequence {
  public struct Parameter: Sendable, Hashable {
    public var name: String
    public var value: String
    public init(_ name: String, _ value: String) {
      self.name = name
      self.value = value
    }
  }

  public struct Limits: Sendable, Hashable {
    /// Encoded input bytes.
    public var maxInputLength = 64 * 1024
    /// Name/value pairs.
    public var maxParameters = 256
    public init() {}
    public static var defaults: Limits { Limits() }
  }

  public private(set) var parameters: [Parameter] = []

  public init(_ parameters: [Parameter] = []) { self.parameters = parameters }

  /// Parses `a=1&b=two+words&c=%E2%9C%93`. Empty pieces (`a=1&&b=2`) are skipped; a piece
  /// without `=` is a name with an empty value.
  public init(parsing encoded: some Collection<UInt8>, limits: Limits = .defaults) throws(FormDecodingError) {
    guard encoded.count <= limits.maxInputLength else { throw .tooLong(limit: limits.maxInputLength) }
    for piece in encoded.split(separator: 0x26, omittingEmptySubsequences: true) {
      guard parameters.count < limits.maxParameters else { throw .tooManyParameters(limit: limits.maxParameters) }
      let equals = piece.firstIndex(of: 0x3D)
      let name = try Self.decode(equals.map { piece[..<$0] } ?? piece[...])
      let value = try equals.map { equalsIndex throws(FormDecodingError) in
        try Self.decode(piece[piece.index(after: equalsIndex)...])
      } ?? ""
      parameters.append(Parameter(name, value))
    }
  }

  public init(parsing encoded: some StringProtocol, limits: Limits = .defaults) throws(FormDecodingError) {
    try self.init(parsing: Array(encoded.utf8), limits: limits)
  }

  /// The first value for `name` (exact, case-sensitive), or nil.
  public subscript(_ name: String) -> String? { parameters.first { $0.name == name }?.value }

  /// Every value for `name`, in order.
  public func values(_ name: String) -> [String] { parameters.filter { $0.name == name }.map(\.value) }

  public var count: Int { parameters.count }
  public func makeIterator() -> IndexingIterator<[Parameter]> { parameters.makeIterator() }

  /// Percent-decodes one name or value.
  static func decode(_ encoded: some Collection<UInt8>) throws(FormDecodingError) -> String {
    var bytes: [UInt8] = []
    bytes.reserveCapacity(encoded.count)
    var iterator = encoded.makeIterator()
    while let byte = iterator.next() {
      switch byte {
      case 0x2B:
        bytes.append(0x20)
      case 0x25:
        guard let high = iterator.next().flatMap(HTTPSyntax.hexValue),
          let low = iterator.next().flatMap(HTTPSyntax.hexValue)
        else { throw .malformedPercentEncoding }
        bytes.append(high << 4 | low)
      default:
        bytes.append(byte)
      }
    }
    guard let text = String(validating: bytes, as: UTF8.self) else { throw .invalidUTF8 }
    return text
  }
}

public enum FormDecodingError: Error, Sendable, Hashable, CustomStringConvertible {
  case tooLong(limit: Int)
  case tooManyParameters(limit: Int)
  case malformedPercentEncoding
  case invalidUTF8
  /// `formParameters()` on a request whose Content-Type is not a form.
  case notAForm

  public var description: String {
    switch self {
    case .tooLong(let limit): return "form data longer than \(limit) bytes"
    case .tooManyParameters(let limit): return "more than \(limit) form parameters"
    case .malformedPercentEncoding: return "malformed percent-encoding in form data"
    case .invalidUTF8: return "form data is not valid UTF-8"
    case .notAForm: return "Content-Type is not application/x-www-form-urlencoded"
    }
  }
}

extension HTTPRequest {
  /// The decoded query string (empty when there is none).
  public func queryParameters(limits: FormParameters.Limits = .defaults) throws(FormDecodingError) -> FormParameters {
    guard let query else { return FormParameters() }
    return try FormParameters(parsing: query, limits: limits)
  }

  /// The decoded body of an `application/x-www-form-urlencoded` request (OAuth token endpoints).
  public func formParameters(limits: FormParameters.Limits = .defaults) throws(FormDecodingError) -> FormParameters {
    let mediaType = headers["content-type"]?.split(separator: ";").first.map { $0.trimmingSpacesAndTabs() } ?? ""
    guard mediaType.caseInsensitiveEquals("application/x-www-form-urlencoded") else { throw .notAForm }
    return try FormParameters(parsing: body, limits: limits)
  }

  /// The path percent-decoded, or nil when its encoding is malformed or not UTF-8. (`+` stays a
  /// plus: only query strings and forms use it for space.)
  public var decodedPath: String? {
    let path = self.path
    // Most paths have nothing to decode, and their bytes are already valid UTF-8.
    if !path.utf8.contains(0x25) { return String(path) }
    var bytes: [UInt8] = []
    var iterator = path.utf8.makeIterator()
    while let byte = iterator.next() {
      if byte == 0x25 {
        guard let high = iterator.next().flatMap(HTTPSyntax.hexValue),
          let low = iterator.next().flatMap(HTTPSyntax.hexValue)
        else { return nil }
        bytes.append(high << 4 | low)
      } else {
        bytes.append(byte)
      }
    }
    return String(validating: bytes, as: UTF8.self)
  }
}
