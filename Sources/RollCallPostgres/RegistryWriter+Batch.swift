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
            try await insertOpens(plan.opens, on: connection, into: &outcome)
            try await writeCloses(plan.closes, on: connection, into: &outcome)
            try await closeServers(plan.serverCloses, on: connection, into: &outcome)
            try await reopen(plan.reopens, on: connection, into: &outcome)

            // Users who lost connections to a purge went away a window ago: offline at once.
            var offlineAtOnce: Set<String> = []
            if let window = plan.purgeWindow {
                offlineAtOnce = try await purgeOrphans(window: window, on: connection, into: &outcome)
            }

            try await applyCounters(offlineAtOnce: offlineAtOnce, on: connection, into: &outcome)
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

            try await applyRooms(plan.roomChanges, on: connection, into: &outcome)
            if webhooks {
                try await writeOutbox(outcome, on: connection)
            }

            let presence = PresenceNotification.payloads(
                server: serverID, events: outcome.transitions, connections: outcome.connectionEvents, rooms: outcome.roomEvents,
                limit: Self.sealedPayloadLimit)
            for payload in presence {
                try await notify(.presence, payload, on: connection)
            }
            if !plan.messages.isEmpty {
                try await publish(plan.messages, on: connection)
            }
            return outcome
        }
    }

    /// The batch's webhooks, in the order its transitions and room events were decided (users by
    /// id, each room's events by version), in the batch's own transaction.
    private func writeOutbox(_ outcome: BatchOutcome, on connection: PostgresConnection) async throws {
        let events = outcome.transitions.map { WebhookEvent(transition: $0) } + outcome.roomEvents.compactMap { WebhookEvent(roomEvent: $0) }
        guard !events.isEmpty else { return }
        try await connection.query(
            """
            INSERT INTO rollcall.webhook_outbox (id, type, user_id, body)
            SELECT * FROM unnest(\(events.map(\.id))::uuid[], \(events.map(\.kind.rawValue))::text[],
                                 \(events.map(\.userID))::text[], \(events.map(\.body))::text[])
            """, logger: logger)
    }

    private func insertOpens(_ opens: [NewConnection], on connection: PostgresConnection, into outcome: inout BatchOutcome) async throws {
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
            outcome.opened(
                ConnectionEvent(
                    event: .opened, connectionID: connectionID, userID: user, serverID: serverID,
                    userAgent: agents[connectionID] ?? nil, at: createdAt, reason: nil))
        }
    }

    private func writeCloses(_ closes: [BatchPlan.Close], on connection: PostgresConnection, into outcome: inout BatchOutcome) async throws {
        guard !closes.isEmpty else { return }
        let rows = try await connection.execute(
            RegistryStatements.WriteCloses(ids: closes.map(\.id.uuid), reasons: closes.map(\.reason.rawValue)), logger: logger)
        for try await row in rows { outcome.closed(Self.closeEvent(row)) }
    }

    private func closeServers(_ serverCloses: [BatchPlan.ServerClose], on connection: PostgresConnection, into outcome: inout BatchOutcome)
        async throws
    {
        for close in serverCloses {
            let rows = try await connection.query(RegistryStatements.closeServer(close.server, reason: close.reason), logger: logger)
            outcome.closedByServer[close, default: 0] += try await recordCloses(rows, into: &outcome).count
        }
    }

    private func reopen(_ ids: [ConnectionID], on connection: PostgresConnection, into outcome: inout BatchOutcome) async throws {
        guard !ids.isEmpty else { return }
        let rows = try await connection.query(RegistryStatements.reopen(ids, of: serverID), logger: logger)
        for try await (id, user, agent, createdAt) in rows.decode(RegistryStatements.ReopenedRow.self) {
            outcome.opened(
                ConnectionEvent(
                    event: .opened, connectionID: ConnectionID(id), userID: user, serverID: serverID, userAgent: agent, at: createdAt, reason: nil))
        }
    }

    /// Records every closed row `rows` returns; returns their events.
    private func recordCloses(_ rows: PostgresRowSequence, into outcome: inout BatchOutcome) async throws -> [ConnectionEvent] {
        var events: [ConnectionEvent] = []
        for try await row in rows.decode(RegistryStatements.WriteCloses.Row.self) {
            let event = Self.closeEvent(row)
            outcome.closed(event)
            events.append(event)
        }
        return events
    }

    /// A closed row, as `RETURNING` gives it, as its event.
    private static func closeEvent(_ row: RegistryStatements.WriteCloses.Row) -> ConnectionEvent {
        let (id, user, server, agent, at, reason) = row
        return ConnectionEvent(
            event: .closed, connectionID: ConnectionID(id), userID: user, serverID: server, userAgent: agent, at: at,
            reason: CloseReason(rawValue: reason))
    }

    /// The counters, in one statement (`CountConnections`), from the batch's connection delta;
    /// `CounterChange` reads what it returns into transitions and graces. Users whose connections a
    /// purge closed went away a window ago: with a grace, theirs is finished at once, in this
    /// transaction, on rows this statement has locked already.
    private func applyCounters(offlineAtOnce: Set<String>, on connection: PostgresConnection, into outcome: inout BatchOutcome) async throws {
        let entries = outcome.connectionDelta.filter { $0.value != 0 }.sorted { $0.key < $1.key }
        guard !entries.isEmpty else { return }
        let rows = try await connection.execute(
            RegistryStatements.CountConnections(users: entries.map(\.key), deltas: entries.map(\.value), offlineAtOnce: offlineGrace == .zero),
            logger: logger)
        var transitions: [PresenceTransition] = []
        var graceStarted: [String] = []
        for try await (user, connections, online, version, flipped, now) in rows {
            outcome.committedAt = now
            let change = CounterChange(userID: user, flipped: flipped, online: online, connections: connections, version: version)
            switch change.outcome(at: now) {
            case .transition(let transition): transitions.append(transition)
            case .graceStarted: graceStarted.append(user)
            case .unchanged: break
            }
        }
        let purged = graceStarted.filter(offlineAtOnce.contains)
        if !purged.isEmpty {
            transitions += try await finishGrace(purged, after: .zero, on: connection)
        }
        outcome.graceStarted += graceStarted.filter { !offlineAtOnce.contains($0) }
        outcome.transitions += transitions.sorted { $0.userID < $1.userID }
    }

    /// Publishes offline for users whose grace ran out with no connection anywhere.
    /// A connection opened meanwhile (on any hub) cleared `offline_pending_since`: no event.
    /// `users` nil: every user whose grace ran out (the purge's sweep for dead hubs' graces).
    private func finishGrace(_ users: [String]?, after grace: Duration? = nil, on connection: PostgresConnection) async throws
        -> [PresenceTransition]
    {
        let graceMilliseconds = (grace ?? offlineGrace).milliseconds
        var transitions: [PresenceTransition] = []
        func record(_ user: String, _ version: Int64, _ now: Date) {
            transitions.append(PresenceTransition(userID: user, online: false, version: version, at: now, connections: 0))
        }
        if let users {
            let statement = RegistryStatements.FinishGrace(users: users, graceMilliseconds: graceMilliseconds)
            for try await (user, version, now) in try await connection.execute(statement, logger: logger) { record(user, version, now) }
        } else {
            let rows = try await connection.query(RegistryStatements.finishEveryGrace(graceMilliseconds: graceMilliseconds), logger: logger)
            for try await (user, version, now) in rows.decode(RegistryStatements.FinishGrace.Row.self) { record(user, version, now) }
        }
        return transitions.sorted { $0.userID < $1.userID }
    }

    /// Closes the open rows of hubs whose heartbeat is older than `window`, if this transaction
    /// gets the purge lock; the report goes in `outcome.purge`. Returns the users whose
    /// connections it closed. A row's end is the later of its hub's last heartbeat and its start.
    private func purgeOrphans(window: Duration, on connection: PostgresConnection, into outcome: inout BatchOutcome) async throws -> Set<String> {
        let lock = try await connection.query(RegistryStatements.tryPurgeLock, logger: logger)
        guard try await lock.collect().first?.decode(Bool.self) == true else {
            outcome.purge = PurgeReport(skipped: true)
            return []
        }
        let rows = try await connection.query(RegistryStatements.purgeOrphans(window: window, except: serverID), logger: logger)
        let closed = try await recordCloses(rows, into: &outcome)
        var report = PurgeReport()
        for event in closed { report.closedByServer[event.serverID, default: 0] += 1 }
        if !report.closedByServer.isEmpty {
            try await connection.query(RegistryStatements.markPurged(Array(report.closedByServer.keys)), logger: logger)
        }
        outcome.purge = report
        return Set(closed.map(\.userID))
    }

    /// JSON bytes a NOTIFY may carry once sealed.
    static let sealedPayloadLimit = NotifyPayloads.limit - NotifySeal.overhead

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
            try await connection.query(RegistryStatements.deleteOldPayloads, logger: logger)
            let rows = try await connection.query(
                RegistryStatements.storePayloads(recipients: large.map(\.to), bodies: large.map(\.body)), logger: logger)
            for try await (id, recipient) in rows.decode((Int64, String).self) {
                stored.append(MessageNotification.Reference(id: id, to: recipient))
            }
        }
        for payload in MessageNotification.payloads(messages: inline, stored: stored, limit: Self.sealedPayloadLimit) {
            try await notify(.messages, payload, on: connection)
        }
    }

    /// One sealed NOTIFY on `channel`, sent when the transaction commits.
    private func notify(_ channel: NotifyChannel, _ payload: String, on connection: PostgresConnection) async throws {
        let statement = RegistryStatements.Notify(channel: channel.rawValue, payload: seal.seal(payload, channel: channel.rawValue))
        for try await _ in try await connection.execute(statement, logger: logger) {}
    }
}
