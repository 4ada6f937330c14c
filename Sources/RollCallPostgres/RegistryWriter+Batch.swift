import Foundation
import Logging
import PostgresNIO
import RollCall

extension RegistryWriter {
    /// One batch, one transaction: rows, counters, grace, then the notifications; one function
    /// per phase, each reading its part of the `BatchPlan`.
    func write(_ batch: [RegistryRequest], slot: ConnectionSlot) async throws -> BatchOutcome {
        try await client.withTransaction(logger: logger) { connection in
            slot.use(connection)
            // Planned once the connection is ours: a purge request that waited out the lease (the
            // database coming back) is judged as stale as it now is.
            let plan = BatchPlan(batch.map(\.item), now: .now, purgeFreshness: Self.purgeFreshness)
            // Named first, so an attempt whose answer never comes can ask later whether it committed.
            for try await (id, backend) in try await connection.execute(RegistryStatements.Begin(), logger: logger) {
                slot.record(.init(id: id, backend: backend))
            }
            var outcome = BatchOutcome()
            var delta: [String: Int] = [:]
            try await insertOpens(plan.opens, on: connection, into: &outcome, delta: &delta)
            try await writeCloses(plan.closes, on: connection, into: &outcome, delta: &delta)
            try await closeServers(plan.serverCloses, on: connection, into: &outcome, delta: &delta)
            try await reopen(plan.reopens, on: connection, into: &outcome, delta: &delta)

            // Users who lost connections to a purge went away a window ago: offline at once.
            var offlineAtOnce: Set<String> = []
            if let window = plan.purgeWindow {
                let report = try await purgeOrphans(window: window, on: connection, delta: &delta, outcome: &outcome)
                offlineAtOnce = report.users
                outcome.purge = report.report
            }

            let changes = try await applyCounters(delta, offlineAtOnce: offlineAtOnce, on: connection)
            outcome.committedAt = changes.committedAt ?? outcome.committedAt
            outcome.transitions = changes.transitions
            outcome.graceStarted = changes.graceStarted

            if !plan.graceDue.isEmpty {
                outcome.transitions += try await finishGrace(plan.graceDue, on: connection)
            }
            if outcome.purge?.skipped == false {
                // Graces whose hub died before it could finish them.
                let finished = try await finishGrace(nil, on: connection)
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

    private func insertOpens(
        _ opens: [NewConnection], on connection: PostgresConnection, into outcome: inout BatchOutcome, delta: inout [String: Int]
    ) async throws {
        guard !opens.isEmpty else { return }
        let agents = Dictionary(opens.map { ($0.connectionID, $0.userAgent) }, uniquingKeysWith: { $1 })
        let rows = try await connection.execute(
            RegistryStatements.InsertOpens(
                server: serverID, ids: opens.map(\.connectionID.uuid), users: opens.map(\.userID),
                agents: opens.map { $0.userAgent ?? "" }, addresses: opens.map { $0.remoteAddress ?? "" }),
            logger: logger)
        for try await (id, user, createdAt) in rows {
            let connectionID = ConnectionID(id)
            outcome.openedAt[connectionID] = createdAt
            outcome.connectionEvents.append(ConnectionEvent(
                event: .opened, connectionID: connectionID, userID: user, serverID: serverID,
                userAgent: agents[connectionID] ?? nil, at: createdAt, reason: nil))
            delta[user, default: 0] += 1
        }
    }

    private func writeCloses(
        _ closes: [BatchPlan.Close], on connection: PostgresConnection, into outcome: inout BatchOutcome, delta: inout [String: Int]
    ) async throws {
        guard !closes.isEmpty else { return }
        let rows = try await connection.execute(
            RegistryStatements.WriteCloses(ids: closes.map(\.id.uuid), reasons: closes.map(\.reason.rawValue)), logger: logger)
        for try await row in rows { recordClose(row, into: &outcome, delta: &delta) }
    }

    private func closeServers(
        _ serverCloses: [BatchPlan.ServerClose], on connection: PostgresConnection, into outcome: inout BatchOutcome, delta: inout [String: Int]
    ) async throws {
        for close in serverCloses {
            let rows = try await connection.query(
                """
                UPDATE rollcall.connections
                SET connected = false, disconnected_at = now(), close_reason = \(close.reason.rawValue)
                WHERE server_id = \(close.server) AND connected
                RETURNING connection_id, user_id, server_id, user_agent, disconnected_at, close_reason
                """, logger: logger)
            let before = outcome.connectionEvents.count
            try await recordCloses(rows, into: &outcome, delta: &delta)
            outcome.closedByServer[close, default: 0] += outcome.connectionEvents.count - before
        }
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
        for try await row in rows.decode(RegistryStatements.WriteCloses.Row.self) { recordClose(row, into: &outcome, delta: &delta) }
    }

    /// A closed row (as `RETURNING` gives it) becomes its event and takes one from its user's count.
    private func recordClose(_ row: RegistryStatements.WriteCloses.Row, into outcome: inout BatchOutcome, delta: inout [String: Int]) {
        let (id, user, server, agent, at, reason) = row
        outcome.connectionEvents.append(ConnectionEvent(
            event: .closed, connectionID: ConnectionID(id), userID: user, serverID: server,
            userAgent: agent, at: at, reason: CloseReason(rawValue: reason)))
        delta[user, default: 0] -= 1
    }

    /// The counters, in two statements (`LockUsers`, then `ApplyCounters`); `CounterChange` reads
    /// what they return.
    private func applyCounters(_ delta: [String: Int], offlineAtOnce: Set<String>, on connection: PostgresConnection) async throws
        -> (transitions: [PresenceTransition], graceStarted: [String], committedAt: Date?)
    {
        let entries = delta.filter { $0.value != 0 }.sorted { $0.key < $1.key }
        guard !entries.isEmpty else { return ([], [], nil) }
        let users = entries.map(\.key)
        var wasOnline: [String: Bool] = [:]
        for try await (user, online) in try await connection.execute(RegistryStatements.LockUsers(users: users), logger: logger) {
            wasOnline[user] = online
        }

        let immediate = entries.map { CounterChange.offlineAtOnce(grace: offlineGrace, closedByPurge: offlineAtOnce.contains($0.key)) }
        let rows = try await connection.execute(
            RegistryStatements.ApplyCounters(users: users, deltas: entries.map { $0.value }, immediate: immediate), logger: logger)
        var transitions: [PresenceTransition] = []
        var graceStarted: [String] = []
        var committedAt: Date?
        for try await (user, connections, online, version, now) in rows {
            committedAt = now
            let change = CounterChange(userID: user, wasOnline: wasOnline[user, default: false], online: online, connections: connections, version: version)
            switch change.outcome(at: now) {
            case .transition(let transition): transitions.append(transition)
            case .graceStarted: graceStarted.append(user)
            case .unchanged: break
            }
        }
        return (transitions.sorted { $0.userID < $1.userID }, graceStarted, committedAt)
    }

    /// Publishes offline for users whose grace ran out with no connection anywhere.
    /// A connection opened meanwhile (on any hub) cleared `offline_pending_since`: no event.
    /// `users` nil: every user whose grace ran out (the purge's sweep for dead hubs' graces).
    private func finishGrace(_ users: [String]?, on connection: PostgresConnection) async throws -> [PresenceTransition] {
        var transitions: [PresenceTransition] = []
        func record(_ user: String, _ version: Int64, _ now: Date) {
            transitions.append(PresenceTransition(userID: user, online: false, version: version, at: now, connections: 0))
        }
        if let users {
            let statement = RegistryStatements.FinishGrace(users: users, graceMilliseconds: offlineGrace.milliseconds)
            for try await (user, version, now) in try await connection.execute(statement, logger: logger) { record(user, version, now) }
        } else {
            let rows = try await connection.query(
                """
                UPDATE rollcall.users SET online = false, online_since = NULL, offline_pending_since = NULL, version = version + 1
                WHERE online AND connections = 0
                  AND offline_pending_since <= now() - \(offlineGrace.milliseconds) * interval '1 millisecond'
                RETURNING user_id, version, now()
                """, logger: logger)
            for try await (user, version, now) in rows.decode((String, Int64, Date).self) { record(user, version, now) }
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

    /// Key of the advisory lock that lets one hub purge at a time (held for the transaction).
    public static let purgeLockKey: Int64 = 0x726F_6C6C_7075_7267  // "rollpurg"

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
