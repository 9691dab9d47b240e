/// Text someone else supplied (a request, the environment), made safe to put in an error message
/// or a log line: at most `limit` Unicode scalars (a character can hold any number of them, so
/// characters would not bound it), then "…", with control characters shown as "?".
public func quotedForMessage(_ text: String, limit: Int) -> String {
  let scalars = text.unicodeScalars
  let shown = scalars.prefix(limit).map { $0.value < 0x20 || $0.value == 0x7F ? "?" : $0 }
  return String(String.UnicodeScalarView(shown)) + (scalars.count > limit ? "…" : "")
}
