import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import RollCall
import RollCallPostgres
import ServiceLifecycle

/// Delivers the outbox's webhooks (shared/DESIGN.md §11): leases due events, POSTs each with its
/// signature, and records what came of it. Runs on every hub with `--webhook-url`; the outbox's
/// leases keep two hubs from sending one event at once. A receiver that is slow, down or failing
/// costs this hub nothing but the pending rows: sockets and the writer never wait for it.
struct WebhookDelivery: Service {
    let settings: WebhookSettings
    let outbox: WebhookOutbox
    let metrics: HubMetrics
    let logger: Logger

    /// Events leased at once; their POSTs run side by side (each user has at most one among them).
    static let batch = 32
    /// How often an idle deliverer looks for due events.
    static let idlePause: Duration = .milliseconds(250)

    func run() async throws {
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                let sent = await pass(http)
                if sent == 0 { try? await Task.sleep(for: Self.idlePause) }
            }
        }
        try? await http.shutdown()
    }

    /// One lease of due events, delivered; returns how many were leased.
    func pass(_ http: HTTPClient) async -> Int {
        let due: [WebhookOutbox.Due]
        do {
            metrics.webhooksPending.set(Double(try await outbox.pendingCount()))
            // The lease outlasts the POST's timeout, so a slow answer is not sent twice meanwhile.
            due = try await outbox.lease(most: Self.batch, for: settings.timeout + .seconds(5))
        } catch {
            // A hub shutting down cancels the read; that is no news.
            if !Task.isCancelled { logger.warning("webhook outbox unreadable", metadata: ["error": "\(error)"]) }
            return 0
        }
        await withTaskGroup(of: Void.self) { group in
            for event in due { group.addTask { await deliver(event, with: http) } }
        }
        return due.count
    }

    private func deliver(_ event: WebhookOutbox.Due, with http: HTTPClient) async {
        var request = HTTPClientRequest(url: settings.url.absoluteString)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "User-Agent", value: "RollCall-Webhooks")
        request.headers.add(name: WebhookSignature.header, value: WebhookSignature.value(body: event.body, secret: settings.secret))
        request.body = .bytes(ByteBuffer(string: event.body))
        let begun = ContinuousClock.now
        let failure: String?
        do {
            let response = try await http.execute(request, timeout: .nanoseconds(Int64(settings.timeout.milliseconds) * 1_000_000))
            // The body is not needed; reading it frees the connection for the next POST.
            _ = try? await response.body.collect(upTo: 64 * 1024)
            failure = (200..<300).contains(response.status.code) ? nil : "HTTP \(response.status.code)"
        } catch {
            failure = "\(error)"
        }
        do {
            if let failure {
                metrics.webhooksFailedAttempts.increment()
                try await outbox.failed(
                    event.eventID, error: failure, retryAfter: WebhookBackoff.pause(afterAttempts: event.attempts), maxAge: settings.maxAge)
                logger.info(
                    "webhook not delivered", metadata: ["event_id": "\(event.eventID)", "attempts": "\(event.attempts)", "error": "\(failure)"])
            } else {
                try await outbox.delivered(event.eventID)
                metrics.webhooksDelivered.increment()
                metrics.webhookLatency.record(ContinuousClock.now - begun)
            }
        } catch {
            // The lease runs out and the event is sent again: at least once.
            logger.warning("webhook outcome not recorded", metadata: ["event_id": "\(event.eventID)", "error": "\(error)"])
        }
    }
}
