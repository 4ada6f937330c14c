import Foundation
import Logging
import RollCall

/// What callers ask of the writer. Each request is queued with how its caller hears the outcome;
/// closes, graces and reopens are answered by nobody and never lost (see `RegistryQueue`).
extension RegistryWriter {
    /// Writes the row of a new connection; returns once it is committed (then the client may be welcomed).
    public func open(_ connection: NewConnection) async throws -> Date {
        try await withCheckedThrowingContinuation { continuation in
            submit(.open(connection)) { continuation.resume(with: $0.map { $0.openedAt[connection.connectionID] ?? $0.committedAt }) }
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
            submit(.closeServer(server, reason)) {
                continuation.resume(with: $0.map { $0.closedByServer[BatchPlan.ServerClose(server: server, reason: reason)] ?? 0 })
            }
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
            submit(.purge(window: window, requestedAt: .now)) { continuation.resume(with: $0.map { $0.purge ?? PurgeReport(skipped: true) }) }
        }
    }

    /// Publishes a message to every open connection of `message.to`, on every hub; returns once
    /// the notification is committed.
    public func send(_ message: UserMessage) async throws {
        try await withCheckedThrowingContinuation { continuation in
            submit(.message(message)) { continuation.resume(with: $0.map { _ in }) }
        }
    }

    /// Publishes a message without waiting: `completion` is called once it is committed or has
    /// failed. Completions run in submission order, so a sender's answers keep its order, and a
    /// socket can have many messages in one batch.
    public func send(_ message: UserMessage, then completion: @escaping MessageCompletion) {
        submit(.message(message)) { completion($0.map { _ in }) }
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

    /// Queues `item`; `reply`, when given, hears the outcome of its batch or why it failed.
    func submit(_ item: BatchPlan.Item, reply: RegistryRequest.Reply? = nil) {
        let request = RegistryRequest(item: item, reply: reply)
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
}
