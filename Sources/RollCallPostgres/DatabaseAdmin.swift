import Logging
import NIOPosix
import PostgresNIO

/// Cluster-level chores done on a single short-lived connection: databases come and go.
public enum DatabaseAdmin {
    /// Creates database `name` on the server of `location` unless it exists.
    public static func createDatabaseIfMissing(_ name: String, at location: DatabaseLocation, logger: Logger) async throws {
        try await withConnection(to: location.with(database: "postgres"), logger: logger) { connection in
            let rows = try await connection.query("SELECT 1 FROM pg_database WHERE datname = \(name)", logger: logger)
            guard try await rows.collect().isEmpty else { return }
            do {
                try await connection.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(quoteIdentifier(name))"), logger: logger)
            } catch let error as PSQLError where error.serverInfo?[.sqlState] == "42P04" {
                // Created meanwhile by another process: what we wanted.
            }
        }
    }

    /// Drops database `name`, ending its sessions first.
    public static func dropDatabase(_ name: String, at location: DatabaseLocation, logger: Logger) async throws {
        try await withConnection(to: location.with(database: "postgres"), logger: logger) { connection in
            try await connection.query(
                PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(quoteIdentifier(name)) WITH (FORCE)"), logger: logger)
        }
    }

    @discardableResult
    public static func withConnection<Result: Sendable>(
        to location: DatabaseLocation, logger: Logger,
        _ body: (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        var configuration: PostgresConnection.Configuration
        switch location.endpoint {
        case .tcp(let host, let port):
            configuration = .init(
                host: host, port: port, username: location.username, password: location.password,
                database: location.database, tls: .disable)
        case .unixSocket(let directory, let port):
            configuration = .init(
                unixSocketPath: "\(directory)/.s.PGSQL.\(port)", username: location.username,
                password: location.password, database: location.database)
        }
        configuration.options.additionalStartupParameters = [("application_name", DatabaseLocation.applicationName)]
        let connection = try await PostgresConnection.connect(
            on: MultiThreadedEventLoopGroup.singleton.next(), configuration: configuration, id: 0, logger: logger)
        do {
            let result = try await body(connection)
            try await connection.close()
            return result
        } catch {
            try? await connection.close()
            throw error
        }
    }

    static func quoteIdentifier(_ name: String) -> String {
        "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
