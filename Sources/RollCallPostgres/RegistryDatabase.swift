import Logging
import PostgresNIO

/// Short jobs against the registry database, outside a running hub (CLI commands, tests).
public enum RegistryDatabase {
    /// Applies pending migrations; returns the names applied.
    public static func migrate(_ location: DatabaseLocation, logger: Logger) async throws -> [String] {
        let migrations = try Migration.bundled()
        return try await DatabaseAdmin.withConnection(to: location, logger: logger) { connection in
            try await Migrator(logger: logger).migrate(migrations, on: connection)
        }
    }
}
