import Logging
import PostgresNIO

/// Short jobs against the registry database, outside a running hub (CLI commands, tests).
public enum RegistryDatabase {
    /// Runs `body` with a connection pool that lives only as long as the call.
    public static func withClient<Result: Sendable>(
        _ location: DatabaseLocation, logger: Logger,
        _ body: @Sendable (PostgresClient) async throws -> Result
    ) async throws -> Result {
        let client = PostgresClient(configuration: location.clientConfiguration, backgroundLogger: logger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            return try await body(client)
        }
    }

    /// Applies pending migrations; returns the names applied.
    public static func migrate(_ location: DatabaseLocation, logger: Logger) async throws -> [String] {
        try await withClient(location, logger: logger) { client in
            try await Migrator(client: client, logger: logger).migrate(Migration.bundled())
        }
    }
}
