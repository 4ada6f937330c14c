import Foundation
import PostgresNIO
import RollCall

/// Where a PostgreSQL database is: parsed from `postgres://user:password@host:port/database`,
/// or a unix socket directory (`?host=/path` or the embedded cluster).
public struct DatabaseLocation: Sendable, Equatable {
    public enum Endpoint: Sendable, Equatable {
        case tcp(host: String, port: Int)
        case unixSocket(directory: String, port: Int)
    }

    public var endpoint: Endpoint
    public var username: String
    public var password: String?
    public var database: String

    public init(endpoint: Endpoint, username: String, password: String?, database: String) {
        self.endpoint = endpoint
        self.username = username
        self.password = password
        self.database = database
    }

    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
    }

    /// Parses a `postgres://` or `postgresql://` URL; the password never appears in an error.
    public init(url text: String) throws(Invalid) {
        guard let components = URLComponents(string: text),
            let scheme = components.scheme, scheme == "postgres" || scheme == "postgresql"
        else {
            throw Invalid(description: "DATABASE_URL must look like postgres://user:password@host:5432/database")
        }
        let query = Dictionary((components.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { $1 })
        if let mode = query["sslmode"], !["disable", "allow", "prefer"].contains(mode) {
            throw Invalid(description: "DATABASE_URL sslmode=\(mode) is not supported yet: RollCall connects without TLS")
        }
        let port = components.port ?? Int(query["port"] ?? "") ?? 5432
        let database = String(components.path.drop { $0 == "/" })
        if let socketDirectory = query["host"], socketDirectory.hasPrefix("/") {
            endpoint = .unixSocket(directory: socketDirectory, port: port)
        } else {
            guard let host = components.host, !host.isEmpty else {
                throw Invalid(description: "DATABASE_URL names no host")
            }
            endpoint = .tcp(host: host, port: port)
        }
        username = components.user.map { $0.removingPercentEncoding ?? $0 } ?? "postgres"
        password = components.password.map { $0.removingPercentEncoding ?? $0 }
        self.database = database.isEmpty ? username : database
    }

    /// The same server, another database.
    public func with(database: String) -> DatabaseLocation {
        var copy = self
        copy.database = database
        return copy
    }

    public var clientConfiguration: PostgresClient.Configuration { clientConfiguration(connections: 8) }

    /// A pool of at most `connections` sessions, each bounded by `sessionLimits(within:)`.
    public func clientConfiguration(connections: Int, within deadline: Duration = .seconds(10)) -> PostgresClient.Configuration {
        var configuration: PostgresClient.Configuration
        switch endpoint {
        case .tcp(let host, let port):
            configuration = .init(host: host, port: port, username: username, password: password, database: database, tls: .disable)
        case .unixSocket(let directory, let port):
            configuration = .init(
                unixSocketPath: "\(directory)/.s.PGSQL.\(port)", username: username, password: password, database: database)
        }
        configuration.options.minimumConnections = 0
        configuration.options.maximumConnections = connections
        configuration.options.additionalStartupParameters = [("application_name", Self.applicationName)] + Self.sessionLimits(within: deadline)
        return configuration
    }

    /// Bounds on every statement of a pool whose callers give up on a step after `deadline` (the
    /// writer's attempts, `--write-deadline`): a lock wait fails at half of it and a statement at
    /// four fifths, so a stuck query or lock wait ends as an error the caller can act on, before
    /// the caller abandons the step and closes its connection. The server also probes idle TCP
    /// peers, so it drops the sessions of a hub that vanished. Migrations lift the first two.
    /// A transaction that has waited 10 s for its hub's next statement belongs to an attempt the
    /// writer has given up on, or to a hub that is frozen (stopped, paused, swapped out): the
    /// server ends it, and with it the locks it holds, the purge's among them, which would
    /// otherwise keep every other hub from purging for as long as the frozen one stays frozen.
    static func sessionLimits(within deadline: Duration) -> [(String, String)] {
        let milliseconds = deadline.milliseconds
        return [
            ("statement_timeout", "\(milliseconds * 4 / 5)ms"), ("lock_timeout", "\(milliseconds / 2)ms"),
            ("idle_in_transaction_session_timeout", "10s"),
            ("tcp_keepalives_idle", "10"), ("tcp_keepalives_interval", "5"), ("tcp_keepalives_count", "3"),
        ]
    }

    /// The `application_name` of every connection this process opens: it tells this process's
    /// own sessions apart from other clients of a cluster (see `DatabaseTarget.release`).
    public static let applicationName = "rollcall-\(getpid())"

    /// Arguments and environment that point `psql` at this database.
    public var psqlInvocation: (arguments: [String], environment: [String: String]) {
        var arguments = ["-U", username, "-d", database]
        switch endpoint {
        case .tcp(let host, let port): arguments += ["-h", host, "-p", String(port)]
        case .unixSocket(let directory, let port): arguments += ["-h", directory, "-p", String(port)]
        }
        return (arguments, password.map { ["PGPASSWORD": $0] } ?? [:])
    }

    /// For logs: where, never the password.
    public var redacted: String {
        switch endpoint {
        case .tcp(let host, let port): "postgres://\(username)@\(host):\(port)/\(database)"
        case .unixSocket(let directory, _): "postgres://\(username)@/\(database)?host=\(directory)"
        }
    }
}
