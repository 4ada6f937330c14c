import Foundation
import Logging
import PostgresNIO

/// A hub's own row in `rollcall.servers`.
public struct ServerRegistration: Sendable {
    let client: PostgresClient
    let serverID: String
    let logger: Logger

    public init(client: PostgresClient, serverID: String, logger: Logger) {
        self.client = client
        self.serverID = serverID
        self.logger = logger
    }

    /// Longest a registration or the stop's record may take: past the server's own statement
    /// timeout (8 s), so that normally the server answers first.
    static let patience: Duration = .seconds(10)

    /// Marks the hub started (again): fresh start and heartbeat, not stopped.
    public func register(version: String, host: String) async throws {
        let serverID = serverID, logger = logger
        try await client.withConnection(within: Self.patience) { connection in
            _ = try await connection.query(
                """
                INSERT INTO rollcall.servers (server_id, started_at, heartbeat_at, stopped_at, version, host)
                VALUES (\(serverID), now(), now(), NULL, \(version), \(host))
                ON CONFLICT (server_id) DO UPDATE SET
                    started_at = now(), heartbeat_at = now(), stopped_at = NULL, purged_at = NULL,
                    version = EXCLUDED.version, host = EXCLUDED.host
                """, logger: logger)
        }
    }

    /// Vouches for every open connection of this hub with one write. Returns when a purge last
    /// closed this hub's rows (nil: never, this run), or throws `Unregistered` if the row is gone.
    /// Past `limit` it throws `DeadlinePassed` and closes the connection it waited on.
    public func heartbeat(within limit: Duration) async throws -> Date? {
        let serverID = serverID, logger = logger
        return try await client.withConnection(within: limit) { connection in
            let rows = try await connection.query(
                "UPDATE rollcall.servers SET heartbeat_at = now() WHERE server_id = \(serverID) RETURNING purged_at", logger: logger)
            guard let row = try await rows.collect().first else { throw Unregistered() }
            return try row.decode(Date?.self)
        }
    }

    public struct Unregistered: Error {}

    public func markStopped() async throws {
        let serverID = serverID, logger = logger
        try await client.withConnection(within: Self.patience) { connection in
            _ = try await connection.query(
                "UPDATE rollcall.servers SET stopped_at = now(), heartbeat_at = now() WHERE server_id = \(serverID)", logger: logger)
        }
    }
}
