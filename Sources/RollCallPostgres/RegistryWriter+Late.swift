import Foundation
import Logging
import PostgresNIO

/// An attempt whose answer did not come within its deadline may still have committed (a slow
/// disk, a lost reply). Telling its clients "failed" then would be wrong: an open refused whose row
/// exists, a message answered `unavailable` and delivered anyway. The writer asks instead.
extension RegistryWriter {
    enum Settled: Equatable {
        case committed, aborted, unknown
    }

    /// Stops the backend if it still runs the transaction (it then commits now or never), and reads
    /// the transaction's fate. `unknown` when the database cannot be asked within a few seconds.
    func settle(_ transaction: ConnectionSlot.Transaction) async -> Settled {
        let serverID = serverID
        do {
            let slot = ConnectionSlot()
            return try await withDeadline(.seconds(5), onAbandon: slot.closeConnection) {
                // The pool may first hand out the connection the deadline just closed: try again.
                while true {
                    do {
                        return try await self.askFate(of: transaction, slot: slot)
                    } catch  where Self.isClosedConnection(error) {
                        try await Task.sleep(for: .milliseconds(20))
                    }
                }
            }
        } catch {
            logger.warning(
                "could not learn whether a late registry batch committed",
                metadata: [
                    "error": "\(String(reflecting: error))", "server_id": "\(serverID)",
                ])
            return .unknown
        }
    }

    private func askFate(of transaction: ConnectionSlot.Transaction, slot: ConnectionSlot) async throws -> Settled {
        try await client.withConnection { connection in
            // The pool may not yet know that the attempt's connection closed: never query a closed one.
            if connection.isClosed { throw StaleConnection() }
            slot.use(connection)
            _ = try await connection.query(RegistryStatements.terminate(backend: transaction.backend), logger: self.logger)
            while true {
                let rows = try await connection.query(RegistryStatements.fate(ofTransaction: transaction.id), logger: self.logger)
                var status: String?
                for try await value in rows.decode(String?.self) { status = value }
                switch status {
                case "committed": return .committed
                case "aborted": return .aborted
                case "in progress": try await Task.sleep(for: .milliseconds(20))
                default: return .unknown
                }
            }
        }
    }

    private struct StaleConnection: Error {}

    /// The connection was closed before or under the query: another lease may do.
    private static func isClosedConnection(_ error: any Error) -> Bool {
        if error is StaleConnection { return true }
        guard let error = error as? PSQLError else { return false }
        return error.code == .clientClosedConnection || error.code == .serverClosedConnection
    }

    /// What a batch that committed late is known to have done: its requests succeeded. Its row
    /// details are gone with the lost answer; only the graces it may have started matter, and
    /// finishing a grace that is not pending does nothing, so every pending one is looked at.
    func lateOutcome() async -> BatchOutcome {
        var outcome = BatchOutcome()
        do {
            let logger = logger
            outcome.graceStarted = try await client.withConnection(within: .seconds(5)) { connection in
                let rows = try await connection.query(RegistryStatements.pendingGraces, logger: logger)
                var users: [String] = []
                for try await user in rows.decode(String.self) { users.append(user) }
                return users
            }
        } catch {
            logger.warning("pending graces of a late batch unknown", metadata: ["error": "\(String(reflecting: error))"])
        }
        return outcome
    }
}
