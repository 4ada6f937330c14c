import Foundation
import PostgresNIO
import RollCall
import RollCallPostgres
import RollCallTestSupport
import Testing

@Suite("Webhook outbox", .timeLimit(.minutes(2)))
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
                    let writer = RegistryWriter(serverID: "hub-a", client: client, seal: testSeal, maxBatch: 20, webhooks: true, logger: testLogger)
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
                    serverID: "hub-a", client: client, seal: testSeal, maxBatch: 20, linger: .milliseconds(50), webhooks: true, logger: testLogger)
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
