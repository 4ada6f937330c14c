import Crypto
import Foundation
import Logging
import PostgresNIO
import RollCall

/// The header a receiver checks: `RollCall-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
/// "<t>.<body>" with the secret>`. A receiver refuses a `t` older than 5 minutes.
public enum WebhookSignature {
    public static let header = "RollCall-Signature"

    public static func value(body: String, secret: String, at time: Date = Date()) -> String {
        let seconds = Int64(time.timeIntervalSince1970)
        let mac = HMAC<SHA256>.authenticationCode(for: Data("\(seconds).\(body)".utf8), using: SymmetricKey(data: Data(secret.utf8)))
        return "t=\(seconds),v1=" + mac.map { String(format: "%02x", $0) }.joined()
    }
}

/// The outbox's side of delivery: which webhooks are due, and what came of each attempt. Any hub
/// delivers; a due event is leased (its next attempt moved past the POST's timeout) in a short
/// transaction with `FOR UPDATE SKIP LOCKED`, so two hubs never send it at once, and one that dies
/// mid-delivery leaves it to be sent again when the lease runs out: at least once.
public struct WebhookOutbox: Sendable {
    let client: PostgresClient
    let logger: Logger

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    public struct Due: Sendable, Equatable {
        public let eventID: Int64
        public let userID: String
        public let body: String
        public let attempts: Int
        public let createdAt: Date
    }

    /// Leases up to `most` due events for `lease`: the oldest undelivered one of each user (a
    /// user's events go in order; across users in parallel). Written so that its cost follows the
    /// lease, not the backlog: pending events are walked in order (`webhook_outbox_due`) until the
    /// lease is full, each checked with one probe for an older one of its user (migration 010).
    public func lease(most: Int, for lease: Duration) async throws -> [Due] {
        let logger = logger
        return try await client.withConnection(within: .seconds(10)) { connection in
            let rows = try await connection.query(
                """
                UPDATE rollcall.webhook_outbox AS o SET attempts = o.attempts + 1,
                    next_attempt_at = now() + \(lease.milliseconds) * interval '1 millisecond'
                WHERE o.event_id IN (
                    SELECT d.event_id FROM rollcall.webhook_outbox d
                    WHERE d.delivered_at IS NULL AND d.failed_at IS NULL AND d.next_attempt_at <= now()
                      AND d.event_id = (
                          SELECT e.event_id FROM rollcall.webhook_outbox e
                          WHERE e.user_id = d.user_id AND e.delivered_at IS NULL AND e.failed_at IS NULL ORDER BY e.event_id LIMIT 1)
                    ORDER BY d.event_id LIMIT \(most)
                    FOR UPDATE SKIP LOCKED)
                RETURNING o.event_id, o.user_id, o.body, o.attempts, o.created_at
                """, logger: logger)
            var due: [Due] = []
            for try await (id, user, body, attempts, created) in rows.decode((Int64, String, String, Int, Date).self) {
                due.append(Due(eventID: id, userID: user, body: body, attempts: attempts, createdAt: created))
            }
            return due.sorted { $0.eventID < $1.eventID }
        }
    }

    /// Delivered: the receiver answered 2xx to each. One statement for a lease's worth.
    public func delivered(_ eventIDs: [Int64]) async throws {
        guard !eventIDs.isEmpty else { return }
        let logger = logger
        _ = try await client.withConnection(within: .seconds(10)) { connection in
            try await connection.query(
                "UPDATE rollcall.webhook_outbox SET delivered_at = now(), last_error = NULL WHERE event_id = ANY(\(eventIDs))", logger: logger)
        }
    }

    /// Not delivered: tried again after `pause`, or kept as failed once older than `maxAge`.
    public func failed(_ eventID: Int64, error: String, retryAfter pause: Duration, maxAge: Duration) async throws {
        let logger = logger
        _ = try await client.withConnection(within: .seconds(10)) { connection in
            try await connection.query(
                """
                UPDATE rollcall.webhook_outbox SET last_error = \(String(error.prefix(500))),
                    failed_at = CASE WHEN created_at < now() - \(maxAge.milliseconds) * interval '1 millisecond' THEN now() END,
                    next_attempt_at = now() + \(pause.milliseconds) * interval '1 millisecond'
                WHERE event_id = \(eventID)
                """, logger: logger)
        }
    }

    /// One event and how its delivery went, as `rollcall.webhook_deliveries` has it.
    public struct Delivery: Sendable, Equatable {
        public let id: UUID
        public let type: String
        public let userID: String
        public let status: String
        public let attempts: Int
        public let createdAt: Date
        public let deliveredAt: Date?
        public let lastError: String?
    }

    /// What the dashboard shows: the backlog, the last hour's and day's outcomes (across hubs),
    /// and the newest events.
    public struct Summary: Sendable, Equatable {
        public let pending: Int
        public let oldestPendingAt: Date?
        public let writtenLastHour: Int
        public let deliveredLastHour: Int
        public let failedLastDay: Int
        public let recent: [Delivery]
    }

    public func summary(recent limit: Int) async throws -> Summary {
        let logger = logger
        return try await client.withConnection(within: .seconds(10)) { connection in
            // Each count reads an index: the pending ones the partial index, the last hour the
            // BRIN on created_at, the failures theirs (migration 010).
            let counts = try await connection.query(
                """
                SELECT (SELECT count(*) FROM rollcall.webhook_outbox WHERE delivered_at IS NULL AND failed_at IS NULL)::int,
                       (SELECT min(created_at) FROM rollcall.webhook_outbox WHERE delivered_at IS NULL AND failed_at IS NULL),
                       count(*)::int, (count(*) FILTER (WHERE delivered_at IS NOT NULL))::int,
                       (SELECT count(*) FROM rollcall.webhook_outbox WHERE failed_at > now() - interval '1 day')::int
                FROM rollcall.webhook_outbox WHERE created_at > now() - interval '1 hour'
                """, logger: logger
            ).collect().first?.decode((Int, Date?, Int, Int, Int).self)
            let rows = try await connection.query(
                """
                SELECT id, type, user_id, status, attempts, created_at, delivered_at, last_error
                FROM rollcall.webhook_deliveries ORDER BY event_id DESC LIMIT \(limit)
                """, logger: logger)
            var recent: [Delivery] = []
            for try await row in rows.decode((UUID, String, String, String, Int, Date, Date?, String?).self) {
                recent.append(
                    Delivery(
                        id: row.0, type: row.1, userID: row.2, status: row.3, attempts: row.4, createdAt: row.5, deliveredAt: row.6, lastError: row.7)
                )
            }
            let (pending, oldest, written, delivered, failed) = counts ?? (0, nil, 0, 0, 0)
            return Summary(
                pending: pending, oldestPendingAt: oldest, writtenLastHour: written, deliveredLastHour: delivered, failedLastDay: failed,
                recent: recent)
        }
    }

    /// Events not yet delivered nor failed.
    public func pendingCount() async throws -> Int {
        let logger = logger
        return try await client.withConnection(within: .seconds(10)) { connection in
            let rows = try await connection.query(
                "SELECT count(*)::int FROM rollcall.webhook_outbox WHERE delivered_at IS NULL AND failed_at IS NULL", logger: logger)
            return try await rows.collect().first?.decode(Int.self) ?? 0
        }
    }
}
