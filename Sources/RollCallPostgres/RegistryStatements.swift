import Foundation
import PostgresNIO
import RollCall

/// The writer's SQL, all of it. The statements every batch runs are prepared once per pooled
/// connection: PostgreSQL parses and analyses each of them once instead of once per batch, and the
/// hub sends Bind/Execute only. Rarer statements (server closes, reopens, purges, stored messages,
/// a late batch's questions) are plain queries, at the end.
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
            SET connected = false, disconnected_at = now(), close_reason = t.reason, closed_in = pg_current_xact_id()
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

    /// The batch's counters in one statement: every user's row created if new, locked in
    /// `user_id` order (so concurrent hubs cannot deadlock) and given its connection delta.
    /// Without grace (`$3`), a user whose count reaches zero goes offline at once; with it, the user
    /// stays online with `offline_pending_since` set until the grace is finished. Each row says
    /// whether this transaction flipped `online` (`changed_in`, migration 005).
    ///
    /// The proposed row is what a new user becomes: online, with the connections the batch opened.
    /// PostgreSQL checks it against `connections >= 0` even when it only updates, so a batch that
    /// closes connections proposes `online = false` with how many it closed; it only ever updates
    /// (a user's row exists from its first open on, and is never deleted).
    struct CountConnections: PostgresPreparedStatement {
        static let sql = """
            INSERT INTO rollcall.users AS u (user_id, connections, online, online_since, last_seen_at, version, changed_in)
            SELECT d.user_id, abs(d.delta), d.delta > 0, now(), now(), 1, pg_current_xact_id()
            FROM unnest($1::text[], $2::int[]) AS d(user_id, delta)
            ORDER BY 1
            ON CONFLICT (user_id) DO UPDATE SET
                connections = \(after),
                online = CASE WHEN \(after) > 0 THEN true WHEN $3 THEN false ELSE u.online END,
                online_since = CASE
                    WHEN \(after) > 0 THEN CASE WHEN u.online THEN u.online_since ELSE now() END
                    WHEN $3 THEN NULL ELSE u.online_since END,
                offline_pending_since = CASE WHEN \(after) = 0 AND u.online AND NOT $3 THEN now() END,
                last_seen_at = now(),
                version = u.version + CASE WHEN \(flips) THEN 1 ELSE 0 END,
                changed_in = CASE WHEN \(flips) THEN pg_current_xact_id() ELSE u.changed_in END
            RETURNING u.user_id, u.connections, u.online, u.version, u.changed_in IS NOT DISTINCT FROM pg_current_xact_id(), now()
            """
        /// The user's connections after the batch.
        private static let after = "(u.connections + CASE WHEN excluded.online THEN excluded.connections ELSE -excluded.connections END)"
        /// Whether the update turns `online` over: on with a first connection, off with the last
        /// when there is no grace.
        private static let flips = "(\(after) > 0 AND NOT u.online) OR (\(after) = 0 AND u.online AND $3)"
        typealias Row = (String, Int, Bool, Int64, Bool, Date)

        let users: [String]
        let deltas: [Int]
        let offlineAtOnce: Bool

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 3)
            bindings.append(users)
            bindings.append(deltas)
            bindings.append(offlineAtOnce)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
    }

    /// Offline for the given users whose grace has run out with no connection anywhere (the batch's
    /// due graces; the purge's sweep of every user is a plain query).
    struct FinishGrace: PostgresPreparedStatement {
        static let sql = """
            UPDATE rollcall.users
            SET online = false, online_since = NULL, offline_pending_since = NULL, version = version + 1, changed_in = pg_current_xact_id()
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

    // MARK: Plain queries

    /// Every open row of `server`, closed; returns rows as `WriteCloses` does.
    static func closeServer(_ server: String, reason: CloseReason) -> PostgresQuery {
        """
        UPDATE rollcall.connections
        SET connected = false, disconnected_at = now(), close_reason = \(reason.rawValue), closed_in = pg_current_xact_id()
        WHERE server_id = \(server) AND connected
        RETURNING connection_id, user_id, server_id, user_agent, disconnected_at, close_reason
        """
    }

    typealias ReopenedRow = (UUID, String, String?, Date)

    /// Rows of `server` that a purge closed while their sockets lived on, open again (taken out of
    /// the history's rollups first if a pass had rolled them up: migration 006).
    static func reopen(_ ids: [ConnectionID], of server: String) -> PostgresQuery {
        "SELECT connection_id, user_id, user_agent, created_at FROM rollcall.reopen_orphaned(\(ids.map(\.uuid))::uuid[], \(server))"
    }

    /// Every grace that ran out, whoever's hub started it; returns rows as `FinishGrace` does.
    static func finishEveryGrace(graceMilliseconds: Int64) -> PostgresQuery {
        """
        UPDATE rollcall.users
        SET online = false, online_since = NULL, offline_pending_since = NULL, version = version + 1, changed_in = pg_current_xact_id()
        WHERE online AND connections = 0
          AND offline_pending_since <= now() - \(graceMilliseconds) * interval '1 millisecond'
        RETURNING user_id, version, now()
        """
    }

    /// Key of the advisory lock that lets one hub purge at a time (held for the transaction).
    static let purgeLockKey: Int64 = 0x726F_6C6C_7075_7267  // "rollpurg"

    static var tryPurgeLock: PostgresQuery { "SELECT pg_try_advisory_xact_lock(\(purgeLockKey))" }

    /// The open rows of other hubs whose heartbeat is older than `window`, closed as `orphaned`
    /// at the later of that heartbeat and their start; returns rows as `WriteCloses` does.
    static func purgeOrphans(window: Duration, except server: String) -> PostgresQuery {
        """
        UPDATE rollcall.connections AS c
        SET connected = false, disconnected_at = greatest(s.heartbeat_at, c.created_at), close_reason = 'orphaned',
            closed_in = pg_current_xact_id()
        FROM rollcall.servers AS s
        WHERE c.server_id = s.server_id AND c.connected AND s.server_id <> \(server)
          AND s.heartbeat_at < now() - \(window.milliseconds) * interval '1 millisecond'
        RETURNING c.connection_id, c.user_id, c.server_id, c.user_agent, c.disconnected_at, c.close_reason
        """
    }

    static func markPurged(_ servers: [String]) -> PostgresQuery {
        "UPDATE rollcall.servers SET purged_at = now() WHERE server_id = ANY(\(servers)::text[])"
    }

    /// Stored messages are read by every hub that wants them within moments.
    static var deleteOldPayloads: PostgresQuery { "DELETE FROM rollcall.message_payloads WHERE created_at < now() - interval '5 minutes'" }

    /// Messages too large for NOTIFY; returns `(id, recipient)` per message.
    static func storePayloads(recipients: [String], bodies: [String]) -> PostgresQuery {
        """
        INSERT INTO rollcall.message_payloads (recipient, body)
        SELECT * FROM unnest(\(recipients)::text[], \(bodies)::text[])
        RETURNING id, recipient
        """
    }

    /// Stops a late batch's backend, if it is still one of the hubs' own.
    static func terminate(backend: Int32) -> PostgresQuery {
        """
        SELECT pg_terminate_backend(pid) FROM pg_stat_activity
        WHERE pid = \(backend) AND application_name = \(DatabaseLocation.applicationName)
        """
    }

    /// `committed`, `aborted`, `in progress`, or NULL when too old to know.
    static func fate(ofTransaction id: String) -> PostgresQuery { "SELECT pg_xact_status(\(id)::xid8)::text" }

    static var pendingGraces: PostgresQuery { "SELECT user_id FROM rollcall.users WHERE offline_pending_since IS NOT NULL" }
}
