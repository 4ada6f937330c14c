import Logging
import PostgresNIO

/// Deletes history past the retention: closed rows only, a thousand at a time in their own
/// statements, so writers never wait behind one big delete. One hub at a time (advisory lock).
public struct RetentionSweep: Sendable {
    let client: PostgresClient
    let logger: Logger

    static let lockKey: Int64 = 0x726F_6C6C_6869_7374  // "rollhist"
    static let chunk = 1000
    /// Seconds a stored message body is kept: hubs read it within moments of its notification.
    static let messagePayloadLifetime = 300

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    /// Returns the rows deleted, or nil when another hub was sweeping.
    public func run(retention: Duration) async throws -> Int? {
        try await client.withConnection { connection in
            let locked = try await connection.query("SELECT pg_try_advisory_lock(\(Self.lockKey))", logger: logger)
            guard try await locked.collect().first?.decode(Bool.self) == true else { return nil }
            var deleted = 0
            do {
                while true {
                    let rows = try await connection.query(
                        """
                        DELETE FROM rollcall.connections WHERE connection_id IN (
                            SELECT connection_id FROM rollcall.connections
                            WHERE NOT connected AND disconnected_at < now() - \(retention.milliseconds) * interval '1 millisecond'
                            LIMIT \(Self.chunk))
                        RETURNING 1
                        """, logger: logger)
                    let count = try await rows.collect().count
                    deleted += count
                    if count < Self.chunk { break }
                }
                // Large messages wait in message_payloads only until every hub has read them.
                try await connection.query(
                    "DELETE FROM rollcall.message_payloads WHERE created_at < now() - \(Self.messagePayloadLifetime)::int * interval '1 second'",
                    logger: logger)
            } catch {
                _ = try? await connection.query("SELECT pg_advisory_unlock(\(Self.lockKey))", logger: logger)
                throw error
            }
            _ = try await connection.query("SELECT pg_advisory_unlock(\(Self.lockKey))", logger: logger)
            return deleted
        }
    }
}
