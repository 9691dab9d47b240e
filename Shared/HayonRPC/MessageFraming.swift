/// gRPC length-prefixed message framing: a compressed flag byte, a 4-byte big-endian length,
/// then the message. DATA frame boundaries have nothing to do with message boundaries.
public enum MessageFraming {
  public static let prefixLength = 5

  /// Frames `message` (uncompressed).
  public static func frame(_ message: [UInt8]) -> [UInt8] {
    var framed: [UInt8] = []
    framed.reserveCapacity(message.count + prefixLength)
    append(message, to: &framed)
    return framed
  }

  public static func append(_ message: [UInt8], to output: inout [UInt8]) {
    let length = UInt32(message.count)
    output.append(0)
    output.append(UInt8(truncatingIfNeeded: length >> 24))
    output.append(UInt8(truncatingIfNeeded: length >> 16))
    output.append(UInt8(truncatingIfNeeded: length >> 8))
    output.append(UInt8(truncatingIfNeeded: length))
    output.append(contentsOf: message)
  }
}

/// Reassembles messages from arbitrary chunks. A value-type state machine: feed bytes, take the
/// complete messages; an oversized length is rejected from the prefix alone, before its bytes
/// are buffered.
public struct MessageDeframer: Sendable {
  public enum Failure: Error, Sendable, Equatable {
    /// A message's declared length exceeds the limit.
    case messageTooLarge(length: Int, limit: Int)
    /// The compressed flag is set, but no `grpc-encoding` was negotiated.
    case compressedWithoutEncoding
    /// The flag byte is neither 0 nor 1.
    case invalidFlag(UInt8)
    /// The stream ended inside a message.
    case truncated(missing: Int)
  }

  public let maxMessageSize: Int
  private var prefix: [UInt8] = []
  private var current: [UInt8] = []
  private var expected: Int?
  private var failed: Failure?

  public init(maxMessageSize: Int) {
    self.maxMessageSize = maxMessageSize
    prefix.reserveCapacity(MessageFraming.prefixLength)
  }

  /// Consumes `bytes`, calling `deliver` with each complete message.
  public mutating func feed(_ bytes: UnsafeRawBufferPointer, deliver: ([UInt8]) -> Void) throws(Failure) {
    if let failed { throw failed }
    var index = 0
    while index < bytes.count {
      if let needed = expected {
        let take = min(needed - current.count, bytes.count - index)
        current.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[index..<(index + take)]))
        index += take
        if current.count == needed {
          let message = current
          current = []
          expected = nil
          deliver(message)
        }
        continue
      }
      prefix.append(bytes[index])
      index += 1
      if prefix.count == MessageFraming.prefixLength {
        let flag = prefix[0]
        let length =
          Int(prefix[1]) << 24 | Int(prefix[2]) << 16 | Int(prefix[3]) << 8 | Int(prefix[4])
        prefix.removeAll(keepingCapacity: true)
        let failure: Failure? =
          flag == 1 ? .compressedWithoutEncoding
          : flag > 1 ? .invalidFlag(flag)
          : length > maxMessageSize ? .messageTooLarge(length: length, limit: maxMessageSize) : nil
        if let failure {
          failed = failure
          throw failure
        }
        if length == 0 {
          deliver([])
        } else {
          expected = length
          current.reserveCapacity(length)
        }
      }
    }
  }

  /// Called at end of stream: fails if a message was cut short.
  public func finish() throws(Failure) {
    if let failed { throw failed }
    if let needed = expected { throw .truncated(missing: needed - current.count) }
    if !prefix.isEmpty { throw .truncated(missing: MessageFraming.prefixLength - prefix.count) }
  }
}
