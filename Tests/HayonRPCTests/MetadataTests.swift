import Testing

@testable import HayonRPC

@Suite("Metadata names")
struct MetadataNameTests {
  @Test(
    "Application metadata names are accepted",
    arguments: ["x-request-id", "hayon-user", "a", "trace.id_2", "grpc", "grpcx-thing", "tex", "hostname"])
  func acceptsCustomNames(_ name: String) {
    #expect(Metadata.isValidCustomName(name))
  }

  @Test(
    "Protocol headers, pseudo-headers, grpc- names and bad bytes are refused",
    arguments: [
      "", ":path", ":authority", "grpc-timeout", "grpc-", "content-type", "te", "user-agent", "authorization",
      "content-length", "connection", "transfer-encoding", "host", "keep-alive", "upgrade", "proxy-connection",
      "X-Upper", "sp ace", "semi;colon", "caf\u{E9}",
    ])
  func refusesReservedOrMalformedNames(_ name: String) {
    #expect(!Metadata.isValidCustomName(name))
  }
}
