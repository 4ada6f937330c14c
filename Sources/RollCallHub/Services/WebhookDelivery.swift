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
    /// The pause after a lease that was not full: the next one gathers what arrived meanwhile, so
    /// a steady trickle of events costs PostgreSQL a few statements per batch, not per event.
    static let gatherPause: Duration = .milliseconds(50)
    /// How often the pending gauge is counted.
    static let gaugeInterval: Duration = .seconds(1)

    func run() async throws {
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        await cancelWhenGracefulShutdown {
            var counted = ContinuousClock.now - Self.gaugeInterval
            while !Task.isCancelled {
                if ContinuousClock.now - counted >= Self.gaugeInterval {
                    counted = .now
                    if let pending = try? await outbox.pendingCount() { metrics.webhooksPending.set(Double(pending)) }
                }
                let sent = await pass(http)
                if sent < Self.batch { try? await Task.sleep(for: sent == 0 ? Self.idlePause : Self.gatherPause) }
            }
        }
        try? await http.shutdown()
    }

    /// One lease of due events, delivered, and what came of them recorded; returns how many were leased.
    func pass(_ http: HTTPClient) async -> Int {
        let due: [WebhookOutbox.Due]
        do {
            // The lease outlasts the POST's timeout, so a slow answer is not sent twice meanwhile.
            due = try await outbox.lease(most: Self.batch, for: settings.timeout + .seconds(5))
        } catch {
            // A hub shutting down cancels the read; that is no news.
            if !Task.isCancelled { logger.warning("webhook outbox unreadable", metadata: ["error": "\(error)"]) }
            return 0
        }
        let delivered = await withTaskGroup(of: Int64?.self) { group -> [Int64] in
            for event in due { group.addTask { await deliver(event, with: http) ? event.eventID : nil } }
            return await group.reduce(into: []) { ids, id in if let id { ids.append(id) } }
        }
        do {
            try await outbox.delivered(delivered)
            metrics.webhooksDelivered.increment(by: Int64(delivered.count))
        } catch {
            // The leases run out and the events are sent again: at least once.
            logger.warning("webhook outcome not recorded", metadata: ["events": "\(delivered.count)", "error": "\(error)"])
        }
        return due.count
    }

    /// POSTs one event; a failure is recorded here (with its backoff), a success by the caller with
    /// the rest of its lease. Returns whether the receiver answered 2xx.
    private func deliver(_ event: WebhookOutbox.Due, with http: HTTPClient) async -> Bool {
        var request = HTTPClientRequest(url: settings.url.absoluteString)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "User-Agent", value: "RollCall-Webhooks")
        request.headers.add(name: WebhookSignature.header, value: WebhookSignature.value(body: event.body, secret: settings.secret))
        request.body = .bytes(ByteBuffer(string: event.body))
        let begun = ContinuousClock.now
        let failure: String
        do {
            let response = try await http.execute(request, timeout: .nanoseconds(Int64(settings.timeout.milliseconds) * 1_000_000))
            // The body is not needed; reading it frees the connection for the next POST.
            _ = try? await response.body.collect(upTo: 64 * 1024)
            if (200..<300).contains(response.status.code) {
                metrics.webhookLatency.record(ContinuousClock.now - begun)
                return true
            }
            failure = "HTTP \(response.status.code)"
        } catch {
            failure = "\(error)"
        }
        metrics.webhooksFailedAttempts.increment()
        logger.info("webhook not delivered", metadata: ["event_id": "\(event.eventID)", "attempts": "\(event.attempts)", "error": "\(failure)"])
        do {
            try await outbox.failed(
                event.eventID, error: failure, retryAfter: WebhookBackoff.pause(afterAttempts: event.attempts), maxAge: settings.maxAge)
        } catch {
            logger.warning("webhook outcome not recorded", metadata: ["event_id": "\(event.eventID)", "error": "\(error)"])
        }
        return false
    }
}
