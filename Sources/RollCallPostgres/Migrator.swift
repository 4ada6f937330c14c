import Foundation
import Logging
import PostgresNIO

/// One file of `sql/`, named `NNN_name.sql`.
public struct Migration: Sendable, Equatable {
    public let name: String
    public let sql: String

    public init(name: String, sql: String) {
        self.name = name
        self.sql = sql
    }

    /// The migrations shipped with RollCall, in the order they apply.
    public static func bundled() throws -> [Migration] {
        guard let directory = Bundle.module.url(forResource: "Migrations", withExtension: nil) else {
            throw MigrationError.missingBundle
        }
        let files = try FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)
            .filter { $0.pathExtension == "sql" }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
        return try files.map { Migration(name: $0.lastPathComponent, sql: try String(contentsOf: $0, encoding: .utf8)) }
    }
}

public enum MigrationError: Error, CustomStringConvertible {
    case missingBundle
    case changed(name: String)

    public var description: String {
        switch self {
        case .missingBundle:
            "the migrations bundle (rollcall_RollCallPostgres.resources) is not beside the executable"
        case .changed(let name):
            "migration \(name) was changed after it was applied: restore the file and add a new migration for the change"
        }
    }
}

/// Applies `sql/` migrations once each, in order, under an advisory lock, recording an md5 checksum.
public struct Migrator: Sendable {
    /// Key of the advisory lock that serialises migrating hubs.
    public static let lockKey: Int64 = 0x726F_6C6C_6361_6C6C  // "rollcall"

    let logger: Logger

    public init(logger: Logger) {
        self.logger = logger
    }

    /// Applies what is pending on `connection`; returns the names applied by this call.
    @discardableResult
    public func migrate(_ migrations: [Migration], on connection: PostgresConnection) async throws -> [String] {
        // A migration may rewrite a big table, and another hub may hold the lock while it does.
        try await connection.query("SET statement_timeout = 0", logger: logger)
        try await connection.query("SET lock_timeout = 0", logger: logger)
        try await connection.query("SELECT pg_advisory_lock(\(Self.lockKey))", logger: logger)
        do {
            let applied = try await apply(migrations, on: connection)
            try await connection.query("SELECT pg_advisory_unlock(\(Self.lockKey))", logger: logger)
            try await connection.query("RESET statement_timeout", logger: logger)
            try await connection.query("RESET lock_timeout", logger: logger)
            return applied
        } catch {
            _ = try? await connection.query("SELECT pg_advisory_unlock(\(Self.lockKey))", logger: logger)
            throw error
        }
    }

    /// Applies what is pending through a pooled connection. No deadline (a migration may rewrite a
    /// big table, or wait for another hub's), but a cancelled caller (a SIGTERM during start-up)
    /// closes the connection and returns at once instead of waiting for a statement to answer.
    @discardableResult
    public func migrate(_ migrations: [Migration], using client: PostgresClient) async throws -> [String] {
        try await client.withConnection(within: nil) { connection in
            try await migrate(migrations, on: connection)
        }
    }

    private func apply(_ migrations: [Migration], on connection: PostgresConnection) async throws -> [String] {
        try await connection.query("CREATE SCHEMA IF NOT EXISTS rollcall", logger: logger)
        try await connection.query(
            """
            CREATE TABLE IF NOT EXISTS rollcall.schema_migrations (
                name text PRIMARY KEY, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())
            """, logger: logger)
        var recorded: [String: String] = [:]
        for try await (name, checksum) in try await connection.query(
            "SELECT name, checksum FROM rollcall.schema_migrations", logger: logger
        ).decode((String, String).self) {
            recorded[name] = checksum
        }
        var applied: [String] = []
        for migration in migrations {
            let checksum = try await md5(migration.sql, on: connection)
            if let known = recorded[migration.name] {
                guard known == checksum else { throw MigrationError.changed(name: migration.name) }
                continue
            }
            try await connection.withTransaction(logger: logger) { connection in
                for statement in SQLScript.statements(migration.sql) {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                try await connection.query(
                    "INSERT INTO rollcall.schema_migrations (name, checksum) VALUES (\(migration.name), \(checksum))",
                    logger: logger)
            }
            logger.info("migration applied", metadata: ["migration": "\(migration.name)"])
            applied.append(migration.name)
        }
        return applied
    }

    private func md5(_ text: String, on connection: PostgresConnection) async throws -> String {
        let rows = try await connection.query("SELECT md5(\(text))", logger: logger)
        for try await checksum in rows.decode(String.self) { return checksum }
        return ""
    }
}
