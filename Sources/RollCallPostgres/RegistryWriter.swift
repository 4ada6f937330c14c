import Foundation
import Logging
import PostgresNIO
import RollCall
import ServiceLifecycle
import Synchronization

/// The one writer of a hub: every open, close and message goes through it, and the requests that
/// arrive while a transaction is in flight become the next transaction (group commit). Under load
/// a batch lingers a little for more (`RegistryQueue.linger`, `--batch-linger`).
///
/// A batch is one transaction: multi-row statements for the rows, one counter upsert whose
/// `RETURNING` decides the transitions, then one `NOTIFY rollcall_presence` (chunked) for them
/// and one `NOTIFY rollcall_messages` for the messages (see `RegistryWriter+Batch.swift`).
public final class RegistryWriter: Service, Sendable {
    public let serverID: String
    let client: PostgresClient
    let logger: Logger
    let state: Mutex<QueueState>

    /// What the submitters and the run loop share: the queue's decisions (`RegistryQueue`, pure)
    /// and the continuations that carry them out.
    struct QueueState {
        var queue: RegistryQueue<RegistryRequest>
        /// The run loop, waiting for work.
        var wakeUp: CheckedContinuation<Void, Never>?
        /// Callers of `drained()`.
        var idleWaiters: [CheckedContinuation<Void, Never>] = []
        var observers: [@Sendable (CommitReport) -> Void] = []
        var failureObservers: [@Sendable () -> Void] = []
    }

    /// How long a user whose last connection closed stays online; zero publishes offline at once.
    let offlineGrace: Duration

    /// Signs every NOTIFY so hubs can tell this writer's payloads from anyone else's.
    let seal: NotifySeal

    public init(
        serverID: String, client: PostgresClient, seal: NotifySeal, maxBatch: Int, linger: Duration = .zero,
        offlineGrace: Duration = .zero, attemptLimit: Duration = .seconds(10), logger: Logger
    ) {
        self.serverID = serverID
        self.seal = seal
        self.attemptLimit = attemptLimit
        self.client = client
        self.state = Mutex(QueueState(queue: RegistryQueue(maxBatch: maxBatch, linger: linger, shutdownPatience: Self.shutdownPatience, backoff: Self.backoff)))
        self.offlineGrace = offlineGrace
        var logger = logger
        logger[metadataKey: "server_id"] = "\(serverID)"
        self.logger = logger
    }

    /// Transactions this writer committed: the figure that shows grouping.
    public var committedTransactions: Int { state.withLock { $0.queue.committedTransactions } }

    /// Requests waiting for the next transaction (the queue depth).
    public var pendingRequests: Int { state.withLock { $0.queue.pendingCount } }

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

    /// Reopens this hub's rows that an orphan purge closed while their sockets stayed open
    /// (the hub was cut off from the database longer than the window).
    public func reopen(_ ids: [ConnectionID]) {
        guard !ids.isEmpty else { return }
        submit(.reopen(ids))
    }

    /// Closes the open rows of hubs silent for longer than `window` (one hub at a time, by
    /// advisory lock) and finishes offline graces that dead hubs left pending.
    public func purgeOrphans(window: Duration) async throws -> PurgeReport {
        try await withCheckedThrowingContinuation { continuation in
            submit(.purgeOrphans(window: window, requestedAt: .now, continuation))
        }
    }

    /// Publishes a message to every open connection of `message.to`, on every hub; returns once
    /// the notification is committed.
    public func send(_ message: UserMessage) async throws {
        try await withCheckedThrowingContinuation { continuation in
            submit(.message(message) { continuation.resume(with: $0) })
        }
    }

    /// Publishes a message without waiting: `completion` is called once it is committed or has
    /// failed. Completions run in submission order, so a sender's answers keep its order, and a
    /// socket can have many messages in one batch.
    public func send(_ message: UserMessage, then completion: @escaping MessageCompletion) {
        submit(.message(message, completion))
    }

    /// Returns when everything submitted so far is committed.
    public func drained() async {
        await withCheckedContinuation { continuation in
            let idle = state.withLock { state in
                if state.queue.isIdle { return true }
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

    /// Calls `observer` each time a batch fails for want of the database (not when the database
    /// refuses one request of it).
    public func onFailure(_ observer: @escaping @Sendable () -> Void) {
        state.withLock { $0.failureObservers.append(observer) }
    }

    func submit(_ request: RegistryRequest) {
        let now = ContinuousClock.now
        let (accepted, wakeUp) = state.withLock { state in
            guard state.queue.submit(request, at: now) else { return (false, nil as CheckedContinuation<Void, Never>?) }
            defer { state.wakeUp = nil }
            return (true, state.wakeUp)
        }
        guard accepted else {
            // The hub is past its writer (a failed start or the end of shutdown): say so at once
            // rather than leave the caller waiting for a run loop that is gone.
            logger.warning("registry writer already stopped: request refused")
            fail([request], error: WriterStopped())
            return
        }
        wakeUp?.resume()
    }

    // MARK: Service

    /// Commits batches until graceful shutdown (or cancellation), then what is still pending, then returns.
    public func run() async throws {
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await withDiscardingTaskGroup { group in
                    group.addTask { await self.runGraceTimers() }
                    while let batch = await nextBatch() {
                        await commit(batch)
                        state.withLock { $0.queue.batchEnded() }
                    }
                    group.cancelAll()
                }
            } onGracefulShutdown: {
                self.requestStop()
            }
        } onCancel: {
            self.requestStop()
        }
        let (waiters, leftover) = state.withLock { state in
            defer { state.idleWaiters = [] }
            return (state.idleWaiters, state.queue.finish())
        }
        fail(leftover, error: WriterStopped())
        for waiter in waiters { waiter.resume() }
    }

    /// The hub has begun to shut down: from now on an unreachable database is retried only for
    /// `shutdownPatience`, so shutdown cannot hang on it.
    public func shutdownBegins() {
        state.withLock { $0.queue.shutdownBegins(now: .now) }
    }

    /// Longest one attempt at a batch may take (waiting for a pooled connection included); past
    /// it the attempt's backend is stopped and the writer asks whether the transaction committed.
    let attemptLimit: Duration

    /// The pause before retrying what a failed batch left: 100 ms, doubling, at most 5 s.
    static let backoff = Backoff()

    /// How long a stopping writer keeps retrying an unreachable database. What it then gives up
    /// is not lost for good: a restart with the same server_id, or another hub's orphan purge,
    /// closes those rows.
    static let shutdownPatience: Duration = .seconds(15)

    /// How long a purge request stays valid at least (a quarter of its window if that is longer):
    /// it was made after a full window of unbroken contact, and one that sat in the queue through an
    /// outage would purge hubs that are only coming back (`BatchPlan`).
    static let purgeFreshness: Duration = .seconds(1)

    private func requestStop() {
        let wakeUp = state.withLock { state in
            state.queue.stopRequested(now: .now)
            defer { state.wakeUp = nil }
            return state.wakeUp
        }
        wakeUp?.resume()
    }

    /// Waits for work; nil once stopping with nothing left to write.
    private func nextBatch() async -> [RegistryRequest]? {
        while true {
            let now = ContinuousClock.now
            let (step, idleWaiters) = state.withLock { state in
                let step = state.queue.next(at: now)
                // Only an idle queue answers `drained()`: requests that linger are not written yet.
                guard state.queue.isIdle else { return (step, [CheckedContinuation<Void, Never>]()) }
                defer { state.idleWaiters = [] }
                return (step, state.idleWaiters)
            }
            for waiter in idleWaiters { waiter.resume() }
            switch step {
            case .batch(let batch): return batch
            case .stop: return nil
            case .lingerUntil(let deadline):
                // Short (at most `HubConfiguration.maxBatchLinger`), so neither a full batch nor a
                // stop needs to cut it off; a stop is taken at the next turn.
                try? await Task.sleep(until: deadline, clock: .continuous)
            case .wait:
                await withCheckedContinuation { continuation in
                    let ready = state.withLock { state in
                        if state.queue.hasWork { return true }
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
                // Past the deadline the attempt's connection is closed: a query on a dead TCP
                // connection or a hung server ignores cancellation, and would hold the writer.
                let slot = ConnectionSlot()
                let outcome: BatchOutcome
                do {
                    outcome = try await withDeadline(attemptLimit, onAbandon: slot.closeConnection) {
                        try await self.write(batch, slot: slot)
                    }
                } catch let error as DeadlinePassed {
                    // The answer never came: ask the database what became of the transaction,
                    // so that what the clients are told matches what is in it.
                    guard let transaction = slot.transaction else { throw error }
                    // Its connection must be gone before the pool is asked for another one: a query
                    // on a connection closed under it is never answered.
                    _ = try? await withDeadline(.seconds(2)) { await slot.closed() }
                    guard await settle(transaction) == .committed else { throw error }
                    logger.warning("registry batch committed after its deadline", metadata: ["requests": "\(batch.count)"])
                    outcome = await lateOutcome()
                }
                let observers = state.withLock { state in
                    state.queue.batchCommitted()
                    return state.observers
                }
                deliver(outcome, to: batch, observers: observers)
                return
            } catch let error where PSQLError.refusal(in: error)?.isRetryableConflict == true && attempt < 50 {
                logger.debug("registry batch conflicted, retrying", metadata: ["attempt": "\(attempt)", "sqlstate": "\(PSQLError.refusal(in: error)?.sqlState ?? "")"])
            } catch let error where PSQLError.refusal(in: error)?.isRequestFault == true {
                await isolate(batch, refusedWith: PSQLError.refusal(in: error)!)
                return
            } catch {
                let (failure, failureObservers) = state.withLock { state in
                    (state.queue.batchFailed(batch, now: .now), state.failureObservers)
                }
                for observer in failureObservers { observer() }
                logger.warning("registry batch failed", metadata: ["error": "\(String(reflecting: error))", "requests": "\(batch.count)"])
                // Opens and messages fail fast (the client hears it); closes and the rest wait and retry.
                fail(failure.failFast, error: error)
                if !failure.abandoned.isEmpty {
                    abandon(failure.abandoned, graces: failure.abandonedGraces, error: error)
                }
                if let pause = failure.retryAfter {
                    try? await Task.sleep(for: pause)
                }
                return
            }
        }
    }

    /// The database refused the batch for something in it that no retry can fix (a value it
    /// rejects, a limit passed): halve it until the request at fault fails alone and everything
    /// else commits. A lone refused request is answered with the error, or, with nobody waiting
    /// for it (a close), logged and left to a restart or the purge.
    private func isolate(_ batch: [RegistryRequest], refusedWith error: PSQLError) async {
        let metadata: Logger.Metadata = [
            "sqlstate": "\(error.sqlState ?? "")", "message": "\(error.serverInfo?[.message] ?? "\(error)")", "requests": "\(batch.count)",
        ]
        guard batch.count > 1 else {
            logger.error("registry request refused by the database", metadata: metadata.merging(["request": "\(batch[0].kind)"]) { $1 })
            fail(batch, error: error)
            return
        }
        logger.error("registry batch refused by the database: splitting it to isolate the request at fault", metadata: metadata)
        let half = batch.count / 2
        await commit(Array(batch[..<half]))
        await commit(Array(batch[half...]))
    }

    /// Shutting down with the database gone: give up what is queued, saying what and why.
    private func abandon(_ requests: [RegistryRequest], graces: Int, error: any Error) {
        let closes = requests.filter { if case .close = $0 { true } else { false } }.count
        logger.error(
            "database unreachable at shutdown: giving up; a restart with this server_id or another hub's orphan purge closes these rows",
            metadata: ["closes": "\(closes)", "requests": "\(requests.count)", "graces": "\(graces)"])
        fail(requests, error: error)
    }

    /// Answers every waiting submitter of `requests` with `error`; closes and the rest have nobody waiting.
    private func fail(_ requests: [RegistryRequest], error: any Error) {
        for request in requests {
            switch request {
            case .open(_, let continuation): continuation.resume(throwing: RegistryUnavailable(underlying: error))
            case .message(_, let completion): completion(.failure(RegistryUnavailable(underlying: error)))
            case .closeServer(_, _, let continuation): continuation.resume(throwing: RegistryUnavailable(underlying: error))
            case .purgeOrphans(_, _, let continuation): continuation.resume(throwing: RegistryUnavailable(underlying: error))
            case .close, .finishGrace, .reopen: break
            }
        }
    }

    private func deliver(_ outcome: BatchOutcome, to batch: [RegistryRequest], observers: [@Sendable (CommitReport) -> Void]) {
        for request in batch {
            switch request {
            case .open(let connection, let continuation):
                continuation.resume(returning: outcome.openedAt[connection.connectionID] ?? outcome.committedAt)
            case .closeServer(let server, let reason, let continuation):
                continuation.resume(returning: outcome.closedByServer[BatchPlan.ServerClose(server: server, reason: reason)] ?? 0)
            case .message(_, let completion):
                completion(.success(()))
            case .purgeOrphans(_, _, let continuation):
                continuation.resume(returning: outcome.purge ?? PurgeReport(skipped: true))
            case .close, .finishGrace, .reopen:
                break
            }
        }
        scheduleGrace(for: outcome.graceStarted)
        let report = CommitReport(requests: batch.count, transitions: outcome.transitions)
        for observer in observers { observer(report) }
    }
}

/// Told whether a message was committed (and so published to every hub).
public typealias MessageCompletion = @Sendable (Result<Void, any Error>) -> Void

/// One thing asked of the writer.
enum RegistryRequest: Sendable {
    case open(NewConnection, CheckedContinuation<Date, any Error>)
    case close(ConnectionID, CloseReason)
    case closeServer(String, CloseReason, CheckedContinuation<Int, any Error>)
    /// Users whose offline grace has run out on this hub's clock.
    case finishGrace([String])
    case message(UserMessage, MessageCompletion)
    /// Rows of this hub that a purge closed while their sockets lived on.
    case reopen([ConnectionID])
    /// `requestedAt`: the hub's contact with the database was checked then; a request that waited
    /// longer than `RegistryWriter.purgeFreshness` (behind a batch stuck in an outage) is skipped.
    case purgeOrphans(window: Duration, requestedAt: ContinuousClock.Instant, CheckedContinuation<PurgeReport, any Error>)
}

extension RegistryRequest: QueuedRequest {
    /// Opens, messages and purges are answered at once when their batch fails (the caller can
    /// try again); closes, bulk closes, graces and reopens are kept until written.
    var retriedAfterFailure: Bool {
        switch self {
        case .open, .message, .purgeOrphans: false
        case .close, .closeServer, .finishGrace, .reopen: true
        }
    }

    /// The request as a batch plan reads it.
    var item: BatchPlan.Item {
        switch self {
        case .open(let connection, _): .open(connection)
        case .close(let id, let reason): .close(id, reason)
        case .closeServer(let server, let reason, _): .closeServer(server, reason)
        case .finishGrace(let users): .finishGrace(users)
        case .message(let message, _): .message(message)
        case .reopen(let ids): .reopen(ids)
        case .purgeOrphans(let window, let requestedAt, _): .purge(window: window, requestedAt: requestedAt)
        }
    }

    /// The request's kind, for logs.
    var kind: String {
        switch self {
        case .open: "open"
        case .close: "close"
        case .closeServer: "close_server"
        case .finishGrace: "finish_grace"
        case .message: "message"
        case .reopen: "reopen"
        case .purgeOrphans: "purge"
        }
    }
}

/// What one orphan purge pass did.
public struct PurgeReport: Sendable, Equatable {
    /// Another hub held the purge lock; this pass did nothing.
    public var skipped = false
    /// Rows closed as `orphaned`, by dead hub.
    public var closedByServer: [String: Int] = [:]
    /// Users the purge took offline (theirs were the last connections).
    public var usersOffline = 0
    /// Offline graces finished that had run out without their hub.
    public var gracesFinished = 0

    public init(skipped: Bool = false) { self.skipped = skipped }

    public var rowsClosed: Int { closedByServer.values.reduce(0, +) }
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
    var closedByServer: [BatchPlan.ServerClose: Int] = [:]
    var transitions: [PresenceTransition] = []
    var connectionEvents: [ConnectionEvent] = []
    /// Users whose last connection closed and whose offline waits for the grace.
    var graceStarted: [String] = []
    var purge: PurgeReport?
    var committedAt = Date()
}

/// The database did not take a write; the hub answers 503 / `unavailable`.
public struct RegistryUnavailable: Error, CustomStringConvertible {
    public let underlying: any Error
    public var description: String { "the database is unavailable: \(String(reflecting: underlying))" }
}

extension PSQLError {
    var sqlState: String? { serverInfo?[.sqlState] }

    /// What the server said, inside the wrapper `withTransaction` puts around it.
    static func refusal(in error: any Error) -> PSQLError? {
        if let transaction = error as? PostgresTransactionError {
            return [transaction.closureError, transaction.commitError, transaction.beginError].lazy.compactMap { $0 as? PSQLError }.first
        }
        return error as? PSQLError
    }

    /// Deadlock or serialization failure: the batch is simply tried again.
    var isRetryableConflict: Bool { sqlState == "40P01" || sqlState == "40001" }

    /// The server refused something in the request itself (bad data, a constraint, a limit such
    /// as NOTIFY's payload size, an exception a trigger raised): the same request fails again.
    /// Connection loss, timeouts, lock waits and shortages are not faults of the request.
    var isRequestFault: Bool {
        guard let sqlState, sqlState.count == 5 else { return false }
        return ["21", "22", "23", "2F", "42", "44", "54", "P0", "0A"].contains(String(sqlState.prefix(2)))
    }
}

/// The writer's run loop has ended (the hub failed to start, or shut down): nothing more is written.
public struct WriterStopped: Error, CustomStringConvertible {
    public var description: String { "the registry writer has stopped" }
}
