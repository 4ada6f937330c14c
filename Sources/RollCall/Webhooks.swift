import Foundation

/// Where and how the hubs deliver webhooks (`--webhook-url` and its options).
public struct WebhookSettings: Sendable, Equatable {
    /// Shortest secret: a receiver checks signatures with it, so it must not be guessable.
    public static let minimumSecretBytes = 32

    public let url: URL
    public let secret: String
    /// How long one POST may take before it counts as failed.
    public var timeout: Duration
    /// How long an event is retried before it is kept as failed.
    public var maxAge: Duration

    /// The settings, or a message that says what is wrong with them (refused at start).
    public static func validated(url text: String, secret: String?, timeout: Duration, maxAge: Duration) -> Result<
        WebhookSettings, WebhookSettingsError
    > {
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), ["http", "https"].contains(scheme), url.host?.isEmpty == false
        else { return .failure(WebhookSettingsError("--webhook-url must be an http:// or https:// URL with a host, not \(text.debugDescription)")) }
        guard let secret, !secret.isEmpty else {
            return .failure(
                WebhookSettingsError("--webhook-url needs --webhook-secret (ROLLCALL_WEBHOOK_SECRET): receivers check signatures with it"))
        }
        guard secret.utf8.count >= minimumSecretBytes else {
            return .failure(WebhookSettingsError("--webhook-secret must be at least \(minimumSecretBytes) bytes, not \(secret.utf8.count)"))
        }
        guard timeout > .zero, maxAge > .zero else {
            return .failure(WebhookSettingsError("--webhook-timeout and --webhook-max-age must be more than zero"))
        }
        return .success(WebhookSettings(url: url, secret: secret, timeout: timeout, maxAge: maxAge))
    }
}

public struct WebhookSettingsError: Error, Equatable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// When a failed delivery is tried again: 1 s doubling to 5 min, each pause jittered to between
/// half and all of it, so receivers coming back are not hit by every hub at once.
public enum WebhookBackoff {
    public static func pause(afterAttempts attempts: Int, random: Double = Double.random(in: 0...1)) -> Duration {
        let full = min(300.0, pow(2.0, Double(max(0, min(attempts - 1, 20)))))
        return .milliseconds(Int64((full * (0.5 + random / 2)) * 1000))
    }
}
