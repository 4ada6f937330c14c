import Foundation
import Logging
import PostgresNIO
import RollCall
import ServiceLifecycle
import Synchronization

/// LISTENs on `rollcall_presence` and `rollcall_messages` on a connection of its own.
///
/// PostgreSQL forgets notifications sent while nobody listens, so when the connection drops the
/// listener reconnects with capped backoff, LISTENs again and reports `.listening` — the hub
/// then re-reads what its clients watch, and nothing is silently missed.
public final class NotificationListener: Service, Sendable {
    public enum Event: Sendable {
        /// LISTEN is in place (first time, or again after an outage that began at `outageStart`).
        case listening(outageStart: Date?)
        case lost
        case presence(PresenceNotification)
        case messages(MessageNotification)
    }

    /// The pause before reconnecting: 100 ms, doubling, at most 5 s.
    static let backoff = Backoff()

    let location: DatabaseLocation
    let logger: Logger
    let seal: NotifySeal
    let handler: @Sendable (Event) async -> Void
    let onRejected: @Sendable (NotifySeal.Refusal) -> Void
    /// Whether any presence batch is wanted now (some local socket watches someone).
    let wantsPresence: @Sendable () -> Bool
    private let listening = Atomic<Bool>(false)
    private let replays = Mutex(ReplayGuard())

    /// `onRejected` hears of every payload dropped for its seal: unsigned, forged, stale or replayed.
    public init(
        location: DatabaseLocation, seal: NotifySeal, logger: Logger,
        onRejected: @escaping @Sendable (NotifySeal.Refusal) -> Void = { _ in },
        wantsPresence: @escaping @Sendable () -> Bool = { true },
        handler: @escaping @Sendable (Event) async -> Void
    ) {
        self.location = location
        self.seal = seal
        self.logger = logger
        self.onRejected = onRejected
        self.wantsPresence = wantsPresence
        self.handler = handler
    }

    /// Whether LISTEN is in place right now (`/readyz`).
    public var isListening: Bool { listening.load(ordering: .relaxed) }

    public func run() async throws {
        await cancelWhenGracefulShutdown { await self.listenUntilCancelled() }
        listening.store(false, ordering: .relaxed)
    }

    private func listenUntilCancelled() async {
        var failures = 0
        var outageStart: Date?
        while !Task.isCancelled {
            do {
                let attempt = Attempt()
                defer { if attempt.established { failures = 0 } }
                try await listenOnce(outageStart: outageStart, attempt: attempt)
            } catch {
                if Task.isCancelled { break }
                logger.warning("LISTEN connection lost", metadata: ["error": "\(String(reflecting: error))", "attempt": "\(failures + 1)"])
            }
            if listening.exchange(false, ordering: .relaxed) {
                outageStart = Date()
                await handler(.lost)
            }
            outageStart = outageStart ?? Date()
            failures += 1
            try? await Task.sleep(for: Self.backoff.delay(afterFailures: failures))
        }
    }

    /// Longest a connect plus LISTEN may take. A connection killed at the wrong moment can leave
    /// its LISTEN unanswered for good; past this the attempt is given up and a new one made.
    static let setupLimit: Duration = .seconds(5)

    /// Whether one attempt got as far as LISTENing.
    final class Attempt: Sendable {
        private let reached = Atomic<Bool>(false)
        var established: Bool { reached.load(ordering: .relaxed) }
        func markEstablished() { reached.store(true, ordering: .relaxed) }
    }

    private func listenOnce(outageStart: Date?, attempt: Attempt) async throws {
        let slot = ConnectionSlot()
        try await withDeadline(Self.setupLimit, unless: { attempt.established }, onAbandon: slot.closeConnection) {
            try await DatabaseAdmin.withConnection(to: self.location, logger: self.logger) { connection in
                slot.use(connection)
                try await connection.listen(on: NotifyChannel.presence.rawValue) { presence in
                    try await connection.listen(on: NotifyChannel.messages.rawValue) { messages in
                        attempt.markEstablished()
                        self.listening.store(true, ordering: .relaxed)
                        self.logger.info("listening for presence and messages")
                        await self.handler(.listening(outageStart: outageStart))
                        try await withThrowingTaskGroup(of: Void.self) { group in
                            group.addTask {
                                for try await notification in presence {
                                    await self.dispatch(notification.payload, channel: .presence) {
                                        .presence(try PresenceNotification.decode($0))
                                    }
                                }
                                throw ListenerEnded()
                            }
                            group.addTask {
                                for try await notification in messages {
                                    await self.dispatch(notification.payload, channel: .messages) {
                                        .messages(try MessageNotification.decode($0))
                                    }
                                }
                                throw ListenerEnded()
                            }
                            try await group.next()
                        }
                    }
                }
            }
        }
    }

    /// Hands on a payload a hub sealed, heard once and recently; drops (and reports) anything else.
    private func dispatch(_ payload: String, channel: NotifyChannel, decode: (String) throws -> Event) async {
        let json: Substring
        do throws(NotifySeal.Refusal) {
            let opened = try seal.open(payload, channel: channel.rawValue)
            let now = Int64((Date().timeIntervalSince1970 * 1000).rounded())
            try replays.withLock { (recent: inout ReplayGuard) throws(NotifySeal.Refusal) in try recent.admit(opened, nowMilliseconds: now) }
            json = opened.json
        } catch {
            logger.warning(
                "dropped a notification no hub sealed",
                metadata: ["channel": "\(channel.rawValue)", "reason": "\(error.rawValue)", "bytes": "\(payload.utf8.count)"])
            onRejected(error)
            return
        }
        // A presence batch nobody here watches is not decoded at all: with every hub hearing
        // every hub's batches, decoding them all was a visible share of a hub's CPU.
        if channel == .presence, !wantsPresence() { return }
        do {
            await handler(try decode(String(json)))
        } catch {
            // Sealed by a hub but unreadable: a hub of another version. It must not stop the listener.
            logger.warning("ignored an unreadable notification", metadata: ["channel": "\(channel.rawValue)", "bytes": "\(payload.utf8.count)"])
        }
    }

    struct ListenerEnded: Error {}
}
