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

  /// Fills in the prefix of `framed`: its first `prefixLength` bytes were left for it, and the
  /// message (uncompressed) is the rest.
  public static func writePrefix(into framed: inout [UInt8]) {
    precondition(framed.count >= prefixLength, "no room for the prefix")
    let length = UInt32(framed.count - prefixLength)
    framed.withUnsafeMutableBufferPointer { bytes in
      bytes[0] = 0
      bytes[1] = UInt8(truncatingIfNeeded: length >> 24)
      bytes[2] = UInt8(truncatingIfNeeded: length >> 16)
      bytes[3] = UInt8(truncatingIfNeeded: length >> 8)
      bytes[4] = UInt8(truncatingIfNeeded: length)
    }
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
  /// The prefix bytes seen so far, accumulated big-endian (no allocation per call).
  private var prefixValue: UInt64 = 0
  private var prefixCount = 0
  private var current: [UInt8] = []
  private var expected: Int?
  private var failed: Failure?

  public init(maxMessageSize: Int) {
    self.maxMessageSize = maxMessageSize
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
      // Fast path: a whole message in what is left of this chunk.
      if prefixCount == 0 && bytes.count - index >= MessageFraming.prefixLength {
        let flag = bytes[index]
        let length =
          Int(bytes[index + 1]) << 24 | Int(bytes[index + 2]) << 16 | Int(bytes[index + 3]) << 8
          | Int(bytes[index + 4])
        if flag == 0 && length <= maxMessageSize && bytes.count - index - MessageFraming.prefixLength >= length {
          let start = index + MessageFraming.prefixLength
          deliver(Array(UnsafeRawBufferPointer(rebasing: bytes[start..<(start + length)])))
          index = start + length
          continue
        }
      }
      prefixValue = prefixValue << 8 | UInt64(bytes[index])
      prefixCount += 1
      index += 1
      if prefixCount == MessageFraming.prefixLength {
        let flag = UInt8(truncatingIfNeeded: prefixValue >> 32)
        let length = Int(prefixValue & 0xFFFF_FFFF)
        prefixValue = 0
        prefixCount = 0
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
    if prefixCount > 0 { throw .truncated(missing: MessageFraming.prefixLength - prefixCount) }
  }
}
