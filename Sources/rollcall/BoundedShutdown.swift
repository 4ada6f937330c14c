import Foundation
import Logging
import Synchronization
import UnixSignals

/// SIGTERM and SIGINT end `rollcall serve` in bounded time, whatever it is doing.
///
/// Before the hub serves (starting or finding the cluster, building the hub) the first signal
/// cancels the start, so an embedded cluster this run started is stopped on the way out. Once it
/// serves, the hub's own service group turns the signal into a graceful shutdown; this only keeps
/// time: past `patience`, or at a second signal, the process exits without waiting any longer.
enum BoundedShutdown {
    /// Whether the hub serves yet; shared by the command and the time keeper.
    final class Stage: Sendable {
        private let state = Mutex<(serving: Bool, signal: String?)>((false, nil))
        func enterServing() { state.withLock { $0.serving = true } }
        /// Records a signal; returns whether the hub was serving when it came.
        func received(_ signal: String) -> Bool {
            state.withLock { state in
                state.signal = state.signal ?? signal
                return state.serving
            }
        }
        var signal: String? { state.withLock { $0.signal } }
    }

    /// A signal arrived before the hub served.
    struct Interrupted: Error, CustomStringConvertible {
        let signal: String
        var description: String { "stopped by \(signal) before the hub was serving" }
    }

    static func run(
        patience: Duration, logger: Logger,
        _ body: @escaping @Sendable (_ serving: @escaping @Sendable () -> Void) async throws -> Void
    ) async throws {
        let stage = Stage()
        let signals = await UnixSignalsSequence(trapping: .sigterm, .sigint)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                do {
                    try await body { stage.enterServing() }
                } catch let error where !(error is CommandFailure) {
                    // A start cut short by a signal fails with whatever it was waiting for; say why.
                    if let signal = stage.signal { throw Interrupted(signal: signal) }
                    throw error
                }
            }
            group.addTask {
                try await keepTime(signals: signals, stage: stage, patience: patience, logger: logger)
            }
            // The first to end is the command itself, or the time keeper refusing to wait.
            defer { group.cancelAll() }
            try await group.next()
        }
    }

    private static func keepTime(signals: UnixSignalsSequence, stage: Stage, patience: Duration, logger: Logger) async throws {
        try await withThrowingTaskGroup(of: Void.self) { timers in
            var received = 0
            for await signal in signals {
                received += 1
                if !stage.received("\(signal)") { throw Interrupted(signal: "\(signal)") }
                if received > 1 { giveUp(logger: logger, because: "a second \(signal)") }
                timers.addTask {
                    try await Task.sleep(for: patience)
                    giveUp(logger: logger, because: "shutdown took longer than \(patience)")
                }
            }
        }
    }

    private static func giveUp(logger: Logger, because reason: String) -> Never {
        logger.error(
            "exiting without finishing the shutdown: a restart with this server_id or another hub's purge closes what is left open",
            metadata: ["reason": "\(reason)"])
        exit(1)
    }
}
