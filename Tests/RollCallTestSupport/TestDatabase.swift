import Foundation
import Logging
import PostgresNIO
import RollCallPostgres

/// The one PostgreSQL cluster of a test run: the embedded cluster code itself, under `.build`,
/// so tests exercise what `rollcall serve` runs. Each test gets a database of its own.
public actor TestCluster {
    public static let shared = TestCluster()

    private var started: Task<EmbeddedPostgres, any Error>?
    private var template: Task<String, any Error>?

    /// `.build/test-postgres` of this package, or `ROLLCALL_TEST_DATA_DIR`.
    static var dataDirectory: URL {
        if let directory = ProcessInfo.processInfo.environment["ROLLCALL_TEST_DATA_DIR"] {
            return URL(fileURLWithPath: directory, isDirectory: true)
        }
        let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return packageRoot.appendingPathComponent(".build/test-postgres", isDirectory: true)
    }

    public func cluster() async throws -> EmbeddedPostgres {
        if let started { return try await started.value }
        let starting = Task { try await blocking(Self.start) }
        started = starting
        return try await starting.value
    }

    private static func start() throws -> EmbeddedPostgres {
        try FileManager.default.createDirectory(at: Self.dataDirectory, withIntermediateDirectories: true)
        // Many hubs run at once in a test run, each with a pool and a LISTEN connection. Every
        // test makes and drops a database of its own, each drop a checkpoint of the whole cluster:
        // with fsync on, one of them took 45 s to sync 45,000 files under a full run, and every
        // commit (and so every hub's NOTIFY, which commits one at a time cluster-wide) waited on
        // the disk meanwhile. The tests check what PostgreSQL answers, not that its files survive
        // a power cut: this cluster does not fsync. (Private clusters, and every hub's, do.)
        let cluster = try EmbeddedPostgres(dataDirectory: Self.dataDirectory, maxConnections: 1000, settings: ["fsync=off"], logger: testLogger)
        // A cluster still running belongs to an earlier run (its watchdog may be stopping it right
        // now): stop it, so that this run owns the one it starts.
        if cluster.isRunning() { cluster.stop() }
        _ = try cluster.start()
        try Self.stopWhenThisProcessExits(cluster)
        return cluster
    }

    /// The database every test's database is a copy of: made and migrated once per run. Copying
    /// it costs a fraction of migrating each one anew, and a full run makes hundreds of them, most
    /// of them at once as the run starts.
    public func migratedTemplate() async throws -> String {
        if let template { return try await template.value }
        let cluster = try await cluster()
        let making = Task {
            let name = "rollcall_test_template"
            let location = cluster.location(database: name)
            try await DatabaseAdmin.dropDatabase(name, at: location, logger: testLogger)
            try await DatabaseAdmin.createDatabaseIfMissing(name, at: location, logger: testLogger)
            _ = try await RegistryDatabase.migrate(location, logger: testLogger)
            return name
        }
        template = making
        return try await making.value
    }

    /// Swift Testing has no hook after the last test, so a detached watchdog stops the cluster once
    /// the test process is gone, however it ended: the test command leaves no server running.
    private static func stopWhenThisProcessExits(_ cluster: EmbeddedPostgres) throws {
        let pgCtl = cluster.binaries.appendingPathComponent("pg_ctl").path
        let stop = geteuid() == 0 ? "runuser -u postgres -- \"$3\"" : "\"$3\""
        let script = """
            while [ -d "/proc/$1" ]; do sleep 0.5; done
            \(stop) stop -w -m fast -D "$2" >/dev/null 2>&1
            """
        // setsid -f: a session of its own, so a Ctrl-C on the test run does not kill the watchdog.
        let pid = try HubProcess.spawn(
            "/usr/bin/setsid", ["-f", "/bin/bash", "-c", script, "rollcall-test-watchdog", "\(getpid())", cluster.clusterDirectory.path, pgCtl],
            output: URL(fileURLWithPath: "/dev/null"))
        reapWhenDone(pid)
    }
}

public let testLogger: Logger = {
    var logger = Logger(label: "rollcall-test")
    logger.logLevel = ProcessInfo.processInfo.environment["TEST_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .warning
    return logger
}()

/// Runs `body` against a new, migrated database that is dropped afterwards.
public func withTestDatabase<T: Sendable>(_ body: (DatabaseLocation) async throws -> T) async throws -> T {
    do {
        return try await withTestDatabaseUnexplained(body)
    } catch let error as PSQLError {
        // PSQLError hides what the server said; a failing test should show it.
        throw ExplainedError(description: String(reflecting: error))
    }
}

public struct ExplainedError: Error, CustomStringConvertible {
    public let description: String
}

private func withTestDatabaseUnexplained<T: Sendable>(_ body: (DatabaseLocation) async throws -> T) async throws -> T {
    let cluster = try await TestCluster.shared.cluster()
    let template = try await TestCluster.shared.migratedTemplate()
    let name = "rollcall_test_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16).lowercased()
    let location = cluster.location(database: name)
    try await DatabaseAdmin.withConnection(to: location.with(database: "postgres"), logger: testLogger) { connection in
        try await connection.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name) TEMPLATE \(template)"), logger: testLogger)
    }
    do {
        // Finds every migration applied, as a hub starting on it would.
        _ = try await RegistryDatabase.migrate(location, logger: testLogger)
        let result = try await body(location)
        try await DatabaseAdmin.dropDatabase(name, at: location, logger: testLogger)
        return result
    } catch {
        try? await DatabaseAdmin.dropDatabase(name, at: location, logger: testLogger)
        throw error
    }
}

/// Runs one query on its own connection and returns the rows: what a person with psql would see.
public func sql<each Column: PostgresDecodable>(
    _ location: DatabaseLocation, _ query: PostgresQuery, as type: (repeat each Column).Type
) async throws -> [(repeat each Column)] {
    // A query whose connection was closed under it is never answered: a bounded wait that also
    // gives way to cancellation, so no test can hang on one.
    let rows = try await withDeadline(.seconds(30)) {
        try await DatabaseAdmin.withConnection(to: location, logger: testLogger) { connection in
            try await connection.query(query, logger: testLogger).collect()
        }
    }
    return try rows.map { try $0.decode(type) }
}

/// Users whose `connections` counter differs from their open rows, and, unless offline graces may
/// still be running, users whose `online` differs from having a connection open.
public func usersWithWrongCounters(_ location: DatabaseLocation, graceMayRun: Bool = false) async throws -> [String] {
    try await sql(
        location,
        """
        SELECT u.user_id FROM rollcall.users u
        WHERE u.connections <> (SELECT count(*) FROM rollcall.connections c WHERE c.user_id = u.user_id AND c.connected)
           OR (NOT \(graceMayRun) AND u.online <> (u.connections > 0))
        """, as: String.self)
}

public func execute(_ location: DatabaseLocation, _ query: PostgresQuery) async throws {
    try await withDeadline(.seconds(30)) {
        try await DatabaseAdmin.withConnection(to: location, logger: testLogger) { connection in
            _ = try await connection.query(query, logger: testLogger)
        }
    }
}

/// Waits until `condition` holds, polling; fails after a generous deadline. Never a speed assertion.
public func eventually(
    timeout: Duration = .seconds(20), _ what: String = "condition",
    _ condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(50))
    }
    throw TimedOut(what: what)
}

/// Polls `attempt` until it gives a value; fails after a generous deadline.
public func eventuallyValue<Value>(
    timeout: Duration = .seconds(20), _ what: String = "value",
    _ attempt: () async throws -> Value?
) async throws -> Value {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if let value = try await attempt() { return value }
        try await Task.sleep(for: .milliseconds(50))
    }
    throw TimedOut(what: what)
}

public struct TimedOut: Error, CustomStringConvertible {
    public let what: String
    public var description: String { "timed out waiting for \(what)" }
}

/// Runs `body` with a connection pool that lives only as long as the call.
public func withTestClient<Result: Sendable>(
    _ location: DatabaseLocation, _ body: @Sendable (PostgresClient) async throws -> Result
) async throws -> Result {
    var quiet = testLogger
    // The pool warns when leased before its run() task has started; here that is expected.
    quiet.logLevel = .error
    let client = PostgresClient(configuration: location.clientConfiguration, backgroundLogger: quiet)
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { await client.run() }
        defer { group.cancelAll() }
        return try await body(client)
    }
}

/// Makes the database refuse any connection row with user agent `poison` (a trigger raising
/// "poisoned user agent"): a request no retry can fix, for the writer to isolate.
public func refusePoisonedRows(_ location: DatabaseLocation) async throws {
    try await execute(
        location,
        """
        CREATE FUNCTION public.refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.user_agent = 'poison' THEN RAISE EXCEPTION 'poisoned user agent'; END IF;
            RETURN NEW;
        END $$
        """)
    try await execute(
        location, "CREATE TRIGGER refuse_poison BEFORE INSERT ON rollcall.connections FOR EACH ROW EXECUTE FUNCTION public.refuse_poison()")
}
