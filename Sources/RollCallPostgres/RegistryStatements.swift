import Foundation
import PostgresNIO

/// The statements every batch runs, prepared once per pooled connection: PostgreSQL parses and
/// analyses each of them once instead of once per batch, and the hub sends Bind/Execute only.
/// Rarer statements (server closes, reopens, purges) stay plain queries.
enum RegistryStatements {
    /// The batch's transaction id and backend, named before anything is written.
    struct Begin: PostgresPreparedStatement {
        static let sql = "SELECT pg_current_xact_id()::text, pg_backend_pid()"
        typealias Row = (String, Int32)

        func makeBindings() throws -> PostgresBindings { PostgresBindings() }
        func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
    }

    struct InsertOpens: PostgresPreparedStatement {
        static let sql = """
            INSERT INTO rollcall.connections (connection_id, user_id, server_id, user_agent, remote_addr)
            SELECT id, user_id, $1, NULLIF(agent, ''), NULLIF(address, '')::inet
            FROM unnest($2::uuid[], $3::text[], $4::text[], $5::text[]) AS t(id, user_id, agent, address)
            ON CONFLICT (connection_id) DO NOTHING
            RETURNING connection_id, user_id, created_at
            """
        typealias Row = (UUID, String, Date)

        let server: String
        let ids: [UUID]
        let users: [String]
        /// Empty for none (`NULLIF` makes it NULL), as are `addresses`.
        let agents: [String]
        let addresses: [String]

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 5)
            bindings.append(server)
            bindings.append(ids)
            bindings.append(users)
            bindings.append(agents)
            bindings.append(addresses)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
    }

    struct WriteCloses: PostgresPreparedStatement {
        static let sql = """
            UPDATE rollcall.connections AS c
            SET connected = false, disconnected_at = now(), close_reason = t.reason
            FROM unnest($1::uuid[], $2::text[]) AS t(id, reason)
            WHERE c.connection_id = t.id AND c.connected
            RETURNING c.connection_id, c.user_id, c.server_id, c.user_agent, c.disconnected_at, c.close_reason
            """
        typealias Row = (UUID, String, String, String?, Date, String)

        let ids: [UUID]
        let reasons: [String]

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 2)
            bindings.append(ids)
            bindings.append(reasons)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
    }

    /// Makes sure every user has a row and locks the rows in `user_id` order (so concurrent hubs
    /// cannot deadlock), returning each user's state before the batch.
    struct LockUsers: PostgresPreparedStatement {
        static let sql = """
            INSERT INTO rollcall.users AS u (user_id) SELECT unnest($1::text[]) ORDER BY 1
            ON CONFLICT (user_id) DO UPDATE SET user_id = u.user_id
            RETURNING u.user_id, u.online
            """
        typealias Row = (String, Bool)

        let users: [String]

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 1)
            bindings.append(users)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
    }

    /// Applies the batch's deltas to the locked counters. Without grace, a user whose count
    /// reaches zero goes offline at once; with it, the user stays online with
    /// `offline_pending_since` set until the grace is finished.
    struct ApplyCounters: PostgresPreparedStatement {
        static let sql = """
            UPDATE rollcall.users AS u SET
                connections = u.connections + d.delta,
                online = CASE WHEN u.connections + d.delta > 0 THEN true WHEN d.immediate THEN false ELSE u.online END,
                online_since = CASE
                    WHEN u.connections + d.delta > 0 THEN CASE WHEN u.online THEN u.online_since ELSE now() END
                    WHEN d.immediate THEN NULL ELSE u.online_since END,
                offline_pending_since = CASE WHEN u.connections + d.delta = 0 AND u.online AND NOT d.immediate THEN now() END,
                last_seen_at = now(),
                version = u.version + CASE
                    WHEN u.connections + d.delta > 0 AND NOT u.online THEN 1
                    WHEN u.connections + d.delta = 0 AND u.online AND d.immediate THEN 1
                    ELSE 0 END
            FROM unnest($1::text[], $2::int[], $3::bool[]) AS d(user_id, delta, immediate)
            WHERE u.user_id = d.user_id
            RETURNING u.user_id, u.connections, u.online, u.version, now()
            """
        typealias Row = (String, Int, Bool, Int64, Date)

        let users: [String]
        let deltas: [Int]
        let immediate: [Bool]

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 3)
            bindings.append(users)
            bindings.append(deltas)
            bindings.append(immediate)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
    }

    /// Offline for the given users whose grace has run out with no connection anywhere (the batch's
    /// due graces; the purge's sweep of every user is a plain query).
    struct FinishGrace: PostgresPreparedStatement {
        static let sql = """
            UPDATE rollcall.users SET online = false, online_since = NULL, offline_pending_since = NULL, version = version + 1
            WHERE user_id = ANY($1::text[]) AND online AND connections = 0
              AND offline_pending_since <= now() - $2::bigint * interval '1 millisecond'
            RETURNING user_id, version, now()
            """
        typealias Row = (String, Int64, Date)

        let users: [String]
        let graceMilliseconds: Int64

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 2)
            bindings.append(users)
            bindings.append(graceMilliseconds)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
    }

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
