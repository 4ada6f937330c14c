import PostgresNIO
import RollCallPostgres
import RollCallTestSupport
import Testing

@Suite("Migrations", .timeLimit(.minutes(2)))
struct MigratorTests {
    static let shipped = ["001_registry.sql", "002_grace_and_messages.sql", "003_purge_and_analytics.sql", "004_analyst_role.sql"]

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
                "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'rollcall' AND table_type = 'BASE TABLE' ORDER BY 1",
                as: String.self)
            #expect(tables == ["connections", "message_payloads", "schema_migrations", "servers", "users"])
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
}
