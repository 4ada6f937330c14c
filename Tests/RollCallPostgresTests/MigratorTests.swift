import Foundation
import PostgresNIO
import RollCall
import RollCallPostgres
import RollCallTestSupport
import Testing

@Suite("Migrations", .timeLimit(.minutes(5)))
struct MigratorTests {
    static let shipped = [
        "001_registry.sql", "002_grace_and_messages.sql", "003_purge_and_analytics.sql", "004_analyst_role.sql",
        "005_counters_in_one_statement.sql", "006_history_rollups.sql", "007_history_by_month.sql",
        "008_rooms.sql", "009_webhook_outbox.sql", "010_webhook_outbox_indexes.sql", "011_session_rollups.sql",
        "012_weekly_rollup_by_merge.sql", "013_quantile_from_buckets.sql",
    ]

    /// The database as a hub of an earlier version left it: the schema made again by the
    /// migrations before `name` only.
    static func migrate(_ location: DatabaseLocation, before name: String) async throws {
        try await execute(location, "DROP SCHEMA rollcall CASCADE")
        let before = try Migration.bundled().filter { $0.name < name }
        try await DatabaseAdmin.withConnection(to: location, logger: testLogger) { connection in
            try await Migrator(logger: testLogger).migrate(before, on: connection)
        }
    }

    @Test("applied once, recorded with a checksum; a second run applies nothing")
    func once() async throws {
        try await withTestDatabase { location in
            // withTestDatabase migrated already.
            #expect(try await RegistryDatabase.migrate(location, logger: testLogger).isEmpty)
            let recorded = try await sql(location, "SELECT name, checksum FROM rollcall.schema_migrations", as: (String, String).self)
            #expect(recorded.map(\.0) == Self.shipped)
            #expect(recorded[0].1.count == 32)
            let tables = try await sql(
                location,
                """
                SELECT relname::text FROM pg_class
                WHERE relnamespace = 'rollcall'::regnamespace AND relkind IN ('r', 'p') AND NOT relispartition ORDER BY 1
                """, as: String.self)
            #expect(
                tables == [
                    "connections", "day_totals", "message_payloads", "minute_totals", "rollup_progress", "room_members", "rooms",
                    "schema_migrations", "servers", "session_length_days", "user_days", "user_session_weeks", "users", "webhook_outbox",
                ])
        }
    }

    @Test("hubs migrating at once apply each migration exactly once")
    func concurrent() async throws {
        try await withTestDatabase { location in
            try await execute(location, "DROP SCHEMA rollcall CASCADE")
            let applied = try await withThrowingTaskGroup(of: [String].self) { group in
                for _ in 0..<4 { group.addTask { try await RegistryDatabase.migrate(location, logger: testLogger) } }
                return try await group.reduce(into: []) { $0 += $1 }
            }
            #expect(applied.sorted() == Self.shipped)
        }
    }

    @Test("a migration changed after it was applied stops startup and names the file")
    func changed() async throws {
        try await withTestDatabase { location in
            let edited = try Migration.bundled().map { Migration(name: $0.name, sql: $0.sql + "\n-- edited") }
            await #expect {
                try await DatabaseAdmin.withConnection(to: location, logger: testLogger) { connection in
                    try await Migrator(logger: testLogger).migrate(edited, on: connection)
                }
            } throws: { error in
                "\(error)".contains("001_registry.sql")
            }
        }
    }

    @Test("a database in use before migration 005 is converted in place: counters go on exactly, one event per transition")
    func countersConvertedInPlace() async throws {
        try await withTestDatabase { location in
            try await Self.migrate(location, before: "005")
            // Written as the writer of migration 004 left them: ann online with two tabs, bob's last
            // tab closed within his grace, cat offline.
            try await execute(location, "INSERT INTO rollcall.servers (server_id, version, host) VALUES ('hub-old', 'old', 'here')")
            try await execute(
                location,
                """
                INSERT INTO rollcall.connections (connection_id, user_id, server_id)
                SELECT gen_random_uuid(), 'ann', 'hub-old' FROM generate_series(1, 2)
                """)
            try await execute(
                location,
                """
                INSERT INTO rollcall.users (user_id, online, connections, online_since, offline_pending_since, version) VALUES
                    ('ann', true, 2, now() - interval '1 hour', NULL, 5),
                    ('bob', true, 0, now() - interval '1 hour', now() - interval '1 second', 3),
                    ('cat', false, 0, NULL, NULL, 8)
                """)
            #expect(
                try await RegistryDatabase.migrate(location, logger: testLogger) == Array(Self.shipped.dropFirst(4)))

            let annRows = try await sql(location, "SELECT connection_id FROM rollcall.connections ORDER BY 1", as: UUID.self)
            let tap = PresenceTap()
            try await tap.listen(location) {
                try await withTestClient(location) { client in
                    let writer = RegistryWriter(
                        serverID: "hub-new", client: client, seal: testSeal, maxBatch: 500, offlineGrace: .seconds(60),
                        attemptLimit: testAttemptLimit, logger: testLogger)
                    try await writer.running {
                        _ = try await writer.open(NewConnection(userID: "bob", userAgent: nil, remoteAddress: nil))
                        _ = try await writer.open(NewConnection(userID: "cat", userAgent: nil, remoteAddress: nil))
                        writer.close(ConnectionID(annRows[0]), reason: .clientClosed)
                        _ = try await writer.open(NewConnection(userID: "dan", userAgent: nil, remoteAddress: nil))
                    }
                    try await eventually("cat's and dan's online heard") { tap.transitions.count == 2 }
                }
            }
            #expect(tap.transitions.map { "\($0.userID) \($0.online) \($0.version)" }.sorted() == ["cat true 9", "dan true 1"])
            let users = try await sql(
                location,
                "SELECT user_id, online, connections, version, offline_pending_since IS NULL FROM rollcall.users ORDER BY 1",
                as: (String, Bool, Int, Int64, Bool).self)
            #expect(
                users.map { "\($0.0) \($0.1) \($0.2) \($0.3) \($0.4)" } == [
                    "ann true 1 5 true", "bob true 1 3 true", "cat true 1 9 true", "dan true 1 1 true",
                ], "bob came back within his grace: no transition, his version unchanged")
        }
    }

    @Test("a history written before migration 006 is rolled up by it: the aggregate views answer what they answered before")
    func historyRolledUpInPlace() async throws {
        try await withTestDatabase { location in
            try await Self.migrate(location, before: "006")
            // 2,000 closed sessions of 30 users over three days, some across midnight.
            try await execute(
                location,
                """
                INSERT INTO rollcall.connections (connection_id, user_id, server_id, created_at, connected, disconnected_at, close_reason)
                SELECT gen_random_uuid(), 'user-' || (i % 30), 'hub-old', start, false, start + ((i * 7919) % 20000) * interval '1 second', 'client_closed'
                FROM (SELECT i, timestamptz '2026-03-01 00:00+00' + (i * 131 % 259200) * interval '1 second' AS start
                      FROM generate_series(1, 2000) AS i) AS s
                """)
            let days = "SELECT day::text, active_users::int, connections_opened::int FROM rollcall.daily_active_users ORDER BY day"
            let minutes = "SELECT minute::text, connections::int FROM rollcall.concurrency_by_minute ORDER BY minute"
            let daysBefore = try await sql(location, PostgresQuery(unsafeSQL: days), as: (String, Int, Int).self).map { "\($0) \($1) \($2)" }
            let minutesBefore = try await sql(location, PostgresQuery(unsafeSQL: minutes), as: (String, Int).self).map { "\($0) \($1)" }

            #expect(
                try await RegistryDatabase.migrate(location, logger: testLogger) == Array(Self.shipped.dropFirst(5)))
            let rolled = try await sql(location, "SELECT sum(connections_opened)::int FROM rollcall.day_totals", as: Int.self)
            #expect(rolled == [2000], "every closed row rolled up by the migration")
            #expect(try await sql(location, PostgresQuery(unsafeSQL: days), as: (String, Int, Int).self).map { "\($0) \($1) \($2)" } == daysBefore)
            #expect(try await sql(location, PostgresQuery(unsafeSQL: minutes), as: (String, Int).self).map { "\($0) \($1)" } == minutesBefore)
            #expect(daysBefore.count >= 3 && minutesBefore.count > 1000)
        }
    }

    @Test("a history rolled up before migration 011 is added to the session rollups by it: every view answers what every row answers")
    func sessionsRolledUpInPlace() async throws {
        try await withTestDatabase { location in
            try await Self.migrate(location, before: "011")
            // 2,000 sessions of 30 users over three weeks, rolled up by the passes before 011; then
            // 100 more closed and 50 open that no pass has taken.
            try await execute(
                location,
                """
                INSERT INTO rollcall.connections (connection_id, user_id, server_id, user_agent, created_at, connected, disconnected_at, close_reason)
                SELECT gen_random_uuid(), 'user-' || (i % 30), 'hub-old', (ARRAY['Firefox', 'Safari'])[1 + i % 2], start, false,
                       start + ((i * 7919) % 20000) * interval '1 second', 'client_closed'
                FROM (SELECT i, now() - interval '21 days' + (i * 86413 % 1728000) * interval '1 second' AS start
                      FROM generate_series(1, 2000) AS i) AS s
                """)
            try await eventually(timeout: .seconds(60), "the 2,000 rows rolled up") {
                _ = try await sql(location, "SELECT rollcall.roll_up_history()::int", as: Int.self)
                return try await sql(location, "SELECT coalesce(sum(connections_opened), 0)::int FROM rollcall.day_totals", as: Int.self) == [2000]
            }
            try await execute(
                location,
                """
                INSERT INTO rollcall.connections (connection_id, user_id, server_id, user_agent, created_at, connected, disconnected_at, close_reason)
                SELECT gen_random_uuid(), 'user-' || (i % 30), 'hub-old', NULL, now() - interval '1 hour', i > 2100,
                       CASE WHEN i <= 2100 THEN now() END, CASE WHEN i <= 2100 THEN 'timeout' END
                FROM generate_series(2001, 2150) AS i
                """)

            #expect(
                try await RegistryDatabase.migrate(location, logger: testLogger) == Array(Self.shipped.dropFirst(10)))
            let rolledWeeks = try await sql(location, "SELECT sum(sessions)::int FROM rollcall.user_session_weeks", as: Int.self)
            let rolledLengths = try await sql(location, "SELECT sum(sessions)::int FROM rollcall.session_length_days", as: Int.self)
            #expect(rolledWeeks == [2000] && rolledLengths == [2000], "what the passes took, and nothing else")
            #expect(try await AnalyticsViewTests.differences(location) == AnalyticsViewTests.exact)
            let weeks = try await sql(
                location, "SELECT count(DISTINCT week)::int, sum(sessions)::int FROM rollcall.weekly_sessions", as: (Int, Int).self)
            #expect(weeks.count == 1 && weeks[0].0 >= 3 && weeks[0].1 == 2150, "every session, over three weeks or more: \(weeks)")
        }
    }

    @Test(
        "a history written before migration 007 is partitioned by it in place: every row kept and still closed by the hubs, new rows in their month")
    func historyPartitionedInPlace() async throws {
        try await withTestDatabase { location in
            try await Self.migrate(location, before: "007")
            // A hub of the earlier version left 3,000 closed sessions and 20 open ones (version 4 ids).
            try await execute(
                location,
                """
                INSERT INTO rollcall.connections (connection_id, user_id, server_id, created_at, connected, disconnected_at, close_reason)
                SELECT gen_random_uuid(), 'user-' || (i % 40), 'hub-old', now() - i * interval '1 minute', false,
                       now() - i * interval '1 minute' + interval '30 seconds', 'client_closed'
                FROM generate_series(1, 3000) AS i
                """)
            try await execute(
                location,
                "INSERT INTO rollcall.connections (connection_id, user_id, server_id) SELECT gen_random_uuid(), 'open-' || i, 'hub-old' FROM generate_series(1, 20) AS i"
            )
            try await execute(
                location,
                "INSERT INTO rollcall.users (user_id, online, connections, online_since, version) SELECT 'open-' || i, true, 1, now(), 1 FROM generate_series(1, 20) AS i"
            )
            let everyRow = "SELECT connection_id::text, user_id, open, coalesce(close_reason, '') FROM rollcall.sessions ORDER BY 1"
            let rowsBefore = try await sql(location, PostgresQuery(unsafeSQL: everyRow), as: (String, String, Bool, String).self).map { "\($0)" }

            #expect(
                try await RegistryDatabase.migrate(location, logger: testLogger) == Array(Self.shipped.dropFirst(6)))
            #expect(
                try await sql(location, PostgresQuery(unsafeSQL: everyRow), as: (String, String, Bool, String).self).map { "\($0)" } == rowsBefore)
            let months = try await sql(
                location,
                """
                SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                WHERE i.inhparent = 'rollcall.connections'::regclass ORDER BY 1
                """, as: String.self)
            #expect(months.count == 4 && months.last == "connections_default", "this month, the next two, and the rows before: \(months)")

            // Hubs of this version open and close in the new months, and close the old open rows.
            let fresh = NewConnection(userID: "ann", userAgent: nil, remoteAddress: nil)
            let old = try await sql(location, "SELECT connection_id FROM rollcall.connections WHERE user_id = 'open-1'", as: UUID.self)
            try await withTestClient(location) { client in
                let writer = RegistryWriter(
                    serverID: "hub-new", client: client, seal: testSeal, maxBatch: 20, attemptLimit: testAttemptLimit, logger: testLogger)
                try await writer.running {
                    _ = try await writer.open(fresh)
                    writer.close(ConnectionID(old[0]), reason: .clientClosed)
                }
            }
            let placed = try await sql(
                location, "SELECT tableoid::regclass::text, connected FROM rollcall.connections WHERE connection_id = \(fresh.connectionID.uuid)",
                as: (String, Bool).self)
            #expect(placed.count == 1 && placed[0].0 == "rollcall.connections_" + Self.utcMonth(Date()) && placed[0].1)
            let closed = try await sql(
                location, "SELECT connected, close_reason, closed_in IS NOT NULL FROM rollcall.connections WHERE user_id = 'open-1'",
                as: (Bool, String?, Bool).self)
            #expect(closed.count == 1 && closed[0].0 == false && closed[0].1 == "client_closed" && closed[0].2)
        }
    }

    /// `2026_12` for a moment of December 2026 (UTC), as a month's partition is named.
    static func utcMonth(_ date: Date) -> String {
        let parts = Calendar(identifier: .gregorian).dateComponents(in: TimeZone(identifier: "UTC")!, from: date)
        return String(format: "%04d_%02d", parts.year!, parts.month!)
    }
}
