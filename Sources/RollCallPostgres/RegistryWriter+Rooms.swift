import Foundation
import Logging
import PostgresNIO
import RollCall

/// What a room change came to, as its caller hears it.
public enum RoomOutcome: Sendable, Equatable {
    /// Joined: the room's members and version as the batch left them (the joiner among them).
    case joined(RoomSnapshot)
    /// A state change or leave, written as this version of the room.
    case done(version: Int64)
    /// Not allowed as the room stood (joining twice, changing a room the connection is not in).
    case refused(String)
}

extension RegistryWriter {
    /// Writes a join, state change or leave in the next batch; returns once it is committed (or
    /// refused), before any hub announces it.
    public func change(_ change: RoomChange) async throws -> RoomOutcome {
        let ticket = state.withLock { state in
            state.nextChangeTicket += 1
            return state.nextChangeTicket
        }
        return try await withCheckedThrowingContinuation { continuation in
            submit(.room(change, ticket: ticket)) { result in
                continuation.resume(with: result.map { $0.roomOutcomes[ticket] ?? .refused("the room change was not written") })
            }
        }
    }

    /// The batch's room changes and the memberships of the connections it closed: the rooms
    /// touched are locked in name order (after the users, as every batch locks them), their
    /// present memberships read, `RoomBatch` decides, and its stretches and versions are written.
    func applyRooms(_ changes: [BatchPlan.TicketedChange], on connection: PostgresConnection, into outcome: inout BatchOutcome) async throws {
        let departures = outcome.connectionEvents.compactMap { event -> (ConnectionID, RoomLeaveReason)? in
            guard event.event == .closed, let reason = event.reason else { return nil }
            return (event.connectionID, RoomLeaveReason(closing: reason))
        }
        guard !changes.isEmpty || !departures.isEmpty else { return }
        let leaving = departures.map(\.0.uuid)
        var rooms = Set(changes.map(\.change.room))
        if !leaving.isEmpty {
            let rows = try await connection.query(
                "SELECT DISTINCT room FROM rollcall.room_members WHERE present AND connection_id = ANY(\(leaving)::uuid[])", logger: logger)
            for try await room in rows.decode(String.self) { rooms.insert(room) }
        }
        guard !rooms.isEmpty else { return }

        var versions: [String: Int64] = [:]
        var now = Date()
        let locked = try await connection.query(
            """
            INSERT INTO rollcall.rooms AS r (room) SELECT unnest(\(rooms.sorted())::text[]) ORDER BY 1
            ON CONFLICT (room) DO UPDATE SET changed_at = now()
            RETURNING r.room, r.version, now()
            """, logger: logger)
        for try await (room, version, at) in locked.decode((String, Int64, Date).self) {
            versions[room] = version
            now = at
        }

        let keys = changes.map { RoomBatch.Key(room: $0.change.room, connectionID: $0.change.connectionID) }
        var present: [RoomBatch.Key: RoomBatch.Stretch] = [:]
        let rows = try await connection.query(
            """
            SELECT room, connection_id, user_id, state::text, joined_at, began_at_version FROM rollcall.room_members
            WHERE present AND ((room, connection_id) IN (SELECT * FROM unnest(\(keys.map(\.room))::text[], \(keys.map(\.connectionID.uuid))::uuid[]))
                               OR connection_id = ANY(\(leaving)::uuid[]))
            """, logger: logger)
        for try await (room, id, user, state, joinedAt, began) in rows.decode((String, UUID, String, String, Date, Int64).self) {
            // A membership in a room not locked above began after the rooms were read: only another
            // hub's purge could have made it; this attempt is retried with the rooms read again.
            guard versions[room] != nil else { throw RoomsMoved() }
            present[RoomBatch.Key(room: room, connectionID: ConnectionID(id))] = RoomBatch.Stretch(
                userID: user, state: (try? JSONParser.parse(state)) ?? .object([:]), joinedAt: joinedAt, beganAtVersion: began)
        }

        let batch = RoomBatch(changes: changes.map(\.change), departures: departures, present: present, versions: versions, now: now)
        try await write(batch, on: connection)
        var joined: Set<String> = []
        for (request, answer) in zip(changes, batch.answers) {
            switch (request.change, answer) {
            case (_, .refused(let why)): outcome.roomOutcomes[request.ticket] = .refused(why)
            case (.join(let room, _, _, _), .done): joined.insert(room)
            case (_, .done(let version)): outcome.roomOutcomes[request.ticket] = .done(version: version)
            }
        }
        if !joined.isEmpty {
            let snapshots = try await members(of: joined, versions: batch.versions, on: connection)
            for (request, answer) in zip(changes, batch.answers) {
                if case .join(let room, _, _, _) = request.change, case .done = answer, let snapshot = snapshots[room] {
                    outcome.roomOutcomes[request.ticket] = .joined(snapshot)
                }
            }
        }
        outcome.roomEvents += batch.events
    }

    private func write(_ batch: RoomBatch, on connection: PostgresConnection) async throws {
        if !batch.ended.isEmpty {
            let ended = batch.ended
            try await connection.query(
                """
                UPDATE rollcall.room_members AS m SET present = false, until = now(), ended_by = t.reason, ended_at_version = t.version
                FROM unnest(\(ended.map(\.key.room))::text[], \(ended.map(\.key.connectionID.uuid))::uuid[],
                            \(ended.map(\.endedBy))::text[], \(ended.map(\.version))::bigint[]) AS t(room, id, reason, version)
                WHERE m.room = t.room AND m.connection_id = t.id AND m.present
                """, logger: logger)
        }
        if !batch.begun.isEmpty {
            let begun = batch.begun
            try await connection.query(
                """
                INSERT INTO rollcall.room_members
                    (room, connection_id, user_id, server_id, state, joined_at, since, until, present, ended_by, began_at_version, ended_at_version)
                SELECT room, id, user_id, \(serverID), state::jsonb, joined_at, now(), CASE WHEN reason <> '' THEN now() END, reason = '',
                       NULLIF(reason, ''), began, NULLIF(ended, 0)
                FROM unnest(\(begun.map(\.key.room))::text[], \(begun.map(\.key.connectionID.uuid))::uuid[],
                            \(begun.map(\.stretch.userID))::text[], \(begun.map(\.stretch.state.json))::text[],
                            \(begun.map(\.stretch.joinedAt))::timestamptz[], \(begun.map { $0.endedBy ?? "" })::text[],
                            \(begun.map(\.stretch.beganAtVersion))::bigint[], \(begun.map { $0.endedAtVersion ?? 0 })::bigint[])
                    AS t(room, id, user_id, state, joined_at, reason, began, ended)
                """, logger: logger)
        }
        let rooms = batch.versions.keys.sorted()
        try await connection.query(
            """
            UPDATE rollcall.rooms AS r SET version = t.version, members = r.members + t.delta, changed_at = now()
            FROM unnest(\(rooms)::text[], \(rooms.map { batch.versions[$0] ?? 0 })::bigint[],
                        \(rooms.map { batch.memberDelta[$0] ?? 0 })::int[]) AS t(room, version, delta)
            WHERE r.room = t.room AND (r.version <> t.version OR t.delta <> 0)
            """, logger: logger)
    }

    /// The present members of `rooms`, as this transaction leaves them.
    private func members(of rooms: Set<String>, versions: [String: Int64], on connection: PostgresConnection) async throws
        -> [String: RoomSnapshot]
    {
        let rows = try await connection.query(
            """
            SELECT room, connection_id, user_id, state::text, joined_at FROM rollcall.room_members
            WHERE present AND room = ANY(\(rooms.sorted())::text[]) ORDER BY room, joined_at, connection_id
            """, logger: logger)
        var members: [String: [RoomMember]] = [:]
        for try await (room, id, user, state, joinedAt) in rows.decode((String, UUID, String, String, Date).self) {
            members[room, default: []].append(
                RoomMember(connectionID: ConnectionID(id), userID: user, state: (try? JSONParser.parse(state)) ?? .object([:]), joinedAt: joinedAt))
        }
        return Dictionary(
            uniqueKeysWithValues: rooms.map { ($0, RoomSnapshot(room: $0, version: versions[$0] ?? 0, members: members[$0] ?? [])) })
    }
}

/// A membership appeared in a room the batch had not locked: the attempt is retried.
struct RoomsMoved: Error {}
