import Foundation
import PostgresNIO
import RollCall
import RollCallPostgres
import RollCallTestSupport
import Testing

@Suite("Orphan purge and retention", .timeLimit(.minutes(5)))
struct PurgeTests {
    /// What a hub killed with -9 two minutes ago leaves: a stale heartbeat, open rows, counters that count them.
    static func seedDeadHub(_ database: DatabaseLocation, server: String = "dead-hub", users: [String: Int]) async throws {
        try await execute(
            database,
            "INSERT INTO rollcall.servers (server_id, started_at, heartbeat_at, version, host) VALUES (\(server), now() - interval '1 hour', now() - interval '2 minutes', 'test', 'gone')"
        )
        for (user, count) in users {
            for _ in 0..<count {
                try await execute(
                    database,
                    "INSERT INTO rollcall.connections (connection_id, user_id, server_id, created_at) VALUES (gen_random_uuid(), \(user), \(server), now() - interval '10 minutes')"
                )
            }
            try await execute(
                database,
                """
                INSERT INTO rollcall.users (user_id, online, connections, online_since, version) VALUES (\(user), true, \(count), now() - interval '10 minutes', 1)
                ON CONFLICT (user_id) DO UPDATE SET connections = rollcall.users.connections + \(count), online = true
                """)
        }
    }

    @Test("two hubs purging at once close each orphan once, with exact counters and one offline per user")
    func concurrentPurges() async throws {
        try await withTestDatabase { database in
            try await Self.seedDeadHub(database, users: ["ann": 3, "ben": 1, "cat": 2])
            let tap = PresenceTap()
            let reports = try await tap.listen(database) {
                try await withTestClient(database) { client in
                    let writers = (0..<2).map {
                        RegistryWriter(
                            serverID: "live-\($0)", client: client, seal: testSeal, maxBatch: 10, offlineGrace: .seconds(3),
                            attemptLimit: testAttemptLimit, logger: testLogger)
                    }
                    return try await writers[0].running {
                        try await writers[1].running {
                            let reports = try await withThrowingTaskGroup(of: PurgeReport.self) { group in
                                for writer in writers { group.addTask { try await writer.purgeOrphans(window: .seconds(60)) } }
                                return try await group.reduce(into: [PurgeReport]()) { $0.append($1) }
                            }
                            try await eventually("three offline transitions heard") { tap.transitions.count == 3 }
                            return reports
                        }
                    }
                }
            }
            #expect(reports.map(\.rowsClosed).reduce(0, +) == 6)
            #expect(reports.map(\.usersOffline).reduce(0, +) == 3)
            let rows = try await sql(
                database,
                "SELECT close_reason, disconnected_at = (SELECT heartbeat_at FROM rollcall.servers WHERE server_id = 'dead-hub') FROM rollcall.connections",
                as: (String?, Bool).self)
            #expect(rows.count == 6 && rows.allSatisfy { $0.0 == "orphaned" && $0.1 })
            let users = try await sql(
                database, "SELECT user_id, online, connections, version FROM rollcall.users ORDER BY 1", as: (String, Bool, Int, Int64).self)
            #expect(users.map { "\($0.0) \($0.1) \($0.2) \($0.3)" } == ["ann false 0 2", "ben false 0 2", "cat false 0 2"])
            #expect(tap.transitions.map(\.userID).sorted() == ["ann", "ben", "cat"])
            #expect(tap.transitions.allSatisfy { !$0.online && $0.version == 2 })
        }
    }

    @Test("a hub with a fresh heartbeat is never purged; a session never ends before it began")
    func liveHubsKept() async throws {
        try await withTestDatabase { database in
            try await Self.seedDeadHub(database, users: ["dan": 1])
            try await execute(database, "INSERT INTO rollcall.servers (server_id, version, host) VALUES ('alive', 'test', 'here')")
            try await execute(
                database, "INSERT INTO rollcall.connections (connection_id, user_id, server_id) VALUES (gen_random_uuid(), 'eve', 'alive')")
            // A row opened after its hub's last heartbeat: it ends when it began, not before.
            try await execute(
                database,
                "INSERT INTO rollcall.connections (connection_id, user_id, server_id, created_at) VALUES (gen_random_uuid(), 'dan', 'dead-hub', now() - interval '30 seconds')"
            )
            try await execute(database, "UPDATE rollcall.users SET connections = 2 WHERE user_id = 'dan'")
            let report = try await withTestClient(database) { client in
                let writer = RegistryWriter(
                    serverID: "purger", client: client, seal: testSeal, maxBatch: 10, attemptLimit: testAttemptLimit, logger: testLogger)
                return try await writer.running { try await writer.purgeOrphans(window: .seconds(60)) }
            }
            #expect(report.closedByServer == ["dead-hub": 2])
            #expect(
                try await sql(database, "SELECT count(*)::int FROM rollcall.connections WHERE connected AND server_id = 'alive'", as: Int.self) == [1]
            )
            #expect(try await sql(database, "SELECT count(*)::int FROM rollcall.sessions WHERE duration < interval '0'", as: Int.self) == [0])
        }
    }

    @Test("a hub frozen inside a transaction that holds the purge lock keeps other hubs from purging only until the server ends its session")
    func frozenLockHolder() async throws {
        try await withTestDatabase { database in
            try await Self.seedDeadHub(database, users: ["gil": 1])
            try await withTestClient(database) { frozen in
                try await withTestClient(database) { client in
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        // A hub's session (same settings) that took the purge lock and then went silent.
                        let locked = AsyncStream.makeStream(of: Void.self)
                        group.addTask {
                            defer { locked.continuation.finish() }
                            try? await frozen.withConnection { connection in
                                try await connection.query("BEGIN", logger: testLogger)
                                try await connection.query("SELECT pg_advisory_xact_lock(\(RegistryWriter.purgeLockKey))", logger: testLogger)
                                locked.continuation.yield()
                                try await Task.sleep(for: .seconds(60))
                            }
                        }
                        for await _ in locked.stream { break }
                        let writer = RegistryWriter(serverID: "purger", client: client, seal: testSeal, maxBatch: 10, logger: testLogger)
                        try await writer.running {
                            #expect(try await writer.purgeOrphans(window: .seconds(60)).skipped, "the lock is held: this pass is skipped")
                            // The writer gives up an attempt after 10 s; the frozen session's transaction is ended soon after.
                            try await eventually(timeout: .seconds(25), "the dead hub's row purged despite the frozen lock holder") {
                                try await writer.purgeOrphans(window: .seconds(60)).rowsClosed == 1
                            }
                        }
                        group.cancelAll()
                    }
                }
            }
            #expect(try await sql(database, "SELECT coalesce(close_reason, 'open') FROM rollcall.connections", as: String.self) == ["orphaned"])
        }
    }

    @Test("offline graces a dead hub left pending are finished by the purge")
    func danglingGrace() async throws {
        try await withTestDatabase { database in
            try await execute(
                database,
                "INSERT INTO rollcall.users (user_id, online, connections, online_since, offline_pending_since, version) VALUES ('fred', true, 0, now() - interval '1 hour', now() - interval '1 minute', 3)"
            )
            let report = try await withTestClient(database) { client in
                let writer = RegistryWriter(
                    serverID: "purger", client: client, seal: testSeal, maxBatch: 10, offlineGrace: .seconds(3), attemptLimit: testAttemptLimit,
                    logger: testLogger)
                return try await writer.running { try await writer.purgeOrphans(window: .seconds(60)) }
            }
            #expect(report.gracesFinished == 1)
            let fred = try await sql(database, "SELECT online, version FROM rollcall.users", as: (Bool, Int64).self)
            #expect(fred.count == 1 && fred[0].0 == false && fred[0].1 == 4)
        }
    }

    @Test("retention deletes only closed rows past it once they are rolled up, in chunks; the views keep counting them")
    func retention() async throws {
        try await withTestDatabase { database in
            try await execute(
                database,
                """
                INSERT INTO rollcall.connections (connection_id, user_id, server_id, created_at, connected, disconnected_at, close_reason)
                SELECT gen_random_uuid(), 'old', 'h', now() - interval '40 days', false, now() - interval '39 days', 'client_closed'
                FROM generate_series(1, 2500)
                """)
            try await execute(
                database,
                "INSERT INTO rollcall.connections (connection_id, user_id, server_id, created_at, connected, disconnected_at, close_reason) VALUES (gen_random_uuid(), 'recent', 'h', now() - interval '2 days', false, now() - interval '1 day', 'timeout')"
            )
            try await execute(
                database,
                "INSERT INTO rollcall.connections (connection_id, user_id, server_id, created_at) VALUES (gen_random_uuid(), 'still-open', 'h', now() - interval '90 days')"
            )
            let daysBefore = try await sql(
                database, "SELECT day, active_users, connections_opened FROM rollcall.daily_active_users ORDER BY day", as: (Date, Int, Int).self)
            let deleted = try await withTestClient(database) { client in
                let history = HistoryMaintenance(client: client, logger: testLogger)
                let retention = Duration.seconds(30 * 86_400)
                #expect(try await history.sweep(retention: retention) == 0, "not rolled up yet")
                // A pass takes what transactions older than every running one closed, in the whole
                // cluster: other tests' transactions may hold it back for a moment.
                var rolled = 0
                try await eventually(timeout: .seconds(60), "old rows rolled up") {
                    rolled += try await history.rollUp() ?? 0
                    return rolled == 2501
                }
                return try await history.sweep(retention: retention)
            }
            #expect(deleted == 2500)
            #expect(try await sql(database, "SELECT user_id FROM rollcall.connections ORDER BY 1", as: String.self) == ["recent", "still-open"])
            let daysAfter = try await sql(
                database, "SELECT day, active_users, connections_opened FROM rollcall.daily_active_users ORDER BY day", as: (Date, Int, Int).self)
            #expect(daysAfter.map { "\($0.0) \($0.1) \($0.2)" } == daysBefore.map { "\($0.0) \($0.1) \($0.2)" })
        }
    }

    /// Partitions of four and three months ago, as the hubs running then made them: a closed session
    /// an hour through the first week of each, and in the later month one connection still open.
    static func seedPastMonths(_ database: DatabaseLocation) async throws {
        try await execute(database, "SELECT rollcall.add_month_partitions(1, now() - interval '4 months')")
        try await execute(
            database,
            """
            INSERT INTO rollcall.connections (connection_id, user_id, server_id, created_at, connected, disconnected_at, close_reason)
            SELECT rollcall.new_connection_id(t), 'user-' || (i % 7), 'h', t, false, t + interval '10 minutes', 'client_closed'
            FROM generate_series(1, 168) AS i, generate_series(3, 4) AS ago,
                 LATERAL (SELECT date_trunc('month', now() - ago * interval '1 month', 'UTC') + i * interval '1 hour' AS t) AS s
            """)
        try await execute(
            database,
            """
            INSERT INTO rollcall.connections (connection_id, user_id, server_id, created_at)
            SELECT rollcall.new_connection_id(t), 'still-open', 'h', t
            FROM (SELECT date_trunc('month', now() - interval '3 months', 'UTC') + interval '1 day' AS t) AS s
            """)
    }

    static func months(_ database: DatabaseLocation) async throws -> [String: Int] {
        let rows = try await sql(
            database, "SELECT substr(tableoid::regclass::text, 22), count(*)::int FROM rollcall.connections GROUP BY 1", as: (String, Int).self)
        return Dictionary(uniqueKeysWithValues: rows)
    }

    static func month(_ monthsAgo: Int, _ database: DatabaseLocation) async throws -> String {
        try await sql(
            database, "SELECT to_char(now() AT TIME ZONE 'UTC' - \(monthsAgo) * interval '1 month', 'YYYY_MM')", as: String.self
        )[0]
    }

    @Test(
        "retention drops each month whose every row closed before it and was rolled up; a month a connection still holds is kept and swept row by row"
    )
    func monthsDropped() async throws {
        try await withTestDatabase { database in
            try await Self.seedPastMonths(database)
            let four = try await Self.month(4, database), three = try await Self.month(3, database)
            #expect(try await Self.months(database) == [four: 168, three: 169])
            let daysBefore = try await sql(
                database, "SELECT day, active_users, connections_opened FROM rollcall.daily_active_users ORDER BY day", as: (Date, Int, Int).self)
            let retention = Duration.seconds(30 * 86_400)
            let (dropped, deleted) = try await withTestClient(database) { client in
                let history = HistoryMaintenance(client: client, logger: testLogger)
                #expect(try await history.dropExpiredMonths(retention: retention) == [], "not rolled up yet")
                var rolled = 0
                try await eventually(timeout: .seconds(60), "the months rolled up") {
                    rolled += try await history.rollUp() ?? 0
                    return rolled == 336
                }
                return (try await history.dropExpiredMonths(retention: retention), try await history.sweep(retention: retention))
            }
            #expect(dropped == ["connections_" + four])
            #expect(deleted == 168, "the kept month's closed rows go one by one")
            #expect(try await Self.months(database) == [three: 1])
            let daysAfter = try await sql(
                database, "SELECT day, active_users, connections_opened FROM rollcall.daily_active_users ORDER BY day", as: (Date, Int, Int).self)
            #expect(daysAfter.map { "\($0.0) \($0.1) \($0.2)" } == daysBefore.map { "\($0.0) \($0.1) \($0.2)" })
        }
    }

    @Test("a month some long query is reading is left for a later pass, and the hubs' writes go on meanwhile")
    func monthDropWaitsForReaders() async throws {
        try await withTestDatabase { database in
            try await Self.seedPastMonths(database)
            let four = try await Self.month(4, database)
            try await withTestClient(database) { client in
                let history = HistoryMaintenance(client: client, logger: testLogger)
                var rolled = 0
                try await eventually(timeout: .seconds(60), "the months rolled up") {
                    rolled += try await history.rollUp() ?? 0
                    return rolled == 336
                }
                try await withThrowingTaskGroup(of: Void.self) { group in
                    // An analyst's query that is still reading the history, in an analyst's
                    // session: a hub's would be ended by the server after 10 s idle in its
                    // transaction, which this test may take on a busy machine.
                    let reading = AsyncStream.makeStream(of: Void.self)
                    group.addTask {
                        defer { reading.continuation.finish() }
                        try await DatabaseAdmin.withConnection(to: database, logger: testLogger) { connection in
                            try await connection.query("BEGIN", logger: testLogger)
                            try await connection.query("SELECT count(*) FROM rollcall.sessions", logger: testLogger)
                            reading.continuation.yield()
                            try? await Task.sleep(for: .seconds(60))
                            try await connection.query("ROLLBACK", logger: testLogger)
                        }
                    }
                    for await _ in reading.stream { break }
                    #expect(try await history.dropExpiredMonths(retention: .seconds(30 * 86_400)) == [])
                    let writer = RegistryWriter(
                        serverID: "hub", client: client, seal: testSeal, maxBatch: 10, attemptLimit: testAttemptLimit, logger: testLogger)
                    try await writer.running {
                        _ = try await writer.open(NewConnection(userID: "ann", userAgent: nil, remoteAddress: nil))
                    }
                    group.cancelAll()
                }
                try await eventually(timeout: .seconds(30), "the month dropped once the reader is gone") {
                    try await history.dropExpiredMonths(retention: .seconds(30 * 86_400)) == ["connections_" + four]
                }
            }
            #expect(
                try await sql(database, "SELECT count(*)::int FROM rollcall.connections WHERE user_id = 'ann' AND connected", as: Int.self) == [1])
        }
    }

    @Test("retention deletes room history that ended before it, and rooms left with neither members nor history")
    func roomRetention() async throws {
        try await withTestDatabase { database in
            try await execute(
                database,
                """
                INSERT INTO rollcall.rooms (room, version, members, changed_at) VALUES
                    ('old', 2, 0, now() - interval '40 days'), ('busy', 3, 1, now() - interval '40 days'), ('recent', 2, 0, now())
                """)
            try await execute(
                database,
                """
                INSERT INTO rollcall.room_members
                    (room, connection_id, user_id, server_id, state, joined_at, since, until, present, ended_by, began_at_version, ended_at_version)
                VALUES
                    ('old', gen_random_uuid(), 'ann', 'h', '{}', now() - interval '41 days', now() - interval '41 days', now() - interval '40 days', false, 'left', 1, 2),
                    ('busy', gen_random_uuid(), 'bob', 'h', '{}', now() - interval '41 days', now() - interval '41 days', now() - interval '40 days', false, 'updated', 1, 2),
                    ('busy', gen_random_uuid(), 'bob', 'h', '{}', now() - interval '41 days', now() - interval '40 days', NULL, true, NULL, 2, NULL),
                    ('recent', gen_random_uuid(), 'cat', 'h', '{}', now() - interval '1 day', now() - interval '1 day', now(), false, 'closed', 1, 2)
                """)
            _ = try await withTestClient(database) { client in
                try await HistoryMaintenance(client: client, logger: testLogger).sweep(retention: .seconds(30 * 86_400))
            }
            #expect(try await sql(database, "SELECT room FROM rollcall.rooms ORDER BY 1", as: String.self) == ["busy", "recent"])
            #expect(
                try await sql(database, "SELECT room, present FROM rollcall.room_members ORDER BY 1", as: (String, Bool).self).map { "\($0) \($1)" }
                    == ["busy true", "recent false"])
        }
    }

    @Test("stored message bodies are pruned by the sweep once every hub has had time to read them")
    func messagePayloads() async throws {
        try await withTestDatabase { database in
            try await execute(
                database, "INSERT INTO rollcall.message_payloads (recipient, body, created_at) VALUES ('ann', 'old', now() - interval '1 hour')")
            try await execute(database, "INSERT INTO rollcall.message_payloads (recipient, body) VALUES ('ann', 'new')")
            _ = try await withTestClient(database) { client in
                try await HistoryMaintenance(client: client, logger: testLogger).sweep(retention: .seconds(30 * 86_400))
            }
            #expect(try await sql(database, "SELECT body FROM rollcall.message_payloads", as: String.self) == ["new"])
        }
    }
}
