import Foundation
import Logging

/// A private PostgreSQL cluster under a data directory: created on first use, reachable only
/// through a unix socket inside it, found again when already running.
public struct EmbeddedPostgres: Sendable {
    public let clusterDirectory: URL
    public let logFile: URL
    /// Where `initdb`, `pg_ctl` and `postgres` are.
    public let binaries: URL
    let logger: Logger

    public static let superuser = "postgres"
    public static let port = 5432

    /// `max_connections` the cluster starts with: a hub takes a pool of up to 8 plus one LISTEN connection.
    let maxConnections: Int
    /// More `-c name=value` settings the server starts with.
    let settings: [String]

    public init(dataDirectory: URL, maxConnections: Int = 200, settings: [String] = [], logger: Logger) throws(EmbeddedPostgresError) {
        self.maxConnections = maxConnections
        self.settings = settings
        self.clusterDirectory = dataDirectory.appendingPathComponent("postgres", isDirectory: true).standardizedFileURL
        self.logFile = dataDirectory.appendingPathComponent("postgres.log").standardizedFileURL
        self.binaries = try Self.findBinaries()
        self.logger = logger
    }

    /// The database `name` in this cluster.
    public func location(database name: String) -> DatabaseLocation {
        DatabaseLocation(
            endpoint: .unixSocket(directory: clusterDirectory.path, port: Self.port),
            username: Self.superuser, password: nil, database: name)
    }

    /// Starts the cluster unless it runs already; returns whether this call started it.
    public func start() throws(EmbeddedPostgresError) -> Bool {
        let fileManager = FileManager.default
        if !fileManager.fileExists(atPath: clusterDirectory.appendingPathComponent("PG_VERSION").path) {
            try initialize()
        }
        if isRunning() { return false }
        logger.info("starting embedded PostgreSQL", metadata: ["directory": "\(clusterDirectory.path)"])
        let arguments = [
            "start", "-w", "-t", "60", "-D", clusterDirectory.path, "-l", logFile.path, "-o",
            (["max_connections=\(maxConnections)"] + settings).map { "-c \($0)" }.joined(separator: " "),
        ]
        var status = try run("pg_ctl", arguments)
        if status != 0, !isRunning() {
            // Right after a stop, the old server's socket lock may not be gone yet: try once more.
            Thread.sleep(forTimeInterval: 1)
            status = try run("pg_ctl", arguments)
        }
        guard status == 0 else {
            // Another command may have started it a moment ago.
            if isRunning() { return false }
            let log = (try? String(contentsOf: logFile, encoding: .utf8)) ?? ""
            throw .startFailed(log: logFile.path, lastLines: log.split(separator: "\n").suffix(5).joined(separator: "\n"))
        }
        return true
    }

    /// Stops the cluster (fast shutdown: open sessions are ended).
    public func stop() {
        logger.info("stopping embedded PostgreSQL", metadata: ["directory": "\(clusterDirectory.path)"])
        _ = try? run("pg_ctl", ["stop", "-w", "-m", "fast", "-D", clusterDirectory.path])
    }

    public func isRunning() -> Bool {
        (try? run("pg_ctl", ["status", "-D", clusterDirectory.path], quiet: true)) == 0
    }

    private func initialize() throws(EmbeddedPostgresError) {
        logger.info("creating embedded PostgreSQL cluster", metadata: ["directory": "\(clusterDirectory.path)"])
        let fileManager = FileManager.default
        do {
            try fileManager.createDirectory(at: clusterDirectory, withIntermediateDirectories: true)
            try fileManager.setAttributes([.posixPermissions: 0o700], ofItemAtPath: clusterDirectory.path)
            if Self.runningAsRoot {
                // PostgreSQL refuses to run as root: the cluster belongs to the postgres user,
                // who must be able to reach it and write its log beside it.
                try makeTraversable(clusterDirectory.deletingLastPathComponent())
                _ = try run("/bin/chown", ["postgres:postgres", clusterDirectory.path], asPostgres: false)
                _ = fileManager.createFile(atPath: logFile.path, contents: nil, attributes: [.posixPermissions: 0o600])
                _ = try run("/bin/chown", ["postgres:postgres", logFile.path], asPostgres: false)
            }
        } catch {
            throw .initFailed(reason: "cannot prepare \(clusterDirectory.path): \(error)")
        }
        let status = try run(
            "initdb",
            [
                "-D", clusterDirectory.path, "-U", Self.superuser, "--auth=trust", "--encoding=UTF8", "--no-locale",
            ], quiet: true)
        guard status == 0 else { throw .initFailed(reason: "initdb exited with status \(status)") }
        let settings = """

            # RollCall embedded cluster: no TCP, socket inside the cluster directory.
            listen_addresses = ''
            unix_socket_directories = '\(clusterDirectory.path)'
            fsync = on

            """
        do {
            let handle = try FileHandle(forWritingTo: clusterDirectory.appendingPathComponent("postgresql.conf"))
            try handle.seekToEnd()
            try handle.write(contentsOf: Data(settings.utf8))
            try handle.close()
        } catch {
            throw .initFailed(reason: "cannot write postgresql.conf: \(error)")
        }
    }

    /// Opens every directory from `directory` up to the root for traversal by others (o+x, which
    /// lets the postgres user reach its cluster): nothing more, no listing, no group bits.
    private func makeTraversable(_ directory: URL) throws {
        var current = directory.standardizedFileURL
        while current.path != "/" {
            let attributes = try FileManager.default.attributesOfItem(atPath: current.path)
            let mode = (attributes[.posixPermissions] as? Int) ?? 0
            if mode & 0o001 == 0 {
                try FileManager.default.setAttributes([.posixPermissions: mode | 0o001], ofItemAtPath: current.path)
            }
            current = current.deletingLastPathComponent()
        }
    }

    @discardableResult
    private func run(_ tool: String, _ arguments: [String], quiet: Bool = false, asPostgres: Bool = true) throws(EmbeddedPostgresError) -> Int32 {
        let executable = tool.hasPrefix("/") ? tool : binaries.appendingPathComponent(tool).path
        do {
            if asPostgres && Self.runningAsRoot {
                return try ChildProcess.run(
                    "/usr/sbin/runuser", ["-u", "postgres", "--", executable] + arguments, silenceOutput: true, silenceErrors: quiet)
            }
            return try ChildProcess.run(executable, arguments, silenceOutput: true, silenceErrors: quiet)
        } catch {
            throw .launchFailed(tool: executable, reason: error.description)
        }
    }

    static var runningAsRoot: Bool { geteuid() == 0 }

    /// Where `initdb` and `pg_ctl` are: `pg_config --bindir`, else the newest /usr/lib/postgresql/N/bin.
    static func findBinaries() throws(EmbeddedPostgresError) -> URL {
        var candidates: [String] = []
        if let bindir = pgConfigBindir() { candidates.append(bindir) }
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []
        candidates += versions.compactMap(Int.init).sorted(by: >).map { "/usr/lib/postgresql/\($0)/bin" }
        candidates += ["/usr/local/bin", "/usr/bin", "/opt/homebrew/bin"]
        for candidate in candidates
        where ["initdb", "pg_ctl", "postgres"].allSatisfy({ FileManager.default.isExecutableFile(atPath: "\(candidate)/\($0)") }) {
            return URL(fileURLWithPath: candidate, isDirectory: true)
        }
        throw .binariesMissing
    }

    private static func pgConfigBindir() -> String? {
        // Not Foundation's `Process`, which can miss a child's exit on Linux and wait forever.
        guard let result = try? ChildProcess.output("/usr/bin/env", ["pg_config", "--bindir"]), result.status == 0 else { return nil }
        return result.output.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

public enum EmbeddedPostgresError: Error, CustomStringConvertible {
    case binariesMissing
    case initFailed(reason: String)
    case startFailed(log: String, lastLines: String)
    case launchFailed(tool: String, reason: String)

    public var description: String {
        switch self {
        case .binariesMissing:
            "PostgreSQL server binaries (initdb, pg_ctl, postgres) were not found. Install them "
                + "(Debian/Ubuntu: apt-get install postgresql; macOS: brew install postgresql@15), "
                + "or set DATABASE_URL to use a server you already run."
        case .initFailed(let reason): "could not create the embedded PostgreSQL cluster: \(reason)"
        case .startFailed(let log, let lastLines): "the embedded PostgreSQL did not start; its log is \(log), which ends:\n\(lastLines)"
        case .launchFailed(let tool, let reason): "could not run \(tool): \(reason)"
        }
    }
}
