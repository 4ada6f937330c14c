import ArgumentParser
import Foundation
import Logging
import PostgresNIO
import RollCall
import RollCallHub
import RollCallPostgres

/// Options every command takes, so all of them find the same database and secret.
struct CommonOptions: ParsableArguments {
    @Option(help: "Directory for the embedded database and generated secret (env: ROLLCALL_DATA_DIR).")
    var dataDir: String = ProcessInfo.processInfo.environment["ROLLCALL_DATA_DIR"] ?? ".rollcall"

    @Option(name: .customLong("database-url"), help: "PostgreSQL URL; without it an embedded cluster under --data-dir is used (env: DATABASE_URL).")
    var databaseURLOption: String?

    @Option(name: .customLong("jwt-secret"), help: "HS256 secret, at least 32 bytes (env: ROLLCALL_JWT_SECRET).")
    var jwtSecretOption: String?

    @Option(help: "trace, debug, info, notice, warning, error or critical (env: LOG_LEVEL).")
    var logLevel: String = ProcessInfo.processInfo.environment["LOG_LEVEL"] ?? "info"

    /// Environment variables read as durations and as whole numbers by some command.
    static let durationVariables = [
        "ROLLCALL_ORPHAN_WINDOW", "ROLLCALL_HEARTBEAT_INTERVAL", "ROLLCALL_PURGE_INTERVAL", "ROLLCALL_OFFLINE_GRACE",
        "ROLLCALL_RETENTION", "ROLLCALL_PING_INTERVAL", "ROLLCALL_BATCH_LINGER", "ROLLCALL_WRITE_DEADLINE", "ROLLCALL_WEBHOOK_TIMEOUT",
        "ROLLCALL_WEBHOOK_MAX_AGE",
    ]
    static let integerVariables = [
        "ROLLCALL_PORT", "ROLLCALL_MAX_BATCH", "ROLLCALL_MAX_MESSAGE_BYTES", "ROLLCALL_MAX_OUTBOUND_BYTES",
        "ROLLCALL_MAX_SOCKETS_PER_USER", "ROLLCALL_USER_OPEN_RATE", "ROLLCALL_ADDRESS_OPEN_RATE",
    ]

    /// A value in the environment that cannot be read stops the command, as a bad flag does,
    /// instead of quietly becoming the default.
    func validate() throws {
        let environment = ProcessInfo.processInfo.environment
        for name in Self.durationVariables {
            guard let text = environment[name] else { continue }
            do {
                _ = try DurationText.parse(text)
            } catch {
                throw ValidationError("\(name): \(error)")
            }
        }
        for name in Self.integerVariables {
            guard let text = environment[name], Int(text) == nil else { continue }
            throw ValidationError("\(name): '\(text)' is not a whole number")
        }
        if let text = environment["ROLLCALL_EXECUTOR"], Serve.TaskPlacement(rawValue: text) == nil {
            throw ValidationError("ROLLCALL_EXECUTOR: '\(text)' is neither event-loops nor pool")
        }
    }

    var databaseURL: String? { databaseURLOption ?? ProcessInfo.processInfo.environment["DATABASE_URL"] }
    var jwtSecret: String? { jwtSecretOption ?? ProcessInfo.processInfo.environment["ROLLCALL_JWT_SECRET"] }

    var dataDirectory: URL { URL(fileURLWithPath: dataDir, isDirectory: true).standardizedFileURL }

    var usesEmbeddedDatabase: Bool { (databaseURL ?? "").isEmpty }

    func makeLogger(_ label: String = "rollcall") -> Logger {
        var logger = Logger(label: label)
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        return logger
    }

    /// The secret: given, or (embedded default only) the one kept in the data directory, made on first use.
    func resolveSecret(logger: Logger) throws -> String {
        if let jwtSecret, !jwtSecret.isEmpty { return jwtSecret }
        guard usesEmbeddedDatabase else {
            throw CommandFailure("ROLLCALL_JWT_SECRET (or --jwt-secret) is required when DATABASE_URL is set")
        }
        let file = dataDirectory.appendingPathComponent("jwt-secret")
        if let stored = try? String(contentsOf: file, encoding: .utf8) {
            return stored.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        try FileManager.default.createDirectory(at: dataDirectory, withIntermediateDirectories: true)
        var generator = SystemRandomNumberGenerator()
        let secret = (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
        guard FileManager.default.createFile(atPath: file.path, contents: Data(secret.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw CommandFailure("cannot write the generated secret to \(file.path)")
        }
        logger.notice("generated a JWT secret", metadata: ["file": "\(file.path)"])
        return secret
    }

    /// Runs `body` against the configured database, stopping an embedded cluster this call started.
    func withDatabase<T>(logger: Logger, _ body: (DatabaseTarget) async throws -> T) async throws -> T {
        do {
            let target = try await DatabaseTarget.resolve(url: databaseURL, dataDirectory: dataDirectory, logger: logger)
            do {
                let result = try await body(target)
                await target.release(logger: logger)
                return result
            } catch {
                await target.release(logger: logger)
                throw error
            }
        } catch let error as PSQLError {
            // PSQLError's description is deliberately empty; its reflection says what PostgreSQL said.
            throw CommandFailure("database error: \(String(reflecting: error))")
        }
    }
}

extension DurationText {
    /// A duration option's value; a bad one is refused with the parser's own message.
    @Sendable static func parseArgument(_ text: String) throws -> Duration {
        do {
            return try parse(text)
        } catch {
            throw ValidationError(error.description)
        }
    }
}

/// An environment variable's duration, falling back to `default` when unset or unreadable.
func environmentDuration(_ name: String, default value: Duration) -> Duration {
    ProcessInfo.processInfo.environment[name].flatMap { try? DurationText.parse($0) } ?? value
}

func environmentInt(_ name: String, default value: Int) -> Int {
    ProcessInfo.processInfo.environment[name].flatMap(Int.init) ?? value
}

/// A failure the user can act on: printed as it is, without the usage text.
struct CommandFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
