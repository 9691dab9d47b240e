import Synchronization

/// Serving status as `grpc.health.v1` defines it.
public enum HealthStatus: Int, Sendable, Codable {
  case unknown = 0
  case serving = 1
  case notServing = 2
  case serviceUnknown = 3
}

/// The standard `grpc.health.v1.Health/Check`. Stock probes send protobuf, so its two tiny
/// messages are hand-encoded; `+json` callers get JSON.
public final class HealthService: Sendable {
  public static let checkMethod = MethodDescriptor(
    service: "grpc.health.v1.Health", method: "Check", isIdempotent: true)

  struct CheckRequest: Codable, Sendable { var service: String? }
  struct CheckResponse: Codable, Sendable { var status: String }

  /// `Check` as a typed method for callers of this server in its JSON form (`+json` content
  /// type): probes, readiness checks. The status is the protobuf enum's name, `SERVING`.
  public enum Check: UnaryMethod {
    public struct Request: Codable, Sendable {
      public var service: String
      public init(service: String = "") { self.service = service }
    }
    public struct Response: Codable, Sendable {
      public var status: String
    }
    public typealias Input = Request
    public typealias Output = Response
    public static let descriptor = HealthService.checkMethod
  }

  private let statuses = Mutex<[String: HealthStatus]>([:])

  public init() {}

  /// Sets the status of one service ("" is the whole server).
  public func setStatus(_ status: HealthStatus, forService service: String) {
    statuses.withLock { $0[service] = status }
  }

  /// Marks every known service (and the server) as `status`, e.g. NOT_SERVING while draining.
  public func setAll(_ status: HealthStatus) {
    statuses.withLock { map in for key in map.keys { map[key] = status } }
  }

  public func status(forService service: String) -> HealthStatus? {
    statuses.withLock { $0[service] }
  }

  func register(with router: inout RPCRouter) {
    router.registerRaw(
      Self.checkMethod, subtypes: ["", "proto", "json"], requiresAuthentication: false
    ) { [self] bytes, subtype, _ in
      try self.check(bytes, subtype: subtype)
    }
  }

  func check(_ bytes: [UInt8], subtype: String) throws(RPCError) -> [UInt8] {
    let service: String
    if subtype == "json" {
      service = try JSONMessageCodec().decode(CheckRequest.self, from: bytes).service ?? ""
    } else {
      service = try Self.decodeServiceName(bytes)
    }
    guard let status = status(forService: service) else {
      throw RPCError(.notFound, "unknown service '\(service)'")
    }
    if subtype == "json" {
      let name = ["UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"][status.rawValue]
      return try JSONMessageCodec().encode(CheckResponse(status: name))
    }
    // Field 1, varint: tag 0x08, then the status (always < 128).
    return [0x08, UInt8(status.rawValue)]
  }

  /// Parses `HealthCheckRequest { string service = 1; }`, skipping unknown fields.
  static func decodeServiceName(_ bytes: [UInt8]) throws(RPCError) -> String {
    var index = 0
    var service = ""
    func varint() throws(RPCError) -> UInt64 {
      var value: UInt64 = 0
      var shift: UInt64 = 0
      while index < bytes.count, shift < 64 {
        let byte = bytes[index]
        index += 1
        value |= UInt64(byte & 0x7F) << shift
        if byte & 0x80 == 0 { return value }
        shift += 7
      }
      throw RPCError(.internal, "malformed HealthCheckRequest")
    }
    while index < bytes.count {
      let key = try varint()
      let field = key >> 3
      switch key & 7 {
      case 0: _ = try varint()
      case 1: index += 8
      case 5: index += 4
      case 2:
        let length = Int(clamping: try varint())
        guard length <= bytes.count - index else { throw RPCError(.internal, "malformed HealthCheckRequest") }
        if field == 1 {
          service = String(decoding: bytes[index..<(index + length)], as: UTF8.self)
        }
        index += length
      default:
        throw RPCError(.internal, "malformed HealthCheckRequest")
      }
      if index > bytes.count { throw RPCError(.internal, "malformed HealthCheckRequest") }
    }
    return service
  }
}
