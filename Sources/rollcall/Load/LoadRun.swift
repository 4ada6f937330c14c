import Foundation
import NIOCore
import NIOPosix
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
    /// Sends a sender may have unanswered; zero sends on the schedule whatever the hub answers.
    var messageWindow: Int = 0
    var limit: Duration
    /// Rounds of join, state change and leave every held socket makes, in `rooms` rooms.
    var roomRounds: Int = 0
    var rooms: Int = 10
    /// Users are `<prefix>-0`, `<prefix>-1`, ...; watchers, senders and receivers add their role.
    var prefix: String = "load"
    var tokens: @Sendable (String) async throws -> String
}

/// Runs a `LoadPlan`: watchers first, then the opens at the planned rate, the hold, the message
/// traffic and the closes. Everything is bounded by `limit`; the run stops by itself.
final class LoadRun: Sendable {
    let plan: LoadPlan
    let recorder = LoadRecorder()

    init(plan: LoadPlan) { self.plan = plan }

    func user(_ index: Int) -> String { "\(plan.prefix)-\(index)" }

    /// Runs the plan; returns what it saw.
    func run(progress: (@Sendable (String) -> Void)?) async throws -> LoadSummary {
        var stopped: String?
        do {
            try await runPhases(progress: progress)
        } catch is LoadLimitReached {
            stopped = "limit of \(DurationText.format(plan.limit)) reached"
        }
        return recorder.summary(of: plan, stopped: stopped)
    }

    /// A socket of `user` on `hub`, once welcomed; a socket closed instead is `HubSocketError.closed`.
    private func welcomedSocket(on hub: URL, as user: String) async throws -> HubSocket {
        let socket = try await HubSocket.connect(to: hub, token: try await plan.tokens(user), options: .init(userAgent: "rollcall-load"))
        guard case .welcome? = try await socket.receive() else {
            let code = socket.closeCode
            await socket.close()
            throw HubSocketError.closed(code: code)
        }
        return socket
    }

    private func runPhases(progress: (@Sendable (String) -> Void)?) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            if let progress {
                group.addTask {
                    while !Task.isCancelled {
                        try await Task.sleep(for: .seconds(1))
                        progress(self.recorder.progressLine())
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
                recorder.phase("watchers")
                for index in 0..<plan.watchers {
                    let socket = try await welcomedSocket(on: plan.watchHubs[index % plan.watchHubs.count], as: "\(plan.prefix)-watcher-\(index)")
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
                recorder.phase("holding")
                try await Task.sleep(for: plan.hold)
            }
            if plan.messageRate > 0 { try await messages() }
            if plan.roomRounds > 0 { try await roomChanges() }
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
        recorder.phase("opening")
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
        recorder.openBegan(at: begun)
        do {
            recorder.welcomed(try await welcomedSocket(on: hub, as: user), user: user, begun: begun)
        } catch {
            recorder.failed(Self.kind(of: error))
        }
    }

    /// A failed open's kind, as the summary counts it.
    static func kind(of error: any Error) -> String {
        switch error {
        case HubSocketError.refused(let status, _): "refused_\(status)"
        case HubSocketError.closed(let code): "closed_before_welcome" + (code.map { "_\($0)" } ?? "")
        case HubSocketError.unreadableFrame: "unreadable_frame"
        case HubSocketError.unsupportedURL: "bad_url"
        case ChannelError.connectTimeout: "connect_timeout"
        case let error as NIOConnectionError:
            error.connectionErrors.first.map { kind(of: $0.error) } ?? "connect_error"
        case let error as IOError:
            switch error.errnoCode {
            case ECONNREFUSED: "connect_refused"
            case EMFILE, ENFILE: "too_many_open_files"
            case ETIMEDOUT: "connect_timeout"
            default: "connect_error"
            }
        default: "connect_error"
        }
    }

    // MARK: - Watching

    private func watch(_ socket: HubSocket) async throws {
        while let frame = try await socket.receive() {
            if case .presence(let transition) = frame { recorder.saw(transition) }
        }
    }

    // MARK: - Messages

    /// Senders on the first hub send to receivers on the watch hubs at `messageRate` in all; a
    /// socket may send 50 frames a second, so there is one sender per 40 a second. With a
    /// `messageWindow`, a sender keeps at most that many sends unanswered, so a hub that is past
    /// its capacity slows its senders instead of the load queueing what it cannot take.
    private func messages() async throws {
        recorder.phase("messages")
        let senderCount = max(1, Int((plan.messageRate / 40).rounded(.up)))
        let receiverCount = max(1, min(100, senderCount))
        var senders: [HubSocket] = []
        var receivers: [HubSocket] = []
        for index in 0..<receiverCount {
            receivers.append(try await welcomedSocket(on: plan.watchHubs[index % plan.watchHubs.count], as: "\(plan.prefix)-receiver-\(index)"))
        }
        for index in 0..<senderCount {
            senders.append(try await welcomedSocket(on: plan.hubs[0], as: "\(plan.prefix)-sender-\(index)"))
        }
        let perSender = plan.messageRate / Double(senderCount)
        let total = Int(plan.messageRate * plan.messageDuration.seconds)
        let begun = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for receiver in receivers {
                group.addTask {
                    while let frame = try await receiver.receive() {
                        guard case .message(_, .object(let data), _) = frame, case .number(let number)? = data["seq"], let sequence = number.integer
                        else { continue }
                        self.recorder.delivered(sequence)
                    }
                }
            }
            try await withThrowingTaskGroup(of: Void.self) { sending in
                for (index, sender) in senders.enumerated() {
                    sending.addTask {
                        try await withThrowingTaskGroup(of: Void.self) { answers in
                            let answered = Atomic<Int>(0)
                            let (answerSeen, seeAnswer) = AsyncStream.makeStream(of: Void.self)
                            answers.addTask {
                                defer { seeAnswer.finish() }
                                while let frame = try await sender.receive() {
                                    switch frame {
                                    case .ack(_, true): self.recorder.acked()
                                    case .ack(_, false): self.recorder.failed("message_not_accepted")
                                    case .error(_, let code, _): self.recorder.failed("message_\(code.rawValue)")
                                    default: continue
                                    }
                                    answered.add(1, ordering: .relaxed)
                                    seeAnswer.yield()
                                }
                            }
                            var answersSeen = answerSeen.makeAsyncIterator()
                            var sequence = index
                            var sentHere = 0
                            var answeredHere = 0
                            while sequence < total {
                                let due = begun + .seconds(Double(sentHere) / perSender)
                                if due > .now { try await Task.sleep(until: due) }
                                // A full window waits for an answer: a hub that acks later slows this sender down.
                                while self.plan.messageWindow > 0, sentHere - answeredHere >= self.plan.messageWindow,
                                    await answersSeen.next() != nil
                                {
                                    answeredHere += 1
                                }
                                let to = "\(self.plan.prefix)-receiver-\(sequence % receiverCount)"
                                self.recorder.sending(Int64(sequence))
                                try await sender.send(
                                    .send(id: .number(Int64(sequence)), to: to, data: .object(["seq": .number(JSONNumber(sequence))])))
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
            while !recorder.allDelivered, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
            recorder.messagesEnded(begun: begun)
            for receiver in receivers { await receiver.close() }
            try await group.waitForAll()
        }
    }

    // MARK: - Closes

    // MARK: - Rooms

    /// Every held socket, `concurrency` at a time: per round a join, a state change and a leave,
    /// each awaited (its answer is the writer's commit).
    private func roomChanges() async throws {
        recorder.phase("rooms")
        let sockets = recorder.held
        let begun = ContinuousClock.now
        let changes = try await withThrowingTaskGroup(of: Int.self) { group in
            var inFlight = 0
            var answered = 0
            for (index, socket) in sockets.enumerated() {
                if inFlight >= plan.concurrency {
                    answered += try await group.next() ?? 0
                    inFlight -= 1
                }
                let room = "\(plan.prefix)-room-\(index % max(plan.rooms, 1))"
                group.addTask { await self.roomRounds(on: socket, in: room) }
                inFlight += 1
            }
            for try await count in group { answered += count }
            return answered
        }
        recorder.roomsTook(ContinuousClock.now - begun, changes: changes)
    }

    /// One socket's rounds; returns the changes answered with success.
    private func roomRounds(on socket: HubSocket, in room: String) async -> Int {
        var answered = 0
        for round in 0..<plan.roomRounds {
            let frames: [ClientFrame] = [
                .join(id: .string("j\(round)"), room: room, state: .object(["round": .number(JSONNumber(Int64(round)))])),
                .roomState(id: .string("s\(round)"), room: room, state: .object(["status": .string("typing")])),
                .leave(id: .string("l\(round)"), room: room),
            ]
            for frame in frames {
                do {
                    try await socket.send(frame)
                    // Other members' room events come in between: skip to this frame's answer.
                    while let answer = try await socket.receive() {
                        guard answer.answering == frame.id else { continue }
                        if case .error(_, let code, _) = answer {
                            recorder.failed("room_\(code.rawValue)")
                        } else {
                            answered += 1
                        }
                        break
                    }
                } catch {
                    recorder.failed("room_\(Self.kind(of: error))")
                    return answered
                }
            }
        }
        return answered
    }

    private func closeAll() async throws {
        recorder.phase("closing")
        let sockets = recorder.takeHeld()
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
        recorder.closesTook(ContinuousClock.now - begun)
    }
}

struct LoadLimitReached: Error, CustomStringConvertible {
    let limit: Duration
    var description: String { "the run passed its limit of \(DurationText.format(limit)) and was stopped" }
}
