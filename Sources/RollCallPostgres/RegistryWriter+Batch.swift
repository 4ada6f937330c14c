import Foundation
import Logging
import PostgresNIO
import RollCall

extension RegistryWriter {
    /// One batch, one transaction: the rarer statements (reopens, a purge) when the batch has
    /// them, then its rows and counters in one call, then the notifications; one function per
    /// phase, each reading its part of the `BatchPlan`.
    func write(_ batch: [RegistryRequest], slot: ConnectionSlot) async throws -> BatchOutcome {
        try await client.withTransaction(logger: logger) { connection in
            slot.use(connection)
            // Planned once the connection is ours: a purge request that waited out the lease (the
            // database coming back) is judged as stale as it now is.
            let plan = BatchPlan(batch.map(\.item), now: .now, purgeFreshness: Self.purgeFreshness)
            var outcome = BatchOutcome()
            var delta: [String: Int] = [:]
            try await reopen(plan.reopens, on: connection, into: &outcome, delta: &delta)

            // Users who lost connections to a purge went away a window ago: offline at once.
            var offlineAtOnce: Set<String> = []
            if let window = plan.purgeWindow {
                let report = try await purgeOrphans(window: window, on: connection, delta: &delta, outcome: &outcome)
                offlineAtOnce = report.users
                outcome.purge = report.report
            }

            try await applyBatch(plan, moreDelta: delta, offlineAtOnce: offlineAtOnce, on: connection, slot: slot, into: &outcome)
            if outcome.purge?.skipped == false {
                // Graces whose hub died before it could finish them.
                let finished = try await finishAllGraces(on: connection)
                outcome.purge?.gracesFinished = finished.count
                outcome.transitions += finished
            }
            outcome.purge?.usersOffline = outcome.transitions.filter { !$0.online && offlineAtOnce.contains($0.userID) }.count

            let presence = PresenceNotification.payloads(
                server: serverID, events: outcome.transitions, connections: outcome.connectionEvents, limit: Self.sealedPayloadLimit)
            for payload in presence {
                try await notify("rollcall_presence", payload, on: connection)
            }
            if !plan.messages.isEmpty {
                try await publish(plan.messages, on: connection)
            }
            return outcome
        }
    }

    /// The batch's opens, closes, hub closes, counters and due graces: `RegistryStatements.ApplyBatch`.
    /// It also names the transaction, before COMMIT is sent, so that an attempt whose answer
    /// never comes can ask later whether it committed. `moreDelta`: counts the rarer statements
    /// changed before it.
    private func applyBatch(
        _ plan: BatchPlan, moreDelta: [String: Int], offlineAtOnce: Set<String>, on connection: PostgresConnection,
        slot: ConnectionSlot, into outcome: inout BatchOutcome
    ) async throws {
        let more = moreDelta.filter { $0.value != 0 }
        let statement = RegistryStatements.ApplyBatch(
            server: serverID,
            openIDs: plan.opens.map(\.connectionID.uuid), openUsers: plan.opens.map(\.userID),
            openAgents: plan.opens.map { $0.userAgent ?? "" }, openAddresses: plan.opens.map { $0.remoteAddress ?? "" },
            closeIDs: plan.closes.map(\.id.uuid), closeReasons: plan.closes.map(\.reason.rawValue),
            serverCloses: plan.serverCloses.map(\.server), serverCloseReasons: plan.serverCloses.map(\.reason.rawValue),
            moreUsers: Array(more.keys), moreDeltas: more.values.map { Int32($0) },
            // A user goes offline at once when `CounterChange.offlineAtOnce` says so: with no grace, or
            // for a purge's users.
            allAtOnce: CounterChange.offlineAtOnce(grace: offlineGrace, closedByPurge: false),
            atOnce: offlineAtOnce.sorted(),
            graceMilliseconds: offlineGrace.milliseconds, graceDue: plan.graceDue)
        var events: [ConnectionEvent] = []
        for try await row in try await connection.execute(statement, logger: logger) {
            let (xact, backend, now, openedIDs, openedUsers, openedAt, closedIDs, closedUsers, closedServers, closedAgents, closedAt,
                 closedReasons, serverClosed, users, connections, online, wasOnline, versions, gracedUsers, gracedVersions) = row
            slot.record(.init(id: xact, backend: backend))
            outcome.committedAt = now

            let agents = Dictionary(plan.opens.map { ($0.connectionID, $0.userAgent) }, uniquingKeysWith: { $1 })
            for (id, (user, at)) in zip(openedIDs.map(ConnectionID.init), zip(openedUsers, openedAt)) {
                outcome.openedAt[id] = at
                events.append(ConnectionEvent(
                    event: .opened, connectionID: id, userID: user, serverID: serverID, userAgent: agents[id] ?? nil, at: at, reason: nil))
            }
            for index in closedIDs.indices {
                events.append(ConnectionEvent(
                    event: .closed, connectionID: ConnectionID(closedIDs[index]), userID: closedUsers[index], serverID: closedServers[index],
                    userAgent: closedAgents[index].isEmpty ? nil : closedAgents[index], at: closedAt[index],
                    reason: CloseReason(rawValue: closedReasons[index])))
            }
            for (close, count) in zip(plan.serverCloses, serverClosed) { outcome.closedByServer[close, default: 0] += Int(count) }

            for index in users.indices {
                let change = CounterChange(
                    userID: users[index], wasOnline: wasOnline[index], online: online[index], connections: Int(connections[index]),
                    version: versions[index])
                switch change.outcome(at: now) {
                case .transition(let transition): outcome.transitions.append(transition)
                case .graceStarted: outcome.graceStarted.append(users[index])
                case .unchanged: break
                }
            }
            outcome.transitions.sort { $0.userID < $1.userID }
            outcome.transitions += zip(gracedUsers, gracedVersions)
                .map { PresenceTransition(userID: $0, online: false, version: $1, at: now, connections: 0) }
                .sorted { $0.userID < $1.userID }
        }
        // The batch's own rows first, then what the rarer statements did (as the events came before).
        outcome.connectionEvents = events + outcome.connectionEvents
    }

    private func reopen(
        _ ids: [ConnectionID], on connection: PostgresConnection, into outcome: inout BatchOutcome, delta: inout [String: Int]
    ) async throws {
        guard !ids.isEmpty else { return }
        let rows = try await connection.query(
            """
            UPDATE rollcall.connections SET connected = true, disconnected_at = NULL, close_reason = NULL
            WHERE connection_id = ANY(\(ids.map(\.uuid))::uuid[]) AND server_id = \(serverID)
              AND NOT connected AND close_reason = 'orphaned'
            RETURNING connection_id, user_id, user_agent, created_at
            """, logger: logger)
        for try await (id, user, agent, createdAt) in rows.decode((UUID, String, String?, Date).self) {
            outcome.connectionEvents.append(ConnectionEvent(
                event: .opened, connectionID: ConnectionID(id), userID: user, serverID: serverID,
                userAgent: agent, at: createdAt, reason: nil))
            delta[user, default: 0] += 1
        }
    }

    private func recordCloses(_ rows: PostgresRowSequence, into outcome: inout BatchOutcome, delta: inout [String: Int]) async throws {
        for try await (id, user, server, agent, at, reason) in rows.decode(RegistryStatements.ClosedRow.self) {
            outcome.connectionEvents.append(ConnectionEvent(
                event: .closed, connectionID: ConnectionID(id), userID: user, serverID: server,
                userAgent: agent, at: at, reason: CloseReason(rawValue: reason)))
            delta[user, default: 0] -= 1
        }
    }

    /// Offline for every user whose grace ran out with no connection anywhere: the purge's sweep
    /// for the graces of hubs that died. (A batch's own due graces are finished by `applyBatch`.)
    /// A plain query, so no prepared plan ever carries it.
    private func finishAllGraces(on connection: PostgresConnection) async throws -> [PresenceTransition] {
        let rows = try await connection.query(
            """
            UPDATE rollcall.users SET online = false, online_since = NULL, offline_pending_since = NULL, version = version + 1
            WHERE online AND connections = 0
              AND offline_pending_since <= now() - \(offlineGrace.milliseconds) * interval '1 millisecond'
            RETURNING user_id, version, now()
            """, logger: logger)
        var transitions: [PresenceTransition] = []
        for try await (user, version, now) in rows.decode((String, Int64, Date).self) {
            transitions.append(PresenceTransition(userID: user, online: false, version: version, at: now, connections: 0))
        }
        return transitions.sorted { $0.userID < $1.userID }
    }

    /// Closes the open rows of hubs whose heartbeat is older than `window`, if this transaction
    /// gets the purge lock. A row's end is the later of its hub's last heartbeat and its start.
    private func purgeOrphans(
        window: Duration, on connection: PostgresConnection, delta: inout [String: Int], outcome: inout BatchOutcome
    ) async throws -> (report: PurgeReport, users: Set<String>) {
        let lock = try await connection.query("SELECT pg_try_advisory_xact_lock(\(Self.purgeLockKey))", logger: logger)
        guard try await lock.collect().first?.decode(Bool.self) == true else { return (PurgeReport(skipped: true), []) }
        let rows = try await connection.query(
            """
            UPDATE rollcall.connections AS c
            SET connected = false, disconnected_at = greatest(s.heartbeat_at, c.created_at), close_reason = 'orphaned'
            FROM rollcall.servers AS s
            WHERE c.server_id = s.server_id AND c.connected AND s.server_id <> \(serverID)
              AND s.heartbeat_at < now() - \(window.milliseconds) * interval '1 millisecond'
            RETURNING c.connection_id, c.user_id, c.server_id, c.user_agent, c.disconnected_at, c.close_reason
            """, logger: logger)
        let before = outcome.connectionEvents.count
        try await recordCloses(rows, into: &outcome, delta: &delta)
        let closed = outcome.connectionEvents[before...]
        var report = PurgeReport()
        for event in closed { report.closedByServer[event.serverID, default: 0] += 1 }
        if !report.closedByServer.isEmpty {
            try await connection.query(
                "UPDATE rollcall.servers SET purged_at = now() WHERE server_id = ANY(\(Array(report.closedByServer.keys))::text[])",
                logger: logger)
        }
        return (report, Set(closed.map(\.userID)))
    }

    /// JSON bytes a NOTIFY may carry once sealed.
    static let sealedPayloadLimit = PresenceNotification.payloadLimit - NotifySeal.overhead

    /// Key of the advisory lock that lets one hub purge at a time.
    static let purgeLockKey: Int64 = 0x726F_6C6C_7075_7267  // "rollpurg"

    /// Messages go out as one `NOTIFY rollcall_messages` per chunk; a message too large to
    /// travel inline waits in `message_payloads` and the notification names its id.
    private func publish(_ messages: [UserMessage], on connection: PostgresConnection) async throws {
        var inline: [String] = []
        var large: [(to: String, body: String)] = []
        for message in messages {
            let body = message.json
            if body.utf8.count <= MessageNotification.inlineLimit { inline.append(body) } else { large.append((message.to, body)) }
        }
        var stored: [MessageNotification.Reference] = []
        if !large.isEmpty {
            // Old payloads were read long ago by every hub that wanted them.
            try await connection.query("DELETE FROM rollcall.message_payloads WHERE created_at < now() - interval '5 minutes'", logger: logger)
            let rows = try await connection.query(
                """
                INSERT INTO rollcall.message_payloads (recipient, body)
                SELECT * FROM unnest(\(large.map(\.to))::text[], \(large.map(\.body))::text[])
                RETURNING id, recipient
                """, logger: logger)
            for try await (id, recipient) in rows.decode((Int64, String).self) {
                stored.append(MessageNotification.Reference(id: id, to: recipient))
            }
        }
        for payload in MessageNotification.payloads(messages: inline, stored: stored, limit: Self.sealedPayloadLimit) {
            try await notify("rollcall_messages", payload, on: connection)
        }
    }

    /// One sealed NOTIFY on `channel`, sent when the transaction commits.
    private func notify(_ channel: String, _ payload: String, on connection: PostgresConnection) async throws {
        let statement = RegistryStatements.Notify(channel: channel, payload: seal.seal(payload, channel: channel))
        for try await _ in try await connection.execute(statement, logger: logger) {}
    }
}
