import Foundation
import Logging
import PostgresNIO
import RollCall
import ServiceLifecycle
import Synchronization

/// The one writer of a hub: every open and close goes through it, and the requests that arrive
/// while a transaction is in flight become the next transaction (group commit, no timer).
///
/// A batch is one transaction: multi-row statements for the rows, one counter upsert whose
/// `RETURNING` decides the transitions, then one `NOTIFY rollcall_presence` (chunked) for them.
public final class RegistryWriter: Service, Sendable {
    public let serverID: String
    let client: PostgresClient
    let maxBatch: Int
    let logger: Logger
    private let state = Mutex(QueueState())

    /// What the submitters and the run loop share.
    struct QueueState {
        var pending: [RegistryRequest] = []
        var wakeUp: CheckedContinuation<Void, Never>?
        var idleWaiters: [CheckedContinuation<Void, Never>] = []
        var inFlight = false
        var stopping = false
        var committedTransactions = 0
        var observers: [@Sendable (CommitReport) -> Void] = []
    }

    public init(serverID: String, client: PostgresClient, maxBatch: Int, logger: Logger) {
        self.serverID = serverID
        self.client = client
        self.maxBatch = max(1, maxBatch)
        var logger = logger
        logger[metadataKey: "server_id"] = "\(serverID)"
        self.logger = logger
    }

    /// Transactions this writer committed: the figure that shows grouping.
    public var committedTransactions: Int { state.withLock { $0.committedTransactions } }

    /// Requests waiting for the next transaction (the queue depth).
    public var pendingRequests: Int { state.withLock { $0.pending.count } }

    // MARK: Requests

    /// Writes the row of a new connection; returns once it is committed (then the client may be welcomed).
    public func open(_ connection: NewConnection) async throws -> Date {
        try await withCheckedThrowingContinuation { continuation in
            submit(.open(connection, continuation))
        }
    }

    /// Closes a connection's row. Never lost: retried until the database takes it.
    public func close(_ id: ConnectionID, reason: CloseReason) {
        submit(.close(id, reason))
    }

    /// Closes every open row of `server` (a restart after a crash, or this hub's shutdown);
    /// returns how many rows it closed.
    public func closeAll(of server: String, reason: CloseReason) async throws -> Int {
        try await withCheckedThrowingContinuation { continuation in
            submit(.closeServer(server, reason, continuation))
        }
    }

    /// Returns when everything submitted so far is committed.
    public func drained() async {
        await withCheckedContinuation { continuation in
            let idle = state.withLock { state in
                if state.pending.isEmpty && !state.inFlight { return true }
                state.idleWaiters.append(continuation)
                return false
            }
            if idle { continuation.resume() }
        }
    }

    /// Calls `observer` after every committed batch.
    public func onCommit(_ observer: @escaping @Sendable (CommitReport) -> Void) {
        state.withLock { $0.observers.append(observer) }
    }

    private func submit(_ request: RegistryRequest) {
        let wakeUp = state.withLock { state in
            state.pending.append(request)
            defer { state.wakeUp = nil }
            return state.wakeUp
        }
        wakeUp?.resume()
    }

    // MARK: Service

    /// Commits batches until graceful shutdown (or cancellation), then what is still pending, then returns.
    public func run() async throws {
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                while let batch = await nextBatch() {
                    await commit(batch)
                    state.withLock { $0.inFlight = false }
                }
            } onGracefulShutdown: {
                self.requestStop()
            }
        } onCancel: {
            self.requestStop()
        }
        let waiters = state.withLock { state in
            defer { state.idleWaiters = [] }
            return state.idleWaiters
        }
        for waiter in waiters { waiter.resume() }
    }

    private func requestStop() {
        let wakeUp = state.withLock { state in
            state.stopping = true
            defer { state.wakeUp = nil }
            return state.wakeUp
        }
        wakeUp?.resume()
    }

    /// Waits for work; nil once stopping with nothing left to write.
    private func nextBatch() async -> [RegistryRequest]? {
        while true {
            enum Step { case batch([RegistryRequest]), stop, wait }
            let (step, idleWaiters): (Step, [CheckedContinuation<Void, Never>]) = state.withLock { state in
                if !state.pending.isEmpty {
                    let batch = Array(state.pending.prefix(maxBatch))
                    state.pending.removeFirst(batch.count)
                    state.inFlight = true
                    return (.batch(batch), [])
                }
                defer { state.idleWaiters = [] }
                return (state.stopping ? .stop : .wait, state.idleWaiters)
            }
            for waiter in idleWaiters { waiter.resume() }
            switch step {
            case .batch(let batch): return batch
            case .stop: return nil
            case .wait:
                await withCheckedContinuation { continuation in
                    let ready = state.withLock { state in
                        if !state.pending.isEmpty || state.stopping { return true }
                        state.wakeUp = continuation
                        return false
                    }
                    if ready { continuation.resume() }
                }
            }
        }
    }

    // MARK: Committing

    private func commit(_ batch: [RegistryRequest]) async {
        var attempt = 0
        while true {
            attempt += 1
            do {
                let outcome = try await write(batch)
                let observers = state.withLock { state in
                    state.committedTransactions += 1
                    return state.observers
                }
                deliver(outcome, to: batch, observers: observers)
                return
            } catch let error as PSQLError where error.isRetryableConflict && attempt < 50 {
                logger.debug("registry batch conflicted, retrying", metadata: ["attempt": "\(attempt)", "sqlstate": "\(error.sqlState ?? "")"])
            } catch {
                logger.warning("registry batch failed", metadata: ["error": "\(String(reflecting: error))", "requests": "\(batch.count)"])
                // Opens fail fast (the client is not welcomed); closes and purges wait and retry.
                let retained = batch.filter { request in
                    if case .open(_, let continuation) = request {
                        continuation.resume(throwing: RegistryUnavailable(underlying: error))
                        return false
                    }
                    return true
                }
                guard !retained.isEmpty else { return }
                state.withLock { $0.pending.insert(contentsOf: retained, at: 0) }
                try? await Task.sleep(for: .milliseconds(min(2000, 100 * attempt)))
                return
            }
        }
    }

    private func deliver(_ outcome: BatchOutcome, to batch: [RegistryRequest], observers: [@Sendable (CommitReport) -> Void]) {
        for request in batch {
            switch request {
            case .open(let connection, let continuation):
                continuation.resume(returning: outcome.openedAt[connection.connectionID] ?? outcome.committedAt)
            case .close:
                break
            case .closeServer(let server, let reason, let continuation):
                continuation.resume(returning: outcome.closedByServer["\(server)/\(reason.rawValue)"] ?? 0)
            }
        }
        let report = CommitReport(requests: batch.count, transitions: outcome.transitions)
        for observer in observers { observer(report) }
    }

    private func write(_ batch: [RegistryRequest]) async throws -> BatchOutcome {
        try await client.withTransaction(logger: logger) { connection in
            var outcome = BatchOutcome()
            var delta: [String: Int] = [:]

            let opens = batch.compactMap { if case .open(let c, _) = $0 { c } else { nil } }
            if !opens.isEmpty {
                let rows = try await connection.query(
                    """
                    INSERT INTO rollcall.connections (connection_id, user_id, server_id, user_agent, remote_addr)
                    SELECT id, user_id, \(serverID), NULLIF(agent, ''), NULLIF(address, '')::inet
                    FROM unnest(\(opens.map(\.connectionID.uuid))::uuid[], \(opens.map(\.userID))::text[],
                                \(opens.map { $0.userAgent ?? "" })::text[], \(opens.map { $0.remoteAddress ?? "" })::text[])
                         AS t(id, user_id, agent, address)
                    ON CONFLICT (connection_id) DO NOTHING
                    RETURNING connection_id, user_id, created_at
                    """, logger: logger)
                for try await (id, user, createdAt) in rows.decode((UUID, String, Date).self) {
                    outcome.openedAt[ConnectionID(id)] = createdAt
                    delta[user, default: 0] += 1
                }
            }

            let closes = batch.compactMap { if case .close(let id, let reason) = $0 { (id, reason) } else { nil } }
            if !closes.isEmpty {
                let rows = try await connection.query(
                    """
                    UPDATE rollcall.connections AS c
                    SET connected = false, disconnected_at = now(), close_reason = t.reason
                    FROM unnest(\(closes.map(\.0.uuid))::uuid[], \(closes.map(\.1.rawValue))::text[]) AS t(id, reason)
                    WHERE c.connection_id = t.id AND c.connected
                    RETURNING c.user_id
                    """, logger: logger)
                for try await user in rows.decode(String.self) { delta[user, default: 0] -= 1 }
            }

            for request in batch {
                guard case .closeServer(let server, let reason, _) = request else { continue }
                let rows = try await connection.query(
                    """
                    UPDATE rollcall.connections
                    SET connected = false, disconnected_at = now(), close_reason = \(reason.rawValue)
                    WHERE server_id = \(server) AND connected
                    RETURNING user_id
                    """, logger: logger)
                var closed = 0
                for try await user in rows.decode(String.self) {
                    delta[user, default: 0] -= 1
                    closed += 1
                }
                outcome.closedByServer["\(server)/\(reason.rawValue)", default: 0] += closed
            }

            let changes = try await applyCounters(delta, on: connection)
            outcome.committedAt = changes.committedAt ?? Date()
            outcome.transitions = changes.changes.compactMap { $0.transition(at: outcome.committedAt) }
            for payload in PresenceNotification.payloads(server: serverID, events: outcome.transitions) {
                try await connection.query("SELECT pg_notify('rollcall_presence', \(payload))", logger: logger)
            }
            return outcome
        }
    }

    /// The counter upsert: positive deltas insert-or-add in `user_id` order, negative ones subtract.
    /// A version grows exactly when a count crosses zero.
    private func applyCounters(_ delta: [String: Int], on connection: PostgresConnection) async throws
        -> (changes: [CounterChange], committedAt: Date?)
    {
        let entries = delta.filter { $0.value != 0 }.sorted { $0.key < $1.key }
        guard !entries.isEmpty else { return ([], nil) }
        let rows = try await connection.query(
            """
            WITH d AS (SELECT * FROM unnest(\(entries.map(\.key))::text[], \(entries.map { $0.value })::int[]) AS d(user_id, delta)),
            added AS (
                INSERT INTO rollcall.users AS u (user_id, online, connections, online_since, last_seen_at, first_seen_at, version)
                SELECT user_id, true, delta, now(), now(), now(), 1 FROM d WHERE delta > 0 ORDER BY user_id
                ON CONFLICT (user_id) DO UPDATE SET
                    connections = u.connections + EXCLUDED.connections,
                    online = true,
                    online_since = CASE WHEN u.connections = 0 THEN now() ELSE u.online_since END,
                    last_seen_at = now(),
                    version = u.version + CASE WHEN u.connections = 0 THEN 1 ELSE 0 END
                RETURNING u.user_id, u.connections, u.version
            ),
            removed AS (
                UPDATE rollcall.users AS u SET
                    connections = u.connections + d.delta,
                    online = u.connections + d.delta > 0,
                    online_since = CASE WHEN u.connections + d.delta > 0 THEN u.online_since END,
                    last_seen_at = now(),
                    version = u.version + CASE WHEN u.connections > 0 AND u.connections + d.delta = 0 THEN 1 ELSE 0 END
                FROM d WHERE d.delta < 0 AND u.user_id = d.user_id
                RETURNING u.user_id, u.connections, u.version
            )
            SELECT user_id, connections, version, now() FROM added
            UNION ALL SELECT user_id, connections, version, now() FROM removed
            """, logger: logger)
        var changes: [CounterChange] = []
        var committedAt: Date?
        for try await (user, after, version, now) in rows.decode((String, Int, Int64, Date).self) {
            let change = delta[user] ?? 0
            changes.append(CounterChange(userID: user, before: after - change, after: after, version: version))
            committedAt = now
        }
        return (changes.sorted { $0.userID < $1.userID }, committedAt)
    }
}

/// One thing asked of the writer.
enum RegistryRequest: Sendable {
    case open(NewConnection, CheckedContinuation<Date, any Error>)
    case close(ConnectionID, CloseReason)
    case closeServer(String, CloseReason, CheckedContinuation<Int, any Error>)
}

/// What one committed batch did.
public struct CommitReport: Sendable {
    /// Opens, closes and bulk closes the transaction carried.
    public let requests: Int
    /// The transitions it decided, already sent with NOTIFY.
    public let transitions: [PresenceTransition]
}

struct BatchOutcome {
    var openedAt: [ConnectionID: Date] = [:]
    var closedByServer: [String: Int] = [:]
    var transitions: [PresenceTransition] = []
    var committedAt = Date()
}

/// The database did not take a write; the hub answers 503 / `unavailable`.
public struct RegistryUnavailable: Error, CustomStringConvertible {
    public let underlying: any Error
    public var description: String { "the database is unavailable: \(String(reflecting: underlying))" }
}

extension PSQLError {
    var sqlState: String? { serverInfo?[.sqlState] }

    /// Deadlock or serialization failure: the batch is simply tried again.
    var isRetryableConflict: Bool { sqlState == "40P01" || sqlState == "40001" }
}
