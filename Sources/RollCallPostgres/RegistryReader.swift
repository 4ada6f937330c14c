import Foundation
import Logging
import PostgresNIO
import RollCall

/// The questions a hub answers from the registry: presence, connection rows, servers.
public struct RegistryReader: Sendable {
    let client: PostgresClient
    let logger: Logger

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    /// Longest one read may take: past the server's own statement timeout (8 s), so that normally
    /// the server answers first, and a read on a connection that never answers still ends.
    static let patience: Duration = .seconds(10)

    private func read<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection, Logger) async throws -> T) async throws -> T {
        let logger = logger
        return try await client.withConnection(within: Self.patience) { try await body($0, logger) }
    }

    /// Presence of each user, in the order asked; users never seen are offline at version 0.
    public func presence(of users: [String]) async throws -> [UserPresence] {
        guard !users.isEmpty else { return [] }
        return try await read { connection, logger in
            let rows = try await connection.query(
                """
                SELECT user_id, online, connections, online_since, last_seen_at, version
                FROM rollcall.users WHERE user_id = ANY(\(users)::text[])
                """, logger: logger)
            let known = Dictionary(try await Self.presences(rows).map { ($0.userID, $0) }, uniquingKeysWith: { $1 })
            return users.map { known[$0] ?? .unknown($0) }
        }
    }

    /// A room's present members and version, read in one statement (one snapshot): a room nobody
    /// ever joined is empty at version 0.
    public func room(_ room: String) async throws -> RoomSnapshot {
        try await read { connection, logger in
            let rows = try await connection.query(
                """
                SELECT coalesce(r.version, 0), m.connection_id, m.user_id, m.state::text, m.joined_at
                FROM (SELECT \(room)::text AS room) AS asked
                LEFT JOIN rollcall.rooms r ON r.room = asked.room
                LEFT JOIN rollcall.room_members m ON m.room = asked.room AND m.present
                ORDER BY m.joined_at, m.connection_id
                """, logger: logger)
            var version: Int64 = 0
            var members: [RoomMember] = []
            for try await (at, id, user, state, joinedAt) in rows.decode((Int64, UUID?, String?, String?, Date?).self) {
                version = at
                guard let id, let user, let joinedAt else { continue }
                members.append(
                    RoomMember(
                        connectionID: ConnectionID(id), userID: user, state: state.flatMap { try? JSONParser.parse($0) } ?? .object([:]),
                        joinedAt: joinedAt))
            }
            return RoomSnapshot(room: room, version: version, members: members)
        }
    }

    /// A room's changes after `version`, in order, as its members heard them: each stretch that
    /// began after it is a `joined` (or an `updated`, when it follows a stretch its change ended),
    /// each one that ended after it for another reason than a change of state is a `left`. For a hub
    /// whose LISTEN was down: the notifications of that time are gone, the rows are not.
    public func roomEvents(_ room: String, after version: Int64) async throws -> [RoomEvent] {
        try await read { connection, logger in
            let rows = try await connection.query(
                """
                SELECT m.began_at_version, CASE WHEN p.connection_id IS NULL THEN 'joined' ELSE 'updated' END,
                       m.connection_id, m.user_id, m.state::text, m.since, NULL::text
                FROM rollcall.room_members m
                LEFT JOIN rollcall.room_members p ON p.room = m.room AND NOT p.present AND p.ended_at_version = m.began_at_version
                    AND p.connection_id = m.connection_id AND p.ended_by = 'updated'
                WHERE m.room = \(room) AND m.began_at_version > \(version)
                UNION ALL
                SELECT ended_at_version, 'left', connection_id, user_id, state::text, until, ended_by
                FROM rollcall.room_members
                WHERE room = \(room) AND NOT present AND ended_at_version > \(version) AND ended_by <> 'updated'
                ORDER BY 1
                """, logger: logger)
            var events: [RoomEvent] = []
            for try await (at, kind, id, user, state, time, reason) in rows.decode((Int64, String, UUID, String, String, Date, String?).self) {
                guard let event = RoomEvent.Kind(rawValue: kind) else { continue }
                events.append(
                    RoomEvent(
                        room: room, event: event, connectionID: ConnectionID(id), userID: user,
                        state: (try? JSONParser.parse(state)) ?? .object([:]), version: at, at: time,
                        reason: reason.flatMap(RoomLeaveReason.init(rawValue:))))
            }
            return events
        }
    }

    /// Rooms with members now whose names begin with `prefix`, by name, after `cursor`.
    public func rooms(prefix: String, after cursor: String?, limit: Int) async throws -> [RoomSummary] {
        try await read { connection, logger in
            let rows = try await connection.query(
                """
                SELECT room, members, version FROM rollcall.rooms
                WHERE members > 0 AND starts_with(room, \(prefix)) AND (\(cursor)::text IS NULL OR room > \(cursor))
                ORDER BY room LIMIT \(limit)
                """, logger: logger)
            var rooms: [RoomSummary] = []
            for try await (room, members, version) in rows.decode((String, Int, Int64).self) {
                rooms.append(RoomSummary(room: room, members: members, version: version))
            }
            return rooms
        }
    }

    /// Online users ordered by id, after `cursor` (the last id of the previous page).
    public func onlineUsers(after cursor: String?, limit: Int) async throws -> [UserPresence] {
        try await read { connection, logger in
            let rows = try await connection.query(
                """
                SELECT user_id, online, connections, online_since, last_seen_at, version
                FROM rollcall.users WHERE online AND (\(cursor)::text IS NULL OR user_id > \(cursor))
                ORDER BY user_id LIMIT \(limit)
                """, logger: logger)
            return try await Self.presences(rows)
        }
    }

    /// A user's connection rows, newest first: the open ones, or with `includeClosed` their history too.
    public func connections(of user: String, includeClosed: Bool, limit: Int = 1000) async throws -> [ConnectionRecord] {
        try await read { connection, logger in
            let rows = try await connection.query(
                """
                SELECT connection_id, user_id, server_id, user_agent, host(remote_addr), created_at, connected, disconnected_at, close_reason
                FROM rollcall.connections WHERE user_id = \(user) AND (connected OR \(includeClosed))
                ORDER BY created_at DESC, connection_id LIMIT \(limit)
                """, logger: logger)
            return try await Self.records(rows)
        }
    }

    /// Every open connection of every hub, oldest first, at most `limit` (the admin dashboard).
    public func openConnections(limit: Int) async throws -> [ConnectionRecord] {
        try await read { connection, logger in
            let rows = try await connection.query(
                """
                SELECT connection_id, user_id, server_id, user_agent, host(remote_addr), created_at, connected, disconnected_at, close_reason
                FROM rollcall.connections WHERE connected
                ORDER BY created_at, connection_id LIMIT \(limit)
                """, logger: logger)
            return try await Self.records(rows)
        }
    }

    /// Connections open at some moment of each minute with a change, over the last `hours`
    /// (`rollcall.concurrency_by_minute`, minutes in UTC).
    public func concurrency(hours: Int) async throws -> [(minute: Date, connections: Int)] {
        try await read { connection, logger in
            let rows = try await connection.query(
                """
                SELECT minute AT TIME ZONE 'UTC', connections::bigint FROM rollcall.concurrency_by_minute
                WHERE minute >= (now() AT TIME ZONE 'UTC') - \(hours) * interval '1 hour' ORDER BY minute
                """, logger: logger)
            var minutes: [(Date, Int)] = []
            for try await row in rows.decode((Date, Int).self) { minutes.append(row) }
            return minutes
        }
    }

    /// Rows by id (tests and tools ask for exactly the rows they made).
    public func connection(_ id: ConnectionID) async throws -> ConnectionRecord? {
        try await read { connection, logger in
            let rows = try await connection.query(
                """
                SELECT connection_id, user_id, server_id, user_agent, host(remote_addr), created_at, connected, disconnected_at, close_reason
                FROM rollcall.connections WHERE connection_id = \(id.uuid)
                """, logger: logger)
            return try await Self.records(rows).first
        }
    }

    /// Every hub that ever registered, with its open connection count.
    public func servers() async throws -> [ServerRecord] {
        try await read { connection, logger in
            let rows = try await connection.query(
                """
                SELECT s.server_id, s.started_at, s.heartbeat_at, s.stopped_at, s.version, s.host,
                       (SELECT count(*) FROM rollcall.connections c WHERE c.server_id = s.server_id AND c.connected)::int
                FROM rollcall.servers s ORDER BY s.server_id
                """, logger: logger)
            var servers: [ServerRecord] = []
            for try await row in rows.decode((String, Date, Date, Date?, String, String, Int).self) {
                servers.append(
                    ServerRecord(
                        serverID: row.0, startedAt: row.1, heartbeatAt: row.2, stoppedAt: row.3, version: row.4, host: row.5, openConnections: row.6))
            }
            return servers
        }
    }

    /// Users whose presence changed since `date` (a resync after a LISTEN outage).
    public func changedUsers(since date: Date) async throws -> [UserPresence] {
        try await read { connection, logger in
            let rows = try await connection.query(
                """
                SELECT user_id, online, connections, online_since, last_seen_at, version
                FROM rollcall.users WHERE last_seen_at >= \(date) ORDER BY user_id
                """, logger: logger)
            return try await Self.presences(rows)
        }
    }

    /// The JSON of a message too large for NOTIFY.
    public func storedMessage(_ id: Int64) async throws -> String? {
        try await read { connection, logger in
            let rows = try await connection.query("SELECT body FROM rollcall.message_payloads WHERE id = \(id)", logger: logger)
            return try await rows.collect().first?.decode(String.self)
        }
    }

    /// Rows of `user_id, online, connections, online_since, last_seen_at, version`.
    private static func presences(_ rows: PostgresRowSequence) async throws -> [UserPresence] {
        var users: [UserPresence] = []
        for try await row in rows.decode((String, Bool, Int, Date?, Date?, Int64).self) {
            users.append(UserPresence(userID: row.0, online: row.1, connections: row.2, onlineSince: row.3, lastSeenAt: row.4, version: row.5))
        }
        return users
    }

    private static func records(_ rows: PostgresRowSequence) async throws -> [ConnectionRecord] {
        var records: [ConnectionRecord] = []
        for try await row in rows.decode((UUID, String, String, String?, String?, Date, Bool, Date?, String?).self) {
            records.append(
                ConnectionRecord(
                    connectionID: ConnectionID(row.0), userID: row.1, serverID: row.2, userAgent: row.3, remoteAddress: row.4,
                    createdAt: row.5, connected: row.6, disconnectedAt: row.7, closeReason: row.8.flatMap(CloseReason.init(rawValue:))))
        }
        return records
    }
}
