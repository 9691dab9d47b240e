import Foundation
import HayonAccount
import HayonAuth
import HayonCrypto
import HayonHTTP1
import HayonModel
import HayonRPC
import HayonUsers

/// The settings page: a small server-rendered HTML page. Everything interpolated is escaped.
public enum SettingsPage {
  public static let sessionCookie = "hayon_session"
  public static let refreshCookie = "hayon_refresh"
  public static let csrfCookie = "hayon_csrf"
  public static let csrfField = "csrf"

  /// Readable text for the `?error=` reasons the gateway itself produces.
  static let errorMessages: [String: String] = [
    "access_denied": "The platform says access was denied, so nothing was connected.",
    "platform_error": "The platform reported an error while connecting.",
    "invalid_callback": "The platform sent back an incomplete or malformed answer.",
    "expired_or_unknown_state": "That connection attempt expired or was already used. Please try again.",
    "platform_refused": "The platform refused the connection. Please try again.",
    "rate_limited": "Too many attempts right now. Please wait a moment and try again.",
    "unavailable": "A Hayon service is unavailable right now. Please try again.",
    "connect_failed": "Connecting failed. Please try again.",
    "not_available": "Connecting this platform is not available yet.",
    "login_failed": "Email or password is incorrect.",
    "signed_out": "You are signed out.",
    "session_expired": "Your session has expired. Please sign in again.",
    "bluesky_failed": "Bluesky did not accept that handle and app password.",
    "disconnect_failed": "Disconnecting failed. Please try again.",
    "invalid_input": "Some of what you entered was not valid.",
  ]

  public static func escape(_ text: String) -> String {
    var out = ""
    out.reserveCapacity(text.utf8.count)
    for character in text.unicodeScalars {
      switch character {
      case "&": out += "&amp;"
      case "<": out += "&lt;"
      case ">": out += "&gt;"
      case "\"": out += "&quot;"
      case "'": out += "&#39;"
      default:
        if character.value < 0x20 && character != "\n" && character != "\t" || character.value == 0x7F {
          out += "\u{FFFD}"
        } else {
          out.unicodeScalars.append(character)
        }
      }
    }
    return out
  }

  /// The message shown for `?error=`: known reasons in words, anything else quoted (escaped).
  public static func errorText(_ reason: String) -> String {
    if let text = errorMessages[reason] { return text }
    let bounded = reason.count > 100 ? String(reason.prefix(100)) + "…" : reason
    return "Something went wrong (\(bounded))."
  }

  static let style = """
    body{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;color:#222}
    .error{background:#fde8e8;border:1px solid #e0a0a0;padding:.6rem;border-radius:6px}
    .platform{border:1px solid #ddd;border-radius:8px;padding:.8rem;margin:.6rem 0;display:flex;gap:.8rem;align-items:center}
    .platform img{width:48px;height:48px;border-radius:50%}
    .reconnect{color:#a33;font-weight:600}
    .health-active{color:#276}
    .health-expired,.health-revoked,.health-error{color:#a33}
    form{display:inline}
    """

  static func page(_ body: String) -> String {
    """
    <!doctype html>
    <html lang="en"><head><meta charset="utf-8"><title>Hayon settings</title>
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <style>\(style)</style></head>
    <body><h1>Hayon settings</h1>
    \(body)
    </body></html>
    """
  }

  static func errorBanner(_ error: String?) -> String {
    guard let error, !error.isEmpty else { return "" }
    return "<p class=\"error\" role=\"alert\">\(escape(errorText(error)))</p>\n"
  }

  /// The page for someone not signed in: the sign-in form.
  public static func renderSignIn(csrf: String, error: String?) -> String {
    page(
      errorBanner(error) + """
        <h2>Sign in</h2>
        <form method="post" action="/settings/login">
        <input type="hidden" name="\(csrfField)" value="\(escape(csrf))">
        <p><label>Email <input type="email" name="email" required maxlength="254" autocomplete="username"></label></p>
        <p><label>Password <input type="password" name="password" required maxlength="128" autocomplete="current-password"></label></p>
        <p><button type="submit">Sign in</button></p>
        </form>
        """)
  }

  static func hidden(_ csrf: String) -> String {
    "<input type=\"hidden\" name=\"\(csrfField)\" value=\"\(escape(csrf))\">"
  }

  /// The page for a signed-in user: one block per platform.
  public static func render(email: String, account: Accounts.SocialAccount, csrf: String, error: String?) -> String {
    var body = errorBanner(error)
    body += "<p>Signed in as <strong>\(escape(email))</strong>. "
    body += "<form method=\"post\" action=\"/settings/logout\">\(hidden(csrf))<button type=\"submit\">Sign out</button></form></p>\n"
    body += "<h2>Connected accounts</h2>\n"
    for entry in account.normalized.platforms {
      body += platformBlock(entry, csrf: csrf)
    }
    return page(body)
  }

  static func platformBlock(_ entry: Accounts.PlatformAccount, csrf: String) -> String {
    let platform = entry.platform
    var html = "<section class=\"platform\" id=\"platform-\(platform.rawValue)\" data-platform=\"\(platform.rawValue)\">\n"
    if entry.connected, let avatar = entry.profile?.avatarUrl, avatar.hasPrefix("https://") || avatar.hasPrefix("http://") {
      html += "<img src=\"\(escape(avatar))\" alt=\"\" referrerpolicy=\"no-referrer\">\n"
    }
    html += "<div><h3>\(escape(platform.displayName))</h3>\n"
    if entry.connected {
      if let name = entry.profile?.displayName, !name.isEmpty {
        html += "<p class=\"display-name\">\(escape(name))</p>\n"
      }
      if let handle = entry.profile?.handle {
        html += "<p class=\"handle\">\(escape(handle))</p>\n"
      }
      if let health = entry.health {
        html += "<p class=\"health health-\(health.status.rawValue)\">Status: \(escape(statusText(health.status)))"
        if let lastError = health.lastError, health.status != .active {
          html += " — \(escape(lastError))"
        }
        html += "</p>\n"
      }
      if entry.needsReconnection {
        html += "<p class=\"reconnect\" role=\"alert\">\(escape(platform.displayName)) needs to be reconnected: posts to it are on hold until you do.</p>\n"
      }
      html += connectForm(platform, csrf: csrf, label: "Reconnect")
      html += "<form method=\"post\" action=\"/settings/disconnect/\(platform.rawValue)\">\(hidden(csrf))<button type=\"submit\">Disconnect</button></form>\n"
    } else {
      html += "<p class=\"handle\">Not connected</p>\n"
      html += connectForm(platform, csrf: csrf, label: "Connect")
    }
    html += "</div></section>\n"
    return html
  }

  static func connectForm(_ platform: Platform, csrf: String, label: String) -> String {
    var html = "<form method=\"post\" action=\"/settings/connect/\(platform.rawValue)\">\(hidden(csrf))"
    switch platform {
    case .bluesky:
      html += "<label>Handle <input name=\"identifier\" required maxlength=\"256\" autocomplete=\"off\"></label> "
      html += "<label>App password <input type=\"password\" name=\"appPassword\" required maxlength=\"256\" autocomplete=\"off\"></label> "
    case .mastodon:
      html += "<label>Instance <input name=\"instance\" maxlength=\"2048\" placeholder=\"mastodon.social\"></label> "
    default:
      break
    }
    html += "<button type=\"submit\">\(label)</button></form>\n"
    return html
  }

  static func statusText(_ status: Accounts.ConnectionStatus) -> String {
    switch status {
    case .active: "Active"
    case .expired: "Expired"
    case .revoked: "Revoked"
    case .error: "Error"
    }
  }
}

// MARK: Cookies

struct Cookies {
  var values: [String: String] = [:]

  init(_ headers: HTTPFields) {
    for header in headers.values("cookie") {
      for pair in header.split(separator: ";") {
        let trimmed = String(pair).trimmingSpaces
        guard let equals = trimmed.firstIndex(of: "=") else { continue }
        let name = String(trimmed[..<equals])
        if values[name] == nil { values[name] = String(trimmed[trimmed.index(after: equals)...]) }
      }
    }
  }

  subscript(_ name: String) -> String? { values[name] }
}

extension Gateway {
  func setCookie(_ name: String, _ value: String, maxAge: Int?) -> String {
    var text = "\(name)=\(value); Path=/; HttpOnly; SameSite=Lax"
    if let maxAge { text += "; Max-Age=\(maxAge)" }
    if configuration.secureCookies { text += "; Secure" }
    return text
  }

  func sessionCookies(_ tokens: Users.TokenPair) -> [String] {
    let now = Timestamp(.now).millisecondsSince1970
    let refreshAge = max(0, Int((tokens.refreshTokenExpiresAt.millisecondsSince1970 - now) / 1000))
    return [
      setCookie(SettingsPage.sessionCookie, tokens.accessToken, maxAge: refreshAge),
      setCookie(SettingsPage.refreshCookie, tokens.refreshToken, maxAge: refreshAge),
    ]
  }

  func clearedSessionCookies() -> [String] {
    [setCookie(SettingsPage.sessionCookie, "", maxAge: 0), setCookie(SettingsPage.refreshCookie, "", maxAge: 0)]
  }

  static func isCookieSafe(_ value: String) -> Bool {
    !value.isEmpty && value.utf8.count <= 4096
      && value.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F && $0 != 0x22 && $0 != 0x2C && $0 != 0x3B && $0 != 0x5C }
  }
}

extension RequestContext {
  /// The session behind the settings page's cookies: the verified user, refreshing an expired
  /// access token with the refresh cookie (new cookies then go in `setCookies`).
  func sessionUser(setCookies: inout [String]) async -> Users.VerifiedAccessToken? {
    let cookies = Cookies(request.headers)
    if let access = cookies[SettingsPage.sessionCookie], Gateway.isCookieSafe(access),
      let user = try? await verify(accessToken: access)
    {
      return user
    }
    guard let refresh = cookies[SettingsPage.refreshCookie], Gateway.isCookieSafe(refresh),
      refresh.utf8.count <= Users.Limits.refreshTokenBytes
    else { return nil }
    guard let pair = try? await gateway.backends.users.refresh(.init(refreshToken: refresh), options: callOptions),
      let user = try? await verify(accessToken: pair.accessToken)
    else {
      setCookies += gateway.clearedSessionCookies()
      return nil
    }
    setCookies += gateway.sessionCookies(pair)
    return user
  }

  /// A form POST from the settings page: the CSRF token must match its cookie and, when the
  /// browser says where the form came from, that must be this site.
  func settingsForm() throws(APIError) -> FormParameters {
    let form = try decodeForm()
    let cookie = Cookies(request.headers)[SettingsPage.csrfCookie]
    let values = form.values(SettingsPage.csrfField)
    guard let cookie, values.count == 1, let field = values.first, cookie.utf8.count == 32,
      ConstantTime.equals(cookie, field)
    else {
      throw APIError(status: 403, code: "permission_denied", message: "the form's CSRF token is missing or wrong; reload the page")
    }
    if let origin = request.headers["origin"], origin != "null" {
      let host = request.headers["host"] ?? ""
      let allowed = ["http://\(host)", "https://\(host)"] + (gateway.configuration.publicURL.map { [$0] } ?? [])
      guard allowed.contains(origin) else {
        throw APIError(status: 403, code: "permission_denied", message: "cross-site form submission refused")
      }
    }
    return form
  }

  func seeOther(_ location: String, cookies: [String] = []) -> GatewayResponse {
    var response = GatewayResponse.redirect(to: location, status: 303)
    for cookie in cookies { response.headers.add("set-cookie", cookie) }
    return response
  }

  func backToSettings(error: String? = nil, cookies: [String] = []) -> GatewayResponse {
    seeOther(gateway.settingsLocation(error: error), cookies: cookies)
  }
}

extension Gateway {
  static func registerSettingsRoutes(_ router: inout Router) {
    let formErrors = [400, 403, 413, 415]
    router.add(
      "GET", "/settings",
      RouteSpec(
        operationId: "settingsPage", summary: "The settings page (HTML): sign-in, and each platform's connection.",
        tag: "settings", auth: .session,
        query: [QueryParameter("error", "A reason to show as a readable message.", maxLength: 100)],
        responses: [ResponseSpec(200, "The page.", .html, headers: ["Set-Cookie"])], errors: [400])
    ) { context throws(APIError) in
      var cookies: [String] = []
      var csrf = Cookies(context.request.headers)[SettingsPage.csrfCookie] ?? ""
      if csrf.utf8.count != 32 || !csrf.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }) {
        csrf = Gateway.hex(SecureRandom.bytes(16))
        cookies.append(context.gateway.setCookie(SettingsPage.csrfCookie, csrf, maxAge: nil))
      }
      let errorValues = context.request.query.values("error")
      let error = errorValues.first.map { $0.count > 100 ? String($0.prefix(100)) : $0 }
      let html: String
      if let user = await context.sessionUser(setCookies: &cookies) {
        do {
          let account = try await context.socialAccount(userId: user.userId)
          html = SettingsPage.render(email: user.email, account: account, csrf: csrf, error: error)
        } catch {
          html = SettingsPage.render(
            email: user.email, account: .empty(userId: user.userId), csrf: csrf, error: "unavailable")
        }
      } else {
        html = SettingsPage.renderSignIn(csrf: csrf, error: error)
      }
      var response = GatewayResponse.html(html)
      for cookie in cookies { response.headers.add("set-cookie", cookie) }
      return response
    }

    router.add(
      "POST", "/settings/login",
      RouteSpec(
        operationId: "settingsLogin", summary: "The page's sign-in form: sets the HttpOnly, SameSite session cookies.",
        tag: "settings", auth: .none, requestBody: .form(schema: "SettingsLoginForm"),
        responses: [ResponseSpec(303, "Back to /settings.", .none, headers: ["Location", "Set-Cookie"])],
        errors: formErrors)
    ) { context throws(APIError) in
      let form = try context.settingsForm()
      guard let email = form["email"], let password = form["password"], !email.isEmpty, !password.isEmpty,
        email.utf8.count <= 320, password.utf8.count <= Users.Limits.passwordMaximumBytes
      else { return context.backToSettings(error: "invalid_input") }
      do throws(RPCError) {
        let session = try await context.gateway.backends.users.login(
          .init(email: email, password: password), options: context.callOptions)
        return context.backToSettings(cookies: context.gateway.sessionCookies(session.tokens))
      } catch {
        let reason = error.code == .resourceExhausted ? "rate_limited" : error.code == .unauthenticated || error.code == .invalidArgument ? "login_failed" : "unavailable"
        return context.backToSettings(error: reason)
      }
    }

    router.add(
      "POST", "/settings/logout",
      RouteSpec(
        operationId: "settingsLogout", summary: "The page's sign-out button: ends the session, clears its cookies.",
        tag: "settings", auth: .session, requestBody: .form(schema: "SettingsForm"),
        responses: [ResponseSpec(303, "Back to /settings.", .none, headers: ["Location", "Set-Cookie"])],
        errors: formErrors)
    ) { context throws(APIError) in
      _ = try context.settingsForm()
      if let refresh = Cookies(context.request.headers)[SettingsPage.refreshCookie], Gateway.isCookieSafe(refresh),
        refresh.utf8.count <= Users.Limits.refreshTokenBytes
      {
        _ = try? await context.gateway.backends.users.logout(.init(refreshToken: refresh), options: context.callOptions)
      }
      return context.backToSettings(error: "signed_out", cookies: context.gateway.clearedSessionCookies())
    }

    router.add(
      "POST", "/settings/connect/{platform}",
      RouteSpec(
        operationId: "settingsConnect",
        summary: "The page's Connect / Reconnect button: starts the platform's real sign-in flow.", tag: "settings",
        auth: .session,
        pathParameters: ["platform": "One of \(Platform.knownNames)."],
        requestBody: .form(schema: "SettingsConnectForm"),
        responses: [
          ResponseSpec(303, "To the platform's authorize page, or back to /settings (Bluesky, errors).", .none, headers: ["Location"])
        ], errors: formErrors + [404])
    ) { context throws(APIError) in
      let platform = try context.platform()
      let form = try context.settingsForm()
      var cookies: [String] = []
      guard let user = await context.sessionUser(setCookies: &cookies) else {
        return context.backToSettings(error: "session_expired", cookies: cookies)
      }
      if platform == .bluesky {
        guard let identifier = form["identifier"], let password = form["appPassword"], !identifier.isEmpty,
          !password.isEmpty, identifier.utf8.count <= Connections.Limits.identifierLength,
          password.utf8.count <= Connections.Limits.passwordLength
        else { return context.backToSettings(error: "invalid_input", cookies: cookies) }
        do throws(RPCError) {
          _ = try await context.gateway.backends.connections.connectBluesky(
            .init(userId: user.userId, identifier: identifier, appPassword: password), options: context.callOptions)
          return context.backToSettings(cookies: cookies)
        } catch {
          let reason = error.code == .resourceExhausted ? "rate_limited" : error.code == .unavailable ? "unavailable" : "bluesky_failed"
          return context.backToSettings(error: reason, cookies: cookies)
        }
      }
      var instance: String?
      if platform == .mastodon, let given = form["instance"]?.trimmingSpaces, !given.isEmpty {
        guard given.utf8.count <= GatewayLimits.instanceUrlLength else {
          return context.backToSettings(error: "invalid_input", cookies: cookies)
        }
        instance = given
      }
      do throws(RPCError) {
        let begun = try await context.gateway.backends.connections.beginConnect(
          .init(userId: user.userId, platform: platform, instanceUrl: instance), options: context.callOptions)
        return context.seeOther(begun.authorizeUrl, cookies: cookies)
      } catch {
        let reason: String
        switch error.code {
        case .unimplemented: reason = "not_available"
        case .invalidArgument: reason = "invalid_input"
        case .resourceExhausted: reason = "rate_limited"
        default: reason = "connect_failed"
        }
        return context.backToSettings(error: reason, cookies: cookies)
      }
    }

    router.add(
      "POST", "/settings/disconnect/{platform}",
      RouteSpec(
        operationId: "settingsDisconnect", summary: "The page's Disconnect button.", tag: "settings", auth: .session,
        pathParameters: ["platform": "One of \(Platform.knownNames)."],
        requestBody: .form(schema: "SettingsForm"),
        responses: [ResponseSpec(303, "Back to /settings.", .none, headers: ["Location"])], errors: formErrors + [404])
    ) { context throws(APIError) in
      let platform = try context.platform()
      _ = try context.settingsForm()
      var cookies: [String] = []
      guard let user = await context.sessionUser(setCookies: &cookies) else {
        return context.backToSettings(error: "session_expired", cookies: cookies)
      }
      do {
        _ = try await context.gateway.backends.connections.disconnect(
          .init(userId: user.userId, platform: platform), options: context.callOptions)
        return context.backToSettings(cookies: cookies)
      } catch {
        return context.backToSettings(error: "disconnect_failed", cookies: cookies)
      }
    }
  }
}
