import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import UnixSignals

/// SIGTERM and SIGINT end `rollcall serve` in bounded time, whatever it is doing.
///
/// This is the one place that traps them. Before the hub listens (starting or finding the cluster,
/// migrating, registering) the first signal cancels the start, so an embedded cluster this run
/// started is stopped on the way out. Once it listens, the signal starts the graceful shutdown of
/// its service group, and from then on time is kept: past `patience`, or at a second signal, the
/// process exits without waiting any longer.
enum BoundedShutdown {
    /// What the command has reached; shared by the command and the signal watcher.
    final class Stage: Sendable {
        private struct State {
            var group: ServiceGroup?
            var listening = false
            var signal: String?
        }
        private let state = Mutex(State())

        /// The hub's service group is about to run; false if a signal came first.
        func serve(_ group: ServiceGroup) -> Bool {
            state.withLock { state in
                guard state.signal == nil else { return false }
                state.group = group
                return true
            }
        }

        func markListening() { state.withLock { $0.listening = true } }

        /// Records a signal; returns the group to shut down gracefully, or nil while the hub does not
        /// listen yet (then the start is abandoned: a migration waiting on a lock is not waited for).
        fileprivate func received(_ signal: String) -> ServiceGroup? {
            state.withLock { state in
                state.signal = state.signal ?? signal
                return state.listening ? state.group : nil
            }
        }

        /// The signal that stopped the hub before it listened, if one did.
        fileprivate var signalBeforeListening: String? {
            state.withLock { $0.listening ? nil : $0.signal }
        }
    }

    /// A signal arrived before the hub listened.
    struct Interrupted: Error, CustomStringConvertible {
        let signal: String
        var description: String { "stopped by \(signal) before the hub was serving" }
    }

    static func run(patience: Duration, logger: Logger, _ body: @escaping @Sendable (Stage) async throws -> Void) async throws {
        let stage = Stage()
        let signals = await UnixSignalsSequence(trapping: .sigterm, .sigint)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                do {
                    try await body(stage)
                } catch let error where !(error is CommandFailure) {
                    // A start cut short by a signal fails with whatever it was waiting for; say why.
                    if let signal = stage.signalBeforeListening { throw Interrupted(signal: signal) }
                    throw error
                }
            }
            group.addTask {
                try await keepTime(signals: signals, stage: stage, patience: patience, logger: logger)
            }
            // The first to end is the command itself, or the signal watcher refusing to wait.
            defer { group.cancelAll() }
            try await group.next()
        }
    }

    private static func keepTime(signals: UnixSignalsSequence, stage: Stage, patience: Duration, logger: Logger) async throws {
        try await withThrowingTaskGroup(of: Void.self) { timers in
            var received = 0
            for await signal in signals {
                received += 1
                guard let group = stage.received("\(signal)") else { throw Interrupted(signal: "\(signal)") }
                if received > 1 { giveUp(logger: logger, because: "a second \(signal)") }
                logger.info("shutting down", metadata: ["signal": "\(signal)"])
                await group.triggerGracefulShutdown()
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
