import Foundation
import PostgresNIO
import RollCallPostgres
import RollCallTestSupport
import Testing

@Suite("Analyst views", .timeLimit(.minutes(2)))
struct AnalyticsViewTests {
    /// Four known sessions on 2026-03-01/02 (UTC):
    /// ann 10:00–10:30 and 10:10–10:20 (two tabs), bob 10:15–11:15, cid 23:50 on the 1st to 00:20 on the 2nd.
    static func seed(_ database: DatabaseLocation) async throws {
        try await execute(
            database,
            """
            INSERT INTO rollcall.connections (connection_id, user_id, server_id, user_agent, created_at, connected, disconnected_at, close_reason) VALUES
              (gen_random_uuid(), 'ann', 'h', 'Firefox', '2026-03-01 10:00:00+00', false, '2026-03-01 10:30:00+00', 'client_closed'),
              (gen_random_uuid(), 'ann', 'h', 'Chrome',  '2026-03-01 10:10:00+00', false, '2026-03-01 10:20:00+00', 'client_closed'),
              (gen_random_uuid(), 'bob', 'h', 'Firefox', '2026-03-01 10:15:00+00', false, '2026-03-01 11:15:00+00', 'timeout'),
              (gen_random_uuid(), 'cid', 'h', 'Safari',  '2026-03-01 23:50:00+00', false, '2026-03-02 00:20:00+00', 'client_closed')
            """)
        try await execute(
            database,
            "INSERT INTO rollcall.users (user_id, online, connections, online_since, version) VALUES ('dee', true, 1, now() - interval '5 minutes', 1), ('ann', false, 0, NULL, 4)"
        )
    }

    @Test("sessions carry their length")
    func sessions() async throws {
        try await withTestDatabase { database in
            try await Self.seed(database)
            let minutes = try await sql(
                database, "SELECT user_id, (extract(epoch FROM duration) / 60)::int FROM rollcall.sessions ORDER BY started_at",
                as: (String, Int).self)
            #expect(minutes.map { "\($0.0) \($0.1)" } == ["ann 30", "ann 10", "bob 60", "cid 30"])
        }
    }

    @Test("daily active users count a session on every day it touched")
    func dailyActive() async throws {
        try await withTestDatabase { database in
            try await Self.seed(database)
            let days = try await sql(
                database, "SELECT day::text, active_users::int, connections_opened::int FROM rollcall.daily_active_users ORDER BY day",
                as: (String, Int, Int).self)
            #expect(days.map { "\($0.0) \($0.1) \($0.2)" } == ["2026-03-01 3 4", "2026-03-02 1 0"])
        }
    }

    @Test("concurrency by minute and the peak of a day")
    func concurrency() async throws {
        try await withTestDatabase { database in
            try await Self.seed(database)
            let at = try await sql(
                database,
                "SELECT connections::int FROM rollcall.concurrency_by_minute WHERE minute = '2026-03-01 10:15'", as: Int.self)
            #expect(at == [3])
            let peak = try await sql(
                database,
                "SELECT date_trunc('day', minute)::date::text, max(connections)::int FROM rollcall.concurrency_by_minute GROUP BY 1 ORDER BY 1",
                as: (String, Int).self)
            #expect(peak.map { "\($0.0) \($0.1)" } == ["2026-03-01 3", "2026-03-02 1"])
        }
    }

    @Test("online users now")
    func online() async throws {
        try await withTestDatabase { database in
            try await Self.seed(database)
            #expect(try await sql(database, "SELECT user_id FROM rollcall.online_users", as: String.self) == ["dee"])
        }
    }
}
