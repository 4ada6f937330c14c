import Foundation
import PostgresNIO

/// The statements every batch runs, prepared once per pooled connection: PostgreSQL parses and
/// analyses each of them once instead of once per batch, and the hub sends Bind/Execute only.
/// Rarer statements (reopens, purges) stay plain queries.
enum RegistryStatements {
    /// A batch's rows and counters in one round trip: `rollcall.apply_batch` (migration 005) runs
    /// what were six statements, and returns one row of arrays, each group as long as its rows.
    struct ApplyBatch: PostgresPreparedStatement {
        static let sql = """
            SELECT * FROM rollcall.apply_batch($1::text, $2::uuid[], $3::text[], $4::text[], $5::text[], $6::uuid[], $7::text[],
                $8::text[], $9::text[], $10::text[], $11::integer[], $12::boolean, $13::text[], $14::bigint, $15::text[])
            """
        typealias Row = (
            // The transaction, its backend, its time.
            String, Int32, Date,
            // Opened rows: id, user, created at.
            [UUID], [String], [Date],
            // Closed rows: id, user, hub, user agent ("" for none), closed at, reason; then the rows each hub close closed.
            [UUID], [String], [String], [String], [Date], [String], [Int32],
            // Counters moved: user, connections, online, online before, version.
            [String], [Int32], [Bool], [Bool], [Int64],
            // Graces finished: user, version.
            [String], [Int64]
        )

        var server: String
        var openIDs: [UUID] = []
        var openUsers: [String] = []
        /// An open's agent and address are "" for none (`NULLIF` makes them NULL).
        var openAgents: [String] = []
        var openAddresses: [String] = []
        var closeIDs: [UUID] = []
        var closeReasons: [String] = []
        var serverCloses: [String] = []
        var serverCloseReasons: [String] = []
        /// Counts changed earlier in the transaction.
        var moreUsers: [String] = []
        var moreDeltas: [Int32] = []
        var allAtOnce: Bool
        var atOnce: [String] = []
        var graceMilliseconds: Int64
        var graceDue: [String] = []

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 15)
            bindings.append(server)
            bindings.append(openIDs)
            bindings.append(openUsers)
            bindings.append(openAgents)
            bindings.append(openAddresses)
            bindings.append(closeIDs)
            bindings.append(closeReasons)
            bindings.append(serverCloses)
            bindings.append(serverCloseReasons)
            bindings.append(moreUsers)
            bindings.append(moreDeltas)
            bindings.append(allAtOnce)
            bindings.append(atOnce)
            bindings.append(graceMilliseconds)
            bindings.append(graceDue)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
    }

    /// A closed row, as the rarer closes (a purge's) return it: id, user, hub, user agent, closed
    /// at, reason.
    typealias ClosedRow = (UUID, String, String, String?, Date, String)

    struct Notify: PostgresPreparedStatement {
        static let sql = "SELECT pg_notify($1, $2)"
        typealias Row = ()

        let channel: String
        let payload: String

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 2)
            bindings.append(channel)
            bindings.append(payload)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> Row {}
    }
}
