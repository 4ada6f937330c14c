import Foundation
import RollCall
import RollCallClient
import Synchronization

/// Everything a load run observes, behind one lock: the sockets it holds, when each user was
/// opened, welcomed and seen online, the messages in flight, and counts by kind. The run's tasks
/// report to it; the summary and the progress line read it.
final class LoadRecorder: Sendable {
    private struct State {
        var phase = "starting"
        var held: [HubSocket] = []
        /// The rooms phase: how long it took, and the joins, state changes and leaves answered.
        var roomSpan: Duration = .zero
        var roomChanges = 0
        var welcomeMilliseconds: [Double] = []
        var openedAt: [String: ContinuousClock.Instant] = [:]
        var welcomedAt: [String: ContinuousClock.Instant] = [:]
        var onlineSeenAt: [String: ContinuousClock.Instant] = [:]
        var firstOpen: ContinuousClock.Instant?
        var lastWelcome: ContinuousClock.Instant?
        var closeSpan: Duration = .zero
        var errors: [String: Int] = [:]
        var presenceOnline = 0
        var presenceOffline = 0
        var sentAt: [Int64: ContinuousClock.Instant] = [:]
        var messagesSent = 0
        var messagesDelivered = 0
        var messagesAcked = 0
        var messageMilliseconds: [Double] = []
        var lastDelivery: ContinuousClock.Instant?
        var messageSpan: Duration = .zero
    }

    private let state = Mutex(State())
    let started = ContinuousClock.now

    func phase(_ name: String) { state.withLock { $0.phase = name } }

    func failed(_ kind: String) { state.withLock { $0.errors[kind, default: 0] += 1 } }

    // MARK: Sockets

    func openBegan(at begun: ContinuousClock.Instant) {
        state.withLock { if $0.firstOpen == nil { $0.firstOpen = begun } }
    }

    /// A load socket of `user`, opened at `begun`, was welcomed now; it is held until the closes.
    func welcomed(_ socket: HubSocket, user: String, begun: ContinuousClock.Instant) {
        let now = ContinuousClock.now
        state.withLock { state in
            state.welcomeMilliseconds.append((now - begun).fractionalMilliseconds)
            if state.welcomedAt[user] == nil { state.welcomedAt[user] = now }
            if state.openedAt[user] == nil { state.openedAt[user] = begun }
            state.lastWelcome = now
            state.held.append(socket)
        }
    }

    /// The held sockets, given up for closing.
    /// The sockets held open, leaving them held.
    var held: [HubSocket] { state.withLock { $0.held } }

    func roomsTook(_ span: Duration, changes: Int) {
        state.withLock { state in
            state.roomSpan = span
            state.roomChanges = changes
        }
    }

    func takeHeld() -> [HubSocket] {
        state.withLock { state in
            defer { state.held = [] }
            return state.held
        }
    }

    func closesTook(_ span: Duration) { state.withLock { $0.closeSpan = span } }

    // MARK: Watchers

    func saw(_ transition: PresenceTransition) {
        let now = ContinuousClock.now
        state.withLock { state in
            if transition.online {
                state.presenceOnline += 1
                if state.onlineSeenAt[transition.userID] == nil { state.onlineSeenAt[transition.userID] = now }
            } else {
                state.presenceOffline += 1
            }
        }
    }

    // MARK: Messages

    func sending(_ sequence: Int64) {
        let now = ContinuousClock.now
        state.withLock { state in
            state.sentAt[sequence] = now
            state.messagesSent += 1
        }
    }

    func delivered(_ sequence: Int64) {
        let now = ContinuousClock.now
        state.withLock { state in
            if let sent = state.sentAt.removeValue(forKey: sequence) { state.messageMilliseconds.append((now - sent).fractionalMilliseconds) }
            state.messagesDelivered += 1
            state.lastDelivery = now
        }
    }

    func acked() { state.withLock { $0.messagesAcked += 1 } }

    var allDelivered: Bool { state.withLock { $0.messagesDelivered >= $0.messagesSent } }

    /// Messages began at `begun`; their rate is over the span to the last delivery.
    func messagesEnded(begun: ContinuousClock.Instant) {
        state.withLock { $0.messageSpan = ($0.lastDelivery ?? .now) - begun }
    }

    // MARK: Reading

    func progressLine() -> String {
        let seconds = (ContinuousClock.now - started).seconds
        return state.withLock { state in
            String(
                format: "%6.1fs %-9@ open %6d  welcomed %6d  failed %5d  presence %6d  messages %7d",
                seconds, state.phase as NSString, state.held.count, state.welcomeMilliseconds.count, state.errors.values.reduce(0, +),
                state.presenceOnline + state.presenceOffline, state.messagesDelivered)
        }
    }

    func summary(of plan: LoadPlan, stopped: String?) -> LoadSummary {
        let state = state.withLock { $0 }
        let openSeconds = state.firstOpen.flatMap { first in state.lastWelcome.map { ($0 - first).seconds } } ?? 0
        let welcomed = state.welcomeMilliseconds.count
        var summary = LoadSummary(
            connections: .init(planned: plan.connections, welcomed: welcomed),
            connectsPerSecond: openSeconds > 0 ? (Double(welcomed) / openSeconds * 10).rounded() / 10 : 0,
            closeSeconds: (state.closeSpan.seconds * 1000).rounded() / 1000,
            timeToWelcome: .init(milliseconds: state.welcomeMilliseconds),
            errors: state.errors,
            seconds: ((ContinuousClock.now - started).seconds * 1000).rounded() / 1000)
        if plan.watchers > 0 {
            // The welcome and the NOTIFY leave the first hub at about the same moment, so the event
            // may reach the watcher first (counted as zero); from the open it includes the commit.
            var fromWelcome: [Double] = []
            var fromOpen: [Double] = []
            for (user, seen) in state.onlineSeenAt {
                if let welcomed = state.welcomedAt[user] { fromWelcome.append(seen > welcomed ? (seen - welcomed).fractionalMilliseconds : 0) }
                if let opened = state.openedAt[user] { fromOpen.append((seen - opened).fractionalMilliseconds) }
            }
            summary.propagation = .init(milliseconds: fromWelcome)
            summary.propagationFromOpen = .init(milliseconds: fromOpen)
            summary.presenceEvents = .init(online: state.presenceOnline, offline: state.presenceOffline)
        }
        if plan.messageRate > 0 {
            let span = state.messageSpan.seconds
            summary.messages = .init(
                sent: state.messagesSent, delivered: state.messagesDelivered, acked: state.messagesAcked,
                deliveredPerSecond: span > 0 ? (Double(state.messagesDelivered) / span).rounded() : 0)
            summary.messageLatency = .init(milliseconds: state.messageMilliseconds)
        }
        if plan.roomRounds > 0 {
            let span = state.roomSpan.seconds
            summary.rooms = .init(
                changes: state.roomChanges, seconds: (span * 1000).rounded() / 1000,
                changesPerSecond: span > 0 ? (Double(state.roomChanges) / span).rounded() : 0)
        }
        summary.stopped = stopped
        return summary
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
    var fractionalMilliseconds: Double { seconds * 1000 }
}
