import Synchronization

/// What a handler knows about its call. A class, so handing it to a handler, a task or a writer
/// is one reference rather than a copy of every field.
public final class ServerContext: Sendable {
  public let method: MethodDescriptor
  /// The caller's custom metadata (never the internal credential).
  public let metadata: Metadata
  /// When the caller stops waiting, if it said.
  public let deadline: ContinuousClock.Instant?
  /// True when the call arrived over TLS.
  public let isSecure: Bool
  /// Metadata for the response's header block and trailers, added by the handler.
  let response = Mutex<(initial: Metadata, trailing: Metadata)>((Metadata(), Metadata()))

  init(method: MethodDescriptor, metadata: Metadata, deadline: ContinuousClock.Instant?, isSecure: Bool) {
    self.method = method
    self.metadata = metadata
    self.deadline = deadline
    self.isSecure = isSecure
  }

  /// Adds metadata to the response header block (before the first message is sent).
  public func addInitialMetadata(_ name: String, _ value: String) {
    response.withLock { $0.initial.add(name, value) }
  }

  /// Adds metadata to the trailers.
  public func addTrailingMetadata(_ name: String, _ value: String) {
    response.withLock { $0.trailing.add(name, value) }
  }
}

/// Sends a server-streaming handler's messages. Each `write` waits while the client reads slowly.
public struct ResponseStreamWriter<Message: Encodable & Sendable>: Sendable {
  let raw: RawMessageWriter
  let codec: any MessageCodec

  public func write(_ message: Message) async throws(RPCError) {
    try await raw.write(try codec.encodeFramed(message))
  }
}
