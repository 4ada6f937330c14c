import Foundation
import PostgresNIO
import RollCallPostgres
import RollCallTestSupport
import Testing

@Suite("Analyst views", .timeLimit(.minutes(5)))
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

    /// The two aggregate views as migration 003 defined them, from every row: what the rollups
    /// must answer exactly.
    static let fromEveryRow = [
        "daily_active_users": """
        SELECT day::date AS day, count(DISTINCT user_id) AS active_users, count(*) FILTER (WHERE opened_that_day) AS connections_opened
        FROM (
            SELECT c.user_id, d.day, date_trunc('day', c.created_at AT TIME ZONE 'UTC') = d.day AS opened_that_day
            FROM rollcall.connections c,
                 generate_series(date_trunc('day', c.created_at AT TIME ZONE 'UTC'),
                                 date_trunc('day', coalesce(c.disconnected_at, now()) AT TIME ZONE 'UTC'), interval '1 day') AS d(day)
        ) AS activity
        GROUP BY day
        """,
        "concurrency_by_minute": """
        SELECT minute, sum(opened) OVER running - sum(closed) OVER running + closed AS connections
        FROM (
            SELECT minute, sum(opened) AS opened, sum(closed) AS closed
            FROM (
                SELECT date_trunc('minute', created_at AT TIME ZONE 'UTC') AS minute, 1 AS opened, 0 AS closed FROM rollcall.connections
                UNION ALL
                SELECT date_trunc('minute', disconnected_at AT TIME ZONE 'UTC'), 0, 1 FROM rollcall.connections WHERE disconnected_at IS NOT NULL
            ) AS changes
            GROUP BY minute
        ) AS per_minute
        WINDOW running AS (ORDER BY minute)
        """,
        "weekly_sessions": """
        SELECT date_trunc('week', created_at AT TIME ZONE 'UTC')::date AS week, user_id, count(*) AS sessions,
               sum(coalesce(disconnected_at, now()) - created_at) AS time_connected
        FROM rollcall.connections
        GROUP BY 1, 2
        """,
        "session_lengths": """
        SELECT day, user_agent, close_reason, bucket, rollcall.bucket_length(bucket, 0), rollcall.bucket_length(bucket, 1),
               count(*), sum(length)
        FROM (
            SELECT (created_at AT TIME ZONE 'UTC')::date AS day, user_agent, close_reason, disconnected_at - created_at AS length,
                   rollcall.length_bucket(disconnected_at - created_at) AS bucket
            FROM rollcall.connections WHERE NOT connected
        ) AS closed
        GROUP BY 1, 2, 3, 4
        """,
    ]

    /// Rows in which the view and the same question asked of every row differ (either way), per view.
    static func differences(_ database: DatabaseLocation) async throws -> [String: Int] {
        var differences: [String: Int] = [:]
        for (view, query) in fromEveryRow {
            let text = """
                SELECT count(*)::int FROM (
                    (SELECT * FROM rollcall.\(view) EXCEPT ALL SELECT * FROM (\(query)) AS raw)
                    UNION ALL
                    (SELECT * FROM (\(query)) AS raw EXCEPT ALL SELECT * FROM rollcall.\(view))
                ) AS different
                """
            differences[view] = try await sql(database, PostgresQuery(unsafeSQL: text), as: Int.self).first
        }
        // Who was online, at a moment every seven hours of the last four days.
        differences["online_at"] = try await sql(
            database,
            """
            SELECT count(*)::int FROM generate_series(now() - interval '4 days', now(), interval '7 hours') AS t(at),
            LATERAL (
                (SELECT * FROM rollcall.online_at(t.at)
                 EXCEPT ALL
                 SELECT user_id, count(*) FROM rollcall.connections
                 WHERE created_at <= t.at AND (connected OR disconnected_at > t.at) GROUP BY user_id)
                UNION ALL
                (SELECT user_id, count(*) FROM rollcall.connections
                 WHERE created_at <= t.at AND (connected OR disconnected_at > t.at) GROUP BY user_id
                 EXCEPT ALL
                 SELECT * FROM rollcall.online_at(t.at))
            ) AS different
            """, as: Int.self
        ).first
        // The median and the 90th percentile of the closed sessions' lengths per user agent, of
        // every session and of those begun since yesterday (UTC): the bucket that holds what
        // percentile_disc answers from every row.
        let fromRows = """
            SELECT user_agent, count(*), rollcall.length_bucket(percentile_disc(q.q) WITHIN GROUP (ORDER BY disconnected_at - created_at))
            FROM rollcall.connections WHERE NOT connected AND (created_at AT TIME ZONE 'UTC')::date >= q.since GROUP BY user_agent
            """
        let fromRollups = "SELECT user_agent, sessions, bucket FROM rollcall.session_length_quantile(q.q, q.since, 'infinity')"
        differences["session_length_quantile"] = try await sql(
            database,
            PostgresQuery(
                unsafeSQL: """
                    SELECT count(*)::int
                    FROM (SELECT q, since FROM unnest(ARRAY[0.5, 0.9]::float8[]) AS q,
                                               unnest(ARRAY['-infinity', (now() AT TIME ZONE 'UTC')::date - 1]::date[]) AS since) AS q,
                    LATERAL (
                        (\(fromRollups) EXCEPT ALL \(fromRows))
                        UNION ALL
                        (\(fromRows) EXCEPT ALL \(fromRollups))
                    ) AS different
                    """), as: Int.self
        ).first
        return differences
    }

    /// What `differences` answers when every view and function answers what every row answers.
    static let exact = Dictionary(uniqueKeysWithValues: (Array(fromEveryRow.keys) + ["online_at", "session_length_quantile"]).map { ($0, 0) })

    @Test(
        "the views, online_at and the length quantiles answer from rollups exactly what every row answers: passes in chunks, a close committed late, reopens"
    )
    func rollupsExact() async throws {
        try await withTestDatabase { database in
            // 3,000 connections of 40 users (two user agents and none) over four days, up to 30 hours
            // long, a tenth still open;
            // some closed as orphans of a hub that may come back. Written by six transactions.
            for part in 0..<6 {
                try await execute(
                    database,
                    """
                    INSERT INTO rollcall.connections (connection_id, user_id, server_id, user_agent, created_at, connected, disconnected_at, close_reason)
                    SELECT gen_random_uuid(), 'user-' || (i % 40), CASE WHEN i % 5 = 0 THEN 'hub-b' ELSE 'hub-a' END,
                           (ARRAY['Firefox', 'Chrome', NULL])[1 + i % 3], start, i % 10 = 0,
                           CASE WHEN i % 10 <> 0 THEN least(start + ((i * 7919) % 108000) * interval '1 second', now()) END,
                           CASE WHEN i % 10 <> 0 THEN CASE WHEN i % 5 = 0 THEN 'orphaned' ELSE 'client_closed' END END
                    FROM (SELECT i, now() - interval '4 days' + (i * 113 % 345600) * interval '1 second' AS start
                          FROM generate_series(\(part * 500 + 1), \(part * 500 + 500)) AS i) AS s
                    """)
            }
            func expectExact(_ comment: Comment? = nil, sourceLocation: SourceLocation = #_sourceLocation) async throws {
                let differences = try await Self.differences(database)
                #expect(
                    differences == Self.exact, "\(comment ?? "") \(differences)",
                    sourceLocation: sourceLocation)
            }
            try await expectExact("nothing rolled up yet: all from rows")

            func rollUp(most: Int) async throws -> Int {
                try await sql(database, "SELECT rollcall.roll_up_history(\(most)::integer)::int", as: Int.self).first ?? -1
            }
            // Passes take only what transactions older than every running one closed, in the whole
            // cluster: other tests' transactions may hold a pass back for a moment.
            func rollUp(expecting total: Int, most: Int) async throws -> (rolled: Int, passes: Int) {
                var rolled = 0
                var passes = 0
                try await eventually(timeout: .seconds(60), "\(total) rows rolled up") {
                    let count = try await rollUp(most: most)
                    rolled += count
                    passes += count > 0 ? 1 : 0
                    return rolled >= total
                }
                return (rolled, passes)
            }
            let first = try await rollUp(expecting: 2700, most: 500)
            #expect(first.rolled == 2700 && first.passes >= 3, "every closed row once, in chunks of about 500 (450 per transaction)")
            try await expectExact()

            // A close whose transaction is still open while a pass runs is not the pass's to take,
            // nor is anything closed after it began (the pass takes only what transactions older
            // than every running one closed); the views count those from their rows meanwhile.
            func openRows(_ users: String) async throws -> Int {
                try await sql(
                    database, PostgresQuery(unsafeSQL: "SELECT count(*)::int FROM rollcall.connections WHERE connected AND user_id IN (\(users))"),
                    as: Int.self
                ).first ?? -1
            }
            let (closedLate, closedNow) = (try await openRows("'user-0', 'user-10'"), try await openRows("'user-20'"))
            #expect(closedLate > 0 && closedNow > 0)
            try await DatabaseAdmin.withConnection(to: database, logger: testLogger) { late in
                try await late.query("BEGIN", logger: testLogger)
                try await late.query(
                    "UPDATE rollcall.connections SET connected = false, disconnected_at = now(), close_reason = 'timeout' WHERE connected AND user_id IN ('user-0', 'user-10')",
                    logger: testLogger)
                try await execute(
                    database,
                    "UPDATE rollcall.connections SET connected = false, disconnected_at = now(), close_reason = 'client_closed' WHERE connected AND user_id = 'user-20'"
                )
                #expect(try await rollUp(most: 10_000) == 0, "user-20's closes committed, but after the late transaction began")
                try await expectExact()
                try await late.query("COMMIT", logger: testLogger)
            }
            try await expectExact()
            #expect(
                try await rollUp(expecting: closedLate + closedNow, most: 10_000).rolled == closedLate + closedNow,
                "both, once the late one committed")
            try await expectExact()

            // hub-b comes back: its orphaned rows open again, rolled up or not.
            try await execute(
                database,
                "UPDATE rollcall.connections SET connected = false, disconnected_at = now(), close_reason = 'orphaned' WHERE connected AND server_id = 'hub-b'"
            )
            let reopened = try await sql(
                database,
                """
                SELECT count(*)::int FROM rollcall.reopen_orphaned(
                    ARRAY(SELECT connection_id FROM rollcall.connections WHERE server_id = 'hub-b' AND user_id IN ('user-5', 'user-15', 'user-25')), 'hub-b')
                """, as: Int.self)
            #expect(reopened == [225], "75 rows each, some rolled up, some closed since the last pass")
            try await expectExact()
            let closedByHubB = try await sql(
                database,
                "SELECT count(*)::int FROM rollcall.connections WHERE NOT connected AND closed_in >= (SELECT rolled_before FROM rollcall.rollup_progress)",
                as: Int.self)[0]
            #expect(try await rollUp(expecting: closedByHubB, most: 10_000).rolled == closedByHubB)
            try await expectExact()
            let outside = try await sql(database, "SELECT count(*)::int FROM rollcall.connections_outside_rollups", as: Int.self)
            #expect(outside == [try await sql(database, "SELECT count(*)::int FROM rollcall.connections WHERE connected", as: Int.self)[0]])
        }
    }
}
