import HayonHTTP1
extension OpenAPIDocument {
  static var postSchemas: [(String, JSONValue)] { [("OpenAPIDocument", ["type": "object", "description": "An OpenAPI 3.1 document."])] }
}

extension Gateway {
  /// Posts routes: wired once publish-service's contract is merged.
  static func registerPostRoutes(_ router: inout Router) {}
}
