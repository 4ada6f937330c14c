import PostgresNIO
import Synchronization

/// Work that did not finish within its time limit.
public struct DeadlinePassed: Error, CustomStringConvertible {
    public let limit: Duration
    public var description: String { "no answer within \(limit)" }
}

/// Runs `body`, throwing `DeadlinePassed` after `limit` (or `CancellationError` when the caller
/// is cancelled) without waiting for `body` to end: work that ignores cancellation, a query whose
/// connection hangs, cannot hold the caller. `onAbandon` is how the caller makes the abandoned work
/// end (closing the connection it waits on), run both when the limit passes and when the caller is
/// cancelled; `body` is cancelled too, and its result dropped. A nil `limit` bounds `body` by
/// cancellation alone (work as long as a migration, which must still not hold a shutdown).
///
/// `unless`: checked when the limit passes; true lets `body` run on without limit (a deadline on
/// setting something up that then runs for long, like a LISTEN).
public func withDeadline<T: Sendable>(
    _ limit: Duration?, unless reached: @escaping @Sendable () -> Bool = { false },
    onAbandon: @escaping @Sendable () -> Void = {}, _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    let race = DeadlineRace<T>()
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { continuation in
            race.start(continuation)
            let work = Task {
                do {
                    race.finish(.success(try await body()))
                } catch {
                    race.finish(.failure(error))
                }
            }
            let timer = Task {
                guard let limit, (try? await Task.sleep(for: limit)) != nil, !reached() else { return }
                // The connection is closed before the work is cancelled and the caller resumes:
                // cancelled work may otherwise hand a connection whose query still runs back to
                // its pool, for the caller's next lease.
                race.finish(.failure(DeadlinePassed(limit: limit)), first: onAbandon)
            }
            race.whenFinished {
                timer.cancel()
                work.cancel()
            }
        }
    } onCancel: {
        race.finish(.failure(CancellationError()), first: onAbandon)
    }
}

/// The first of body, timer and cancellation to finish resumes the caller; the others find it done.
private final class DeadlineRace<T: Sendable>: Sendable {
    private struct State {
        var continuation: CheckedContinuation<T, any Error>?
        var outcome: Result<T, any Error>?
        var cleanup: (@Sendable () -> Void)?
    }
    private let state = Mutex(State())

    func start(_ continuation: CheckedContinuation<T, any Error>) {
        let early = state.withLock { state -> Result<T, any Error>? in
            if let outcome = state.outcome { return outcome }
            state.continuation = continuation
            return nil
        }
        if let early { continuation.resume(with: early) }
    }

    /// Runs `cleanup` once the race is decided (at once if it is already).
    func whenFinished(_ cleanup: @escaping @Sendable () -> Void) {
        let decided = state.withLock { state -> Bool in
            if state.outcome != nil { return true }
            state.cleanup = cleanup
            return false
        }
        if decided { cleanup() }
    }

    /// Records `outcome` if nothing finished first, runs `first`, then resumes the caller.
    func finish(_ outcome: Result<T, any Error>, first: () -> Void = {}) {
        let (won, continuation, cleanup) = state.withLock { state -> (Bool, CheckedContinuation<T, any Error>?, (@Sendable () -> Void)?) in
            guard state.outcome == nil else { return (false, nil, nil) }
            state.outcome = outcome
            defer {
                state.continuation = nil
                state.cleanup = nil
            }
            return (true, state.continuation, state.cleanup)
        }
        guard won else { return }
        first()
        cleanup?()
        continuation?.resume(with: outcome)
    }
}

/// The connection one attempt runs on, so that its deadline can close it, and the transaction
/// it began there, so that the outcome of an attempt given up on can be asked afterwards.
final class ConnectionSlot: Sendable {
    /// A transaction by its 64-bit id (`pg_current_xact_id()`) and the backend running it.
    struct Transaction: Sendable, Equatable {
        let id: String
        let backend: Int32
    }

    private let connection = Mutex<PostgresConnection?>(nil)
    private let began = Mutex<Transaction?>(nil)

    func use(_ connection: PostgresConnection) {
        self.connection.withLock { $0 = connection }
    }

    func record(_ transaction: Transaction) {
        began.withLock { $0 = transaction }
    }

    /// The transaction the attempt began, if it got that far.
    var transaction: Transaction? { began.withLock { $0 } }

    /// Returns once the attempt's connection is closed (or at once when it had none).
    func closed() async {
        guard let connection = connection.withLock({ $0 }) else { return }
        try? await connection.closeFuture.get()
    }

    @Sendable func closeConnection() {
        if let connection = connection.withLock({ $0 }) {
            _ = connection.close() as EventLoopFuture<Void>
        }
    }
}
