import Foundation
import PostgresNIO
import RollCall
import RollCallPostgres
import RollCallTestSupport
import Testing

@Suite("Webhook outbox", .timeLimit(.minutes(5)))
struct WebhookOutboxTests {
    static func outbox(_ database: DatabaseLocation) async throws -> [(String, String, String)] {
        try await sql(database, "SELECT type, user_id, body FROM rollcall.webhook_outbox ORDER BY event_id", as: (String, String, String).self)
    }

    @Test("each online, offline, room join and room leave is one outbox row, written with it; a second tab and a state change write none")
    func oneRowPerTransition() async throws {
        try await withTestDatabase { database in
            let tap = PresenceTap()
            try await tap.listen(database) {
                try await withTestClient(database) { client in
                    let writer = RegistryWriter(
                        serverID: "hub-a", client: client, seal: testSeal, maxBatch: 20, attemptLimit: testAttemptLimit, webhooks: true,
                        logger: testLogger)
                    try await writer.running {
                        let first = NewConnection(userID: "ann", userAgent: nil, remoteAddress: nil)
                        let second = NewConnection(userID: "ann", userAgent: nil, remoteAddress: nil)
                        _ = try await writer.open(first)
                        _ = try await writer.open(second)
                        _ = try await writer.change(.join(room: "doc-1", connectionID: first.connectionID, userID: "ann", state: .object([:])))
                        _ = try await writer.change(.setState(room: "doc-1", connectionID: first.connectionID, state: .object(["t": .bool(true)])))
                        writer.close(first.connectionID, reason: .clientClosed)
                        writer.close(second.connectionID, reason: .clientClosed)
                    }
                }
                try await eventually("both transitions heard") { tap.transitions.count == 2 }
            }
            let rows = try await Self.outbox(database)
            #expect(rows.map { "\($0.0) \($0.1)" } == ["user.online ann", "room.joined ann", "user.offline ann", "room.left ann"])
            let offline = try JSONParser.parse(rows[2].2)
            #expect(offline["version"] == .number(2) && offline["connections"] == .number(0) && offline["type"] == .string("user.offline"))
            let left = try JSONParser.parse(rows[3].2)
            #expect(left["reason"] == .string("closed") && left["room"] == .string("doc-1") && left["state"] == .object(["t": .bool(true)]))
            let ids = Set(try rows.map { try JSONParser.parse($0.2)["id"] })
            #expect(ids.count == 4, "every webhook has an id of its own")
        }
    }

    @Test("a request the database refuses writes no webhook; the rest of its batch writes theirs")
    func noWebhookWithoutItsTransition() async throws {
        try await withTestDatabase { database in
            try await refusePoisonedRows(database)
            try await withTestClient(database) { client in
                let writer = RegistryWriter(
                    serverID: "hub-a", client: client, seal: testSeal, maxBatch: 20, linger: .milliseconds(50),
                    attemptLimit: testAttemptLimit, webhooks: true, logger: testLogger)
                try await writer.running {
                    try await withThrowingTaskGroup(of: Bool.self) { group in
                        for (user, agent) in [("ann", "ok"), ("bob", "poison"), ("cat", "ok")] {
                            group.addTask { (try? await writer.open(NewConnection(userID: user, userAgent: agent, remoteAddress: nil))) != nil }
                        }
                        var opened = 0
                        for try await welcomed in group where welcomed { opened += 1 }
                        #expect(opened == 2)
                    }
                }
            }
            #expect(try await Self.outbox(database).map { "\($0.0) \($0.1)" }.sorted() == ["user.online ann", "user.online cat"])
            #expect(try await sql(database, "SELECT count(*)::int FROM rollcall.webhook_deliveries WHERE status = 'pending'", as: Int.self) == [2])
        }
    }
}

extension WebhookOutboxTests {
    @Test("the sweep deletes webhooks delivered or failed before the retention, in chunks; pending ones and newer ones stay")
    func retention() async throws {
        try await withTestDatabase { database in
            // 2,500 old delivered (more than one chunk), one old failed, one old pending, one new delivered.
            try await execute(
                database,
                """
                INSERT INTO rollcall.webhook_outbox (id, type, user_id, body, created_at, delivered_at, failed_at)
                SELECT gen_random_uuid(), 'user.online', 'u' || n, '{}', now() - interval '40 days', now() - interval '40 days', NULL
                FROM generate_series(1, 2500) n
                UNION ALL SELECT gen_random_uuid(), 'user.offline', 'failed', '{}', now() - interval '40 days', NULL, now() - interval '39 days'
                UNION ALL SELECT gen_random_uuid(), 'user.online', 'pending', '{}', now() - interval '40 days', NULL, NULL
                UNION ALL SELECT gen_random_uuid(), 'user.online', 'recent', '{}', now() - interval '1 day', now() - interval '1 day', NULL
                """)
            try await withTestClient(database) { client in
                _ = try await HistoryMaintenance(client: client, logger: testLogger).sweep(retention: .seconds(30 * 86_400))
            }
            #expect(
                try await sql(database, "SELECT user_id || ' ' || status FROM rollcall.webhook_deliveries ORDER BY event_id", as: String.self) == [
                    "pending pending", "recent delivered",
                ])
        }
    }

    @Test("the dashboard's summary counts the backlog, the last hour and the day's failures across hubs")
    func summary() async throws {
        try await withTestDatabase { database in
            try await execute(
                database,
                """
                INSERT INTO rollcall.webhook_outbox (id, type, user_id, body, created_at, delivered_at, failed_at, last_error)
                VALUES (gen_random_uuid(), 'user.online', 'old', '{}', now() - interval '2 days', NULL, now() - interval '2 hours', 'HTTP 500'),
                       (gen_random_uuid(), 'user.online', 'ann', '{}', now() - interval '2 hours', now() - interval '2 hours', NULL, NULL),
                       (gen_random_uuid(), 'user.online', 'bob', '{}', now() - interval '10 minutes', now(), NULL, NULL),
                       (gen_random_uuid(), 'user.online', 'cat', '{}', now() - interval '5 minutes', NULL, NULL, 'HTTP 503')
                """)
            let summary = try await withTestClient(database) { client in
                try await WebhookOutbox(client: client, logger: testLogger).summary(recent: 2)
            }
            #expect(summary.pending == 1 && summary.writtenLastHour == 2 && summary.deliveredLastHour == 1 && summary.failedLastDay == 1)
            let oldest = try #require(summary.oldestPendingAt)
            #expect(abs(oldest.timeIntervalSinceNow + 300) < 60)
            #expect(summary.recent.map { "\($0.userID) \($0.status) \($0.lastError ?? "-")" } == ["cat pending HTTP 503", "bob delivered -"])
        }
    }
}
