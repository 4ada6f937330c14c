import RollCallPostgres
import Testing

@Suite("Migration scripts", .timeLimit(.minutes(5)))
struct SQLScriptTests {
    @Test("statements split on semicolons outside quotes, dollar bodies and comments")
    func splitting() {
        let script = """
            -- a comment; with a semicolon
            CREATE TABLE t (a text DEFAULT 'x;y');
            CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql;
            /* block; comment */ CREATE INDEX i ON t (a);
            -- trailing comment only
            """
        let statements = SQLScript.statements(script)
        #expect(statements.count == 3)
        #expect(statements[0].hasSuffix("DEFAULT 'x;y')"))
        #expect(statements[1].contains("$$ SELECT 1; $$"))
        #expect(statements[2].hasSuffix("CREATE INDEX i ON t (a)"))
    }

    @Test("the shipped migrations are found and ordered")
    func bundled() throws {
        let migrations = try Migration.bundled()
        #expect(migrations.first?.name == "001_registry.sql")
        #expect(migrations.map(\.name) == migrations.map(\.name).sorted())
    }
}

@Suite("Database URLs", .timeLimit(.minutes(5)))
struct DatabaseLocationTests {
    @Test("a TCP URL with credentials")
    func tcp() throws {
        let location = try DatabaseLocation(url: "postgres://app:s%40cret@db.internal:6543/presence")
        #expect(location.endpoint == .tcp(host: "db.internal", port: 6543))
        #expect(location.username == "app")
        #expect(location.password == "s@cret")
        #expect(location.database == "presence")
        #expect(!location.redacted.contains("cret"))
    }

    @Test("a unix socket directory through ?host=")
    func socket() throws {
        let location = try DatabaseLocation(url: "postgresql://postgres@/rollcall?host=/var/run/postgresql")
        #expect(location.endpoint == .unixSocket(directory: "/var/run/postgresql", port: 5432))
        #expect(location.database == "rollcall")
    }

    @Test("anything else is refused without echoing it", arguments: ["mysql://a@b/c", "not a url", "postgres:///db"])
    func refused(url: String) {
        #expect(throws: DatabaseLocation.Invalid.self) { try DatabaseLocation(url: url) }
    }
}
