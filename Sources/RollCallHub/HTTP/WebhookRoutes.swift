import Foundation
import Hummingbird
import RollCall
import RollCallPostgres

/// `GET /v1/webhooks` (admin): how the outbox's deliveries go, across hubs (the dashboard's panel).
struct WebhookRoutes {
    let outbox: WebhookOutbox
    /// Whether this hub delivers webhooks (`--webhook-url`); the outbox is read either way.
    let delivering: Bool

    static let maxRecent = 200
    static let defaultRecent = 20

    var routes: RouteCollection<HubRequestContext> {
        let routes = RouteCollection(context: HubRequestContext.self)
        routes.get("webhooks", use: webhooks)
        return routes
    }

    @Sendable func webhooks(_ request: Request, context: HubRequestContext) async throws -> some ResponseGenerator {
        _ = try context.requireAdmin()
        let limit = request.uri.queryParameters.get("limit").map { Int($0) } ?? Self.defaultRecent
        guard let limit, (1...Self.maxRecent).contains(limit) else {
            throw APIError.badRequest("limit is a whole number from 1 to \(Self.maxRecent)")
        }
        return WebhooksBody(delivering: delivering, summary: try await outbox.summary(recent: limit))
    }
}

struct WebhooksBody: ResponseEncodable {
    let delivering: Bool
    let summary: WebhookOutbox.Summary

    enum Key: String, CodingKey {
        case delivering, pending, oldestPendingAt = "oldest_pending_at", writtenLastHour = "written_last_hour"
        case deliveredLastHour = "delivered_last_hour", failedLastDay = "failed_last_day", recent
        case id, type, userID = "user_id", status, attempts, createdAt = "created_at", deliveredAt = "delivered_at", lastError = "last_error"
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        try container.encode(delivering, forKey: .delivering)
        try container.encode(summary.pending, forKey: .pending)
        try container.encode(summary.oldestPendingAt, forKey: .oldestPendingAt)
        try container.encode(summary.writtenLastHour, forKey: .writtenLastHour)
        try container.encode(summary.deliveredLastHour, forKey: .deliveredLastHour)
        try container.encode(summary.failedLastDay, forKey: .failedLastDay)
        var recent = container.nestedUnkeyedContainer(forKey: .recent)
        for event in summary.recent {
            var item = recent.nestedContainer(keyedBy: Key.self)
            try item.encode(event.id.uuidString.lowercased(), forKey: .id)
            try item.encode(event.type, forKey: .type)
            try item.encode(event.userID, forKey: .userID)
            try item.encode(event.status, forKey: .status)
            try item.encode(event.attempts, forKey: .attempts)
            try item.encode(event.createdAt, forKey: .createdAt)
            try item.encode(event.deliveredAt, forKey: .deliveredAt)
            try item.encode(event.lastError, forKey: .lastError)
        }
    }
}
