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
        /// Callers of `roomForMessages(within:)` while the queue is backlogged, oldest first.
        var roomWaiters: [RoomWaiter] = []
        /// Whether a task is releasing the room waiters whose limit has passed.
        var roomWaitersWatched = false
        /// Names each room change's answer in its batch's outcome.
        var nextChangeTicket = 0
        var observers: [@Sendable (CommitReport) -> Void] = []
        var failureObservers: [@Sendable () -> Void] = []
    }

    /// How long a user whose last connection closed stays online; zero publishes offline at once.
    let offlineGrace: Duration

    /// A sender held until the writer has room, or until `until`.
    struct RoomWaiter {
        let until: ContinuousClock.Instant
        let continuation: CheckedContinuation<Void, Never>
    }

    /// Whether each batch also writes the webhooks of its transitions to the outbox (migration 009).
    let webhooks: Bool

    /// Signs every NOTIFY so hubs can tell this writer's payloads from anyone else's.
    let seal: NotifySeal

    public init(
        serverID: String, client: PostgresClient, seal: NotifySeal, maxBatch: Int, linger: Duration = .zero,
        offlineGrace: Duration = .zero, attemptLimit: Duration = .seconds(10), webhooks: Bool = false, logger: Logger
    ) {
        self.serverID = serverID
        self.webhooks = webhooks
        self.seal = seal
        self.attemptLimit = attemptLimit
        self.client = client
        self.state = Mutex(
            QueueState(queue: RegistryQueue(maxBatch: maxBatch, linger: linger, shutdownPatience: Self.shutdownPatience, backoff: Self.backoff)))
        self.offlineGrace = offlineGrace
        var logger = logger
        logger[metadataKey: "server_id"] = "\(serverID)"
        self.logger = logger
    }

    /// Transactions this writer committed: the figure that shows grouping.
    public var committedTransactions: Int { state.withLock { $0.queue.committedTransactions } }

    /// Requests waiting for the next transaction (the queue depth).
    public var pendingRequests: Int { state.withLock { $0.queue.pendingCount } }
    /// Whether new messages should wait for now (`RegistryQueue.isBacklogged`).
    public var isBacklogged: Bool { state.withLock { $0.queue.isBacklogged } }

    /// Returns once the queue is not backlogged (at once if it is not), the writer has stopped, or
    /// `limit` has passed (by up to `roomWaiterCheck`). A socket's frames are read one after the
    /// other: a sender that waits here is not read, so TCP slows it down, and the hub queues no
    /// more than it can write soon. The limit lets a held socket notice its own close, and a
    /// database outage, within that time.
    public func roomForMessages(within limit: Duration) async {
        await withCheckedContinuation { continuation in
            let (held, watch) = state.withLock { state -> (Bool, Bool) in
                guard state.queue.isBacklogged, !state.queue.finished else { return (false, false) }
                state.roomWaiters.append(RoomWaiter(until: .now + limit, continuation: continuation))
                defer { state.roomWaitersWatched = true }
                return (true, !state.roomWaitersWatched)
            }
            guard held else { return continuation.resume() }
            if watch { Task { await self.releaseExpiredRoomWaiters() } }
        }
    }

    /// Lets go of held senders whose limit has passed, a quarter of a second late at most, for as
    /// long as any is held: one task for them all, where a timer of each held frame's own would
    /// cost a hub past its capacity a timer per message.
    private func releaseExpiredRoomWaiters() async {
        while true {
            try? await Task.sleep(for: Self.roomWaiterCheck)
            let expired: [RoomWaiter]? = state.withLock { state in
                guard !state.roomWaiters.isEmpty else {
                    state.roomWaitersWatched = false
                    return nil
                }
                let now = ContinuousClock.now
                let expired = state.roomWaiters.filter { $0.until <= now }
                if !expired.isEmpty { state.roomWaiters.removeAll { $0.until <= now } }
                return expired
            }
            guard let expired else { return }
            for waiter in expired { waiter.continuation.resume() }
        }
    }

    static let roomWaiterCheck: Duration = .milliseconds(250)

    // MARK: Service

    /// Commits batches until graceful shutdown (or `stop()`), then what is still pending, then
    /// returns. Cancelled, it gives up what is pending at once: a cancelled task can lease no
    /// connection and sleep through no backoff, so it could only fail each retry on the spot.
    public func run() async throws {
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await withDiscardingTaskGroup { group in
                    group.addTask { await self.runGraceTimers() }
                    while let batch = await nextBatch() {
                        guard !Task.isCancelled else {
                            abandon(batch, graces: 0, error: CancellationError())
                            break
                        }
                        await commit(batch)
                        state.withLock { $0.queue.batchEnded() }
                    }
                    group.cancelAll()
                }
            } onGracefulShutdown: {
                self.stop()
            }
        } onCancel: {
            self.stop()
        }
        let (waiters, leftover) = state.withLock { state in
            defer { state.idleWaiters = []; state.roomWaiters = [] }
            return (state.idleWaiters + state.roomWaiters.map(\.continuation), state.queue.finish())
        }
        if Task.isCancelled, !leftover.isEmpty {
            abandon(leftover, graces: 0, error: CancellationError())
        } else {
            fail(leftover, error: WriterStopped())
        }
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

    /// Key of the advisory lock that lets one hub purge at a time (held for the transaction).
    public static let purgeLockKey = RegistryStatements.purgeLockKey

    /// Writes what is pending, then lets `run()` return: a graceful shutdown's stop, for a writer
    /// run outside a service group.
    public func stop() {
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
            let (step, waiters) = state.withLock { state in
                let step = state.queue.next(at: now)
                var waiters: [CheckedContinuation<Void, Never>] = []
                if !state.queue.isBacklogged {
                    waiters = state.roomWaiters.map(\.continuation)
                    state.roomWaiters = []
                }
                // Only an idle queue answers `drained()`: requests that linger are not written yet.
                if state.queue.isIdle {
                    waiters += state.idleWaiters
                    state.idleWaiters = []
                }
                return (step, waiters)
            }
            for waiter in waiters { waiter.resume() }
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
            } catch {
                switch BatchFailure(error) {
                case .conflict(let sqlState) where attempt < 50:
                    logger.debug("registry batch conflicted, retrying", metadata: ["attempt": "\(attempt)", "sqlstate": "\(sqlState)"])
                    continue
                case .refused(let refusal):
                    await isolate(batch, refusedWith: refusal)
                    return
                case .conflict, .unavailable:
                    break
                }
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
            "sqlstate": "\(error.serverInfo?[.sqlState] ?? "")", "message": "\(error.serverInfo?[.message] ?? "\(error)")",
            "requests": "\(batch.count)",
        ]
        guard batch.count > 1 else {
            logger.error("registry request refused by the database", metadata: metadata.merging(["request": "\(batch[0].item.kind)"]) { $1 })
            fail(batch, error: error)
            return
        }
        logger.error("registry batch refused by the database: splitting it to isolate the request at fault", metadata: metadata)
        let half = batch.count / 2
        await commit(Array(batch[..<half]))
        await commit(Array(batch[half...]))
    }

    /// Shutting down with the database gone, or cancelled: give up what is queued, saying what and why.
    private func abandon(_ requests: [RegistryRequest], graces: Int, error: any Error) {
        let closes = requests.filter { if case .close = $0.item { true } else { false } }.count
        let why = error is CancellationError ? "writer cancelled" : "database unreachable at shutdown"
        logger.error(
            "\(why): giving up; a restart with this server_id or another hub's orphan purge closes these rows",
            metadata: ["closes": "\(closes)", "requests": "\(requests.count)", "graces": "\(graces)"])
        fail(requests, error: error)
    }

    /// Answers every waiting submitter of `requests` with `error`; closes and the rest have nobody waiting.
    func fail(_ requests: [RegistryRequest], error: any Error) {
        for request in requests { request.reply?(.failure(RegistryUnavailable(underlying: error))) }
    }

    private func deliver(_ outcome: BatchOutcome, to batch: [RegistryRequest], observers: [@Sendable (CommitReport) -> Void]) {
        for request in batch { request.reply?(.success(outcome)) }
        scheduleGrace(for: outcome.graceStarted)
        let report = CommitReport(requests: batch.count, transitions: outcome.transitions)
        for observer in observers { observer(report) }
    }
}
