import Logging
import PostgresNIO

/// What the hubs do to the connection history after each purge: make the coming months' partitions
/// (`addMonths`, migration 007), roll up the rows closed since the last pass (`rollUp`, migration
/// 006), then drop the months past the retention (`dropExpiredMonths`) and delete what rows past it
/// remain elsewhere (`sweep`). Each
/// step is a transaction under the history's transaction-scoped advisory lock (one hub at a time)
/// with its own deadline, so a statement that never answers ends the pass instead of holding the
/// purge loop or the hub's shutdown.
public struct HistoryMaintenance: Sendable {
    let client: PostgresClient
    let logger: Logger

    static let lockKey: Int64 = 0x726F_6C6C_6869_7374  // "rollhist"
    static let chunk = 1000
    /// Rows one rollup transaction takes at most (a little more when one transaction closed many).
    static let rollUpChunk = 20000
    /// Seconds a stored message body is kept: hubs read it within moments of its notification.
    static let messagePayloadLifetime = 300
    /// How long adding or dropping a month waits for the table's lock before it leaves that
    /// month for the next pass: the writers' statements queue behind the wait.
    static let partitionLockWait = "100ms"
    /// Longest one chunk may take: past the server's own statement timeout (8 s).
    static let patience: Duration = .seconds(10)

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    /// Adds the connections closed since the last pass to the rollups the analyst views read, about
    /// `rollUpChunk` rows per transaction; returns how many, or nil when another hub held the lock.
    public func rollUp() async throws -> Int? {
        var rolled = 0
        while true {
            let count = try await locked { connection, logger in
                let rows = try await connection.query("SELECT rollcall.roll_up_history(\(Self.rollUpChunk)::integer)", logger: logger)
                return try await rows.collect().first?.decode(Int.self) ?? 0
            }
            guard let count else { return rolled == 0 ? nil : rolled }
            rolled += count
            if count < Self.rollUpChunk { return rolled }
        }
    }

    /// Makes the partitions of this month and the next two where they are missing; returns their
    /// names, or nil when another hub held the lock.
    public func addMonths() async throws -> [String]? {
        try await locked { connection, logger in
            try await connection.query("SELECT set_config('lock_timeout', \(Self.partitionLockWait), true)", logger: logger)
            let rows = try await connection.query("SELECT rollcall.add_month_partitions(2)", logger: logger)
            return try await rows.collect().map { try $0.decode(String.self) }
        }
    }

    /// Drops each month whose every connection closed longer than `retention` ago and has been
    /// rolled up; returns the months dropped, or nil when another hub held the lock. A month some
    /// long query is reading is left for a later pass.
    public func dropExpiredMonths(retention: Duration) async throws -> [String]? {
        try await locked { connection, logger in
            try await connection.query("SELECT set_config('lock_timeout', \(Self.partitionLockWait), true)", logger: logger)
            let rows = try await connection.query(
                "SELECT rollcall.drop_expired_months(\(retention.milliseconds) * interval '1 millisecond')", logger: logger)
            return try await rows.collect().map { try $0.decode(String.self) }
        }
    }

    /// Deletes closed rows past the retention that a pass has rolled up (so the views' totals keep
    /// them) and no dropped month took: rows written before migration 007, and those of a month a
    /// connection still open keeps; room history and finished webhooks past the retention. A thousand rows at a time,
    /// each chunk its own transaction, so writers never wait behind one big delete. Returns the
    /// connection rows deleted, or nil when another hub was sweeping.
    public func sweep(retention: Duration) async throws -> Int? {
        let cutoff = "now() - \(retention.milliseconds) * interval '1 millisecond'"
        let deleted = try await inChunks(
            """
            DELETE FROM rollcall.connections WHERE connection_id IN (
                SELECT connection_id FROM rollcall.connections
                WHERE NOT connected AND disconnected_at < \(unescaped: cutoff)
                  AND (closed_in IS NULL OR closed_in < (SELECT rolled_before FROM rollcall.rollup_progress))
                LIMIT \(Self.chunk))
            RETURNING 1
            """)
        // Room history: stretches that ended before the retention; then the rooms left with no
        // member and no history (a room joined again starts at version 1).
        _ = try await inChunks(
            """
            DELETE FROM rollcall.room_members WHERE ctid IN (
                SELECT ctid FROM rollcall.room_members WHERE NOT present AND until < \(unescaped: cutoff) LIMIT \(Self.chunk))
            RETURNING 1
            """)
        // Webhooks delivered or failed before the retention; pending ones wait for a hub to send them.
        _ = try await inChunks(
            """
            DELETE FROM rollcall.webhook_outbox WHERE event_id IN (
                SELECT event_id FROM rollcall.webhook_outbox
                WHERE created_at < \(unescaped: cutoff) AND (delivered_at IS NOT NULL OR failed_at IS NOT NULL) LIMIT \(Self.chunk))
            RETURNING 1
            """)
        _ = try await locked { connection, logger in
            _ = try await connection.query(
                """
                DELETE FROM rollcall.rooms r WHERE members = 0 AND changed_at < \(unescaped: cutoff)
                  AND NOT EXISTS (SELECT FROM rollcall.room_members m WHERE m.room = r.room)
                """, logger: logger)
            // Large messages wait in message_payloads only until every hub has read them.
            _ = try await connection.query(
                "DELETE FROM rollcall.message_payloads WHERE created_at < now() - \(Self.messagePayloadLifetime)::int * interval '1 second'",
                logger: logger)
        }
        return deleted
    }

    /// Runs `delete` (at most `chunk` rows, `RETURNING 1`), each time its own transaction, until it
    /// deletes fewer; returns the rows deleted, or nil when another hub held the lock from the start
    /// (if it takes the lock between two chunks, it carries on from there).
    private func inChunks(_ delete: PostgresQuery) async throws -> Int? {
        var deleted = 0
        while true {
            let count = try await locked { connection, logger in try await connection.query(delete, logger: logger).collect().count }
            guard let count else { return deleted == 0 ? nil : deleted }
            deleted += count
            if count < Self.chunk { return deleted }
        }
    }

    /// Runs `body` in a transaction that holds the sweep's lock; nil when another hub holds it.
    private func locked<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection, Logger) async throws -> T) async throws -> T? {
        let logger = logger
        return try await client.withConnection(within: Self.patience) { connection in
            try await connection.withTransaction(logger: logger) { connection -> T? in
                let lock = try await connection.query("SELECT pg_try_advisory_xact_lock(\(Self.lockKey))", logger: logger)
                guard try await lock.collect().first?.decode(Bool.self) == true else { return nil }
                return try await body(connection, logger)
            }
        }
    }
}
