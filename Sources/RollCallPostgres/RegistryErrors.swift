import PostgresNIO

/// The database did not take a write; the hub answers 503 / `unavailable`.
public struct RegistryUnavailable: Error, CustomStringConvertible {
    public let underlying: any Error
    public var description: String { "the database is unavailable: \(String(reflecting: underlying))" }
}

/// The writer's run loop has ended (the hub failed to start, or shut down): nothing more is written.
public struct WriterStopped: Error, CustomStringConvertible {
    public var description: String { "the registry writer has stopped" }
}

/// Why a batch's transaction failed, read once from the error, which decides what the writer does.
enum BatchFailure {
    /// Deadlock or serialization failure (`40P01`, `40001`): the batch is simply tried again.
    case conflict(sqlState: String)
    /// The server refused something in a request itself (bad data, a constraint, a limit such as
    /// NOTIFY's payload size, an exception a trigger raised): the same request fails again, so
    /// the batch is split until it stands alone.
    case refused(PSQLError)
    /// Anything else (connection loss, timeouts, lock waits, shortages): not the requests' fault;
    /// the queue decides what is retried.
    case unavailable

    init(_ error: any Error) {
        if error is RoomsMoved || (error as? PostgresTransactionError)?.closureError is RoomsMoved {
            self = .conflict(sqlState: "rooms moved")
            return
        }
        guard let refusal = Self.serverError(in: error), let sqlState = refusal.serverInfo?[.sqlState], sqlState.count == 5 else {
            self = .unavailable
            return
        }
        if sqlState == "40P01" || sqlState == "40001" {
            self = .conflict(sqlState: sqlState)
        } else if Self.requestFaultClasses.contains(String(sqlState.prefix(2))) {
            self = .refused(refusal)
        } else {
            self = .unavailable
        }
    }

    /// SQLSTATE classes of faults in the request: data, integrity, SQL routine, syntax or access,
    /// check option, resources and limits, PL/pgSQL, feature not supported.
    private static let requestFaultClasses: Set<String> = ["21", "22", "23", "2F", "42", "44", "54", "P0", "0A"]

    /// What the server said, inside the wrapper `withTransaction` puts around it.
    private static func serverError(in error: any Error) -> PSQLError? {
        if let transaction = error as? PostgresTransactionError {
            return [transaction.closureError, transaction.commitError, transaction.beginError].lazy.compactMap { $0 as? PSQLError }.first
        }
        return error as? PSQLError
    }
}
