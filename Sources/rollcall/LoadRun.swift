import Foundation
import RollCall
import RollCallClient
import Synchronization

/// What one `rollcall load` run does.
struct LoadPlan: Sendable {
    var hubs: [URL]
    var watchHubs: [URL]
    var connections: Int
    var users: Int
    /// Opens per second; zero opens as fast as `concurrency` allows.
    var rate: Double
    var concurrency: Int
    var hold: Duration
    var watchers: Int
    var messageRate: Double
    var messageDuration: Duration
    var limit: Duration
    /// Users are `<prefix>-0`, `<prefix>-1`, ...; watchers, senders and receivers add their role.
    var prefix: String = "load"
    var tokens: @Sendable (String) async throws -> String
}

/// Latencies in milliseconds, kept whole so that percentiles are exact.
final class LatencyLog: Sendable {
    private let samples = Mutex<[Double]>([])

    func record(_ duration: Duration) {
        let milliseconds = Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
        samples.withLock { $0.append(milliseconds) }
    }

    var count: Int { samples.withLock { $0.count } }

    /// p50, p90, p99, p99.9 and max, by rank (nearest rank), in milliseconds.
    func summary() -> [String: Double] {
        let sorted = samples.withLock { $0 }.sorted()
        guard !sorted.isEmpty else { return ["count": 0] }
        func rank(_ fraction: Double) -> Double {
            let index = min(sorted.count - 1, max(0, Int((fraction * Double(sorted.count)).rounded(.up)) - 1))
            return (sorted[index] * 1000).rounded() / 1000
        }
        return ["count": Double(sorted.count), "p50": rank(0.5), "p90": rank(0.9), "p99": rank(0.99), "p99_9": rank(0.999), "max": rank(1)]
    }
}

/// Counts by kind (`refused_429`, `closed_before_welcome`, ...).
final class Tally: Sendable {
    private let counts = Mutex<[String: Int]>([:])
    func add(_ kind: String, _ count: Int = 1) { counts.withLock { $0[kind, default: 0] += count } }
    subscript(_ kind: String) -> Int { counts.withLock { $0[kind] ?? 0 } }
    var all: [String: Int] { counts.withLock { $0 } }
}

/// Runs a `LoadPlan`: watchers first, then the opens at the planned rate, the hold, the message
/// traffic and the closes. Everything is bounded by `limit`; the run stops by itself.
final class LoadRun: Sendable {
    let plan: LoadPlan
    let welcome = LatencyLog()
    let propagation = LatencyLog()
    let propagationFromOpen = LatencyLog()
    let messageLatency = LatencyLog()
    let errors = Tally()
    let events = Tally()
    private let held = Mutex<[HubSocket]>([])
    private let welcomedAt = Mutex<[String: ContinuousClock.Instant]>([:])
    private let openedAt = Mutex<[String: ContinuousClock.Instant]>([:])
    private let onlineSeenAt = Mutex<[String: ContinuousClock.Instant]>([:])
    private let sentAt = Mutex<[Int: ContinuousClock.Instant]>([:])
    private let phase = Mutex("starting")
    private let started = ContinuousClock.now
    private let openSpan = Mutex<(first: ContinuousClock.Instant?, last: ContinuousClock.Instant?)>((nil, nil))
    private let closeSpan = Mutex<Duration>(.zero)
    private let messagesSent = Atomic<Int>(0)
    private let messagesDelivered = Atomic<Int>(0)
    private let messageSpan = Mutex<Duration>(.zero)
    private let lastDelivery = Mutex<ContinuousClock.Instant?>(nil)

    init(plan: LoadPlan) { self.plan = plan }

    func user(_ index: Int) -> String { "\(plan.prefix)-\(index)" }

    /// Runs the plan; returns the summary as a JSON object.
    func run(progress: (@Sendable (String) -> Void)?) async throws -> [String: Any] {
        var stoppedByLimit = false
        do {
            try await runPhases(progress: progress)
        } catch is LoadLimitReached {
            stoppedByLimit = true
        }
        var result = summary()
        if stoppedByLimit { result["stopped"] = "limit of \(DurationText.format(plan.limit)) reached" }
        return result
    }

    private func runPhases(progress: (@Sendable (String) -> Void)?) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            if let progress {
                group.addTask {
                    while !Task.isCancelled {
                        try await Task.sleep(for: .seconds(1))
                        progress(self.progressLine())
                    }
                }
            }
            group.addTask {
                try await Task.sleep(for: self.plan.limit)
                throw LoadLimitReached(limit: self.plan.limit)
            }
            group.addTask { try await self.phases() }
            // The phases end first, or the limit throws and cancels them.
            defer { group.cancelAll() }
            try await group.next()
        }
    }

    private func phases() async throws {
        let userCount = plan.users > 0 ? plan.users : plan.connections
        try await withThrowingTaskGroup(of: Void.self) { watching in
            var watcherSockets: [HubSocket] = []
            if plan.watchers > 0 {
                phase.withLock { $0 = "watchers" }
                for index in 0..<plan.watchers {
                    let hub = plan.watchHubs[index % plan.watchHubs.count]
                    let socket = try await HubSocket.connect(to: hub, token: try await plan.tokens("\(plan.prefix)-watcher-\(index)"), options: .init(userAgent: "rollcall-load"))
                    guard case .welcome? = try await socket.receive() else { throw CommandFailure("watcher \(index) was not welcomed") }
                    let watched = (0..<min(userCount, SocketState.maxWatchedUsers)).map(self.user)
                    for chunk in stride(from: 0, to: watched.count, by: SocketState.maxUsersPerFrame) {
                        let users = Array(watched[chunk..<min(chunk + SocketState.maxUsersPerFrame, watched.count)])
                        try await socket.send(.subscribe(id: .number(Int64(chunk)), target: .users(users)))
                        guard case .snapshot? = try await socket.receive() else { throw CommandFailure("watcher \(index) got no snapshot") }
                    }
                    watcherSockets.append(socket)
                    watching.addTask { try await self.watch(socket) }
                }
            }
            try await openAll(userCount: userCount)
            if plan.hold > .zero {
                phase.withLock { $0 = "holding" }
                try await Task.sleep(for: plan.hold)
            }
            if plan.messageRate > 0 { try await messages() }
            try await closeAll()
            if plan.watchers > 0 {
                // Give the last offline transitions a moment to arrive, then stop watching.
                try await Task.sleep(for: .milliseconds(500))
            }
            for socket in watcherSockets { await socket.close() }
            try await watching.waitForAll()
        }
    }

    // MARK: - Opens

    private func openAll(userCount: Int) async throws {
        phase.withLock { $0 = "opening" }
        let start = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            var inFlight = 0
            for index in 0..<plan.connections {
                if plan.rate > 0 {
                    let due = start + .seconds(Double(index) / plan.rate)
                    if due > .now { try await Task.sleep(until: due) }
                }
                if inFlight >= plan.concurrency {
                    try await group.next()
                    inFlight -= 1
                }
                let hub = plan.hubs[index % plan.hubs.count]
                let user = self.user(index % userCount)
                group.addTask { await self.open(hub: hub, user: user) }
                inFlight += 1
            }
            try await group.waitForAll()
        }
    }

    private func open(hub: URL, user: String) async {
        let begun = ContinuousClock.now
        openSpan.withLock { if $0.first == nil { $0.first = begun } }
        do {
            let socket = try await HubSocket.connect(to: hub, token: try await plan.tokens(user), options: .init(userAgent: "rollcall-load"))
            guard case .welcome? = try await socket.receive() else {
                errors.add("closed_before_welcome" + (socket.closeCode.map { "_\($0)" } ?? ""))
                await socket.close()
                return
            }
            let now = ContinuousClock.now
            welcome.record(now - begun)
            welcomedAt.withLock { if $0[user] == nil { $0[user] = now } }
            openedAt.withLock { if $0[user] == nil { $0[user] = begun } }
            openSpan.withLock { $0.last = now }
            held.withLock { $0.append(socket) }
        } catch let error as HubSocketError {
            switch error {
            case .refused(let status, _): errors.add("refused_\(status)")
            case .closed(let code): errors.add("closed_before_welcome" + (code.map { "_\($0)" } ?? ""))
            case .unreadableFrame: errors.add("unreadable_frame")
            case .unsupportedURL: errors.add("bad_url")
            }
        } catch {
            errors.add(Self.kind(of: error))
        }
    }

    static func kind(of error: any Error) -> String {
        let text = "\(error)".lowercased()
        if text.contains("refused") { return "connect_refused" }
        if text.contains("too many open files") || text.contains("emfile") { return "too_many_open_files" }
        if text.contains("timeout") || text.contains("timed out") { return "connect_timeout" }
        return "connect_error"
    }

    // MARK: - Watching

    private func watch(_ socket: HubSocket) async throws {
        while let frame = try await socket.receive() {
            guard case .presence(let change) = frame else { continue }
            events.add(change.online ? "presence_online" : "presence_offline")
            if change.online {
                let now = ContinuousClock.now
                onlineSeenAt.withLock { if $0[change.userID] == nil { $0[change.userID] = now } }
            }
        }
    }

    // MARK: - Messages

    /// Senders on the first hub send to receivers on the watch hubs at `messageRate` in all; a
    /// socket may send 50 frames a second, so there is one sender per 40 a second.
    private func messages() async throws {
        phase.withLock { $0 = "messages" }
        let senderCount = max(1, Int((plan.messageRate / 40).rounded(.up)))
        let receiverCount = max(1, min(100, senderCount))
        var senders: [HubSocket] = []
        var receivers: [HubSocket] = []
        for index in 0..<receiverCount {
            let hub = plan.watchHubs[index % plan.watchHubs.count]
            let socket = try await HubSocket.connect(to: hub, token: try await plan.tokens("\(plan.prefix)-receiver-\(index)"), options: .init(userAgent: "rollcall-load"))
            guard case .welcome? = try await socket.receive() else { throw CommandFailure("receiver \(index) was not welcomed") }
            receivers.append(socket)
        }
        for index in 0..<senderCount {
            let socket = try await HubSocket.connect(to: plan.hubs[0], token: try await plan.tokens("\(plan.prefix)-sender-\(index)"), options: .init(userAgent: "rollcall-load"))
            guard case .welcome? = try await socket.receive() else { throw CommandFailure("sender \(index) was not welcomed") }
            senders.append(socket)
        }
        let perSender = plan.messageRate / Double(senderCount)
        let total = Int(plan.messageRate * plan.messageDuration.seconds)
        let begun = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for receiver in receivers {
                group.addTask {
                    while let frame = try await receiver.receive() {
                        guard case .message(_, .object(let data), _) = frame, case .number(let sequence)? = data["seq"] else { continue }
                        let now = ContinuousClock.now
                        if let sent = self.sentAt.withLock({ $0.removeValue(forKey: Int(sequence)) }) { self.messageLatency.record(now - sent) }
                        self.messagesDelivered.add(1, ordering: .relaxed)
                        self.lastDelivery.withLock { $0 = now }
                    }
                }
            }
            try await withThrowingTaskGroup(of: Void.self) { sending in
                for (index, sender) in senders.enumerated() {
                    sending.addTask {
                        try await withThrowingTaskGroup(of: Void.self) { answers in
                            let answered = Atomic<Int>(0)
                            answers.addTask {
                                while let frame = try await sender.receive() {
                                    switch frame {
                                    case .ack(_, true): self.events.add("message_acked")
                                    case .ack(_, false): self.errors.add("message_not_accepted")
                                    case .error(_, let code, _): self.errors.add("message_\(code.rawValue)")
                                    default: continue
                                    }
                                    answered.add(1, ordering: .relaxed)
                                }
                            }
                            var sequence = index
                            var sentHere = 0
                            while sequence < total {
                                let due = begun + .seconds(Double(sentHere) / perSender)
                                if due > .now { try await Task.sleep(until: due) }
                                let to = "\(self.plan.prefix)-receiver-\(sequence % receiverCount)"
                                self.sentAt.withLock { $0[sequence] = .now }
                                try await sender.send(.send(id: .number(Int64(sequence)), to: to, data: .object(["seq": .number(Double(sequence))])))
                                self.messagesSent.add(1, ordering: .relaxed)
                                sequence += senderCount
                                sentHere += 1
                            }
                            // Every send is answered (ack or error); wait for the answers, 10 s at most.
                            let patience = ContinuousClock.now + .seconds(10)
                            while answered.load(ordering: .relaxed) < sentHere, ContinuousClock.now < patience {
                                try await Task.sleep(for: .milliseconds(20))
                            }
                            await sender.close()
                            try await answers.waitForAll()
                        }
                    }
                }
                try await sending.waitForAll()
            }
            // Deliveries still in flight get a second.
            let deadline = ContinuousClock.now + .seconds(1)
            while messagesDelivered.load(ordering: .relaxed) < messagesSent.load(ordering: .relaxed), ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
            // The rate is over the span from the first send to the last delivery.
            messageSpan.withLock { $0 = (lastDelivery.withLock { $0 } ?? .now) - begun }
            for receiver in receivers { await receiver.close() }
            try await group.waitForAll()
        }
    }

    // MARK: - Closes

    private func closeAll() async throws {
        phase.withLock { $0 = "closing" }
        let sockets = held.withLock { held in
            defer { held = [] }
            return held
        }
        let begun = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            var inFlight = 0
            for socket in sockets {
                if inFlight >= plan.concurrency {
                    try await group.next()
                    inFlight -= 1
                }
                group.addTask { await socket.close() }
                inFlight += 1
            }
            try await group.waitForAll()
        }
        closeSpan.withLock { $0 = ContinuousClock.now - begun }
    }

    // MARK: - Reporting

    private func progressLine() -> String {
        let open = held.withLock { $0.count }
        let failed = errors.all.values.reduce(0, +)
        let seconds = (ContinuousClock.now - started).seconds
        return String(format: "%6.1fs %-9@ open %6d  welcomed %6d  failed %5d  presence %6d  messages %7d",
            seconds, phase.withLock { $0 } as NSString, open, welcome.count, failed,
            events["presence_online"] + events["presence_offline"], messagesDelivered.load(ordering: .relaxed))
    }

    private func summary() -> [String: Any] {
        let (first, last) = openSpan.withLock { ($0.first, $0.last) }
        let openSeconds = first.flatMap { first in last.map { ($0 - first).seconds } } ?? 0
        let welcomed = welcome.count
        // Propagation: from the welcome on one hub to the online event at a watcher on another.
        // The welcome and the NOTIFY leave the first hub at about the same moment, so the event
        // may reach the watcher first (counted as zero); from the open it includes the commit.
        let welcomes = welcomedAt.withLock { $0 }
        let opens = openedAt.withLock { $0 }
        for (user, seen) in onlineSeenAt.withLock({ $0 }) {
            if let welcomed = welcomes[user] { propagation.record(seen > welcomed ? seen - welcomed : .zero) }
            if let opened = opens[user] { propagationFromOpen.record(seen - opened) }
        }
        var result: [String: Any] = [
            "connections": ["planned": plan.connections, "welcomed": welcomed],
            "connects_per_second": openSeconds > 0 ? (Double(welcomed) / openSeconds * 10).rounded() / 10 : 0,
            "close_seconds": (closeSpan.withLock { $0 }.seconds * 1000).rounded() / 1000,
            "time_to_welcome_ms": welcome.summary(),
            "errors": errors.all,
        ]
        if plan.watchers > 0 {
            result["propagation_ms"] = propagation.summary()
            result["propagation_from_open_ms"] = propagationFromOpen.summary()
            result["presence_events"] = ["online": events["presence_online"], "offline": events["presence_offline"]]
        }
        if plan.messageRate > 0 {
            let sent = messagesSent.load(ordering: .relaxed)
            let delivered = messagesDelivered.load(ordering: .relaxed)
            let span = messageSpan.withLock { $0 }.seconds
            result["messages"] = [
                "sent": sent, "delivered": delivered, "acked": events["message_acked"],
                "delivered_per_second": span > 0 ? (Double(delivered) / span).rounded() : 0,
            ]
            result["message_latency_ms"] = messageLatency.summary()
        }
        result["seconds"] = ((ContinuousClock.now - started).seconds * 1000).rounded() / 1000
        return result
    }
}

struct LoadLimitReached: Error, CustomStringConvertible {
    let limit: Duration
    var description: String { "the run passed its limit of \(DurationText.format(limit)) and was stopped" }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
