/// What one socket may do, decided without I/O: its frame budget, the users it watches and the
/// limits on what a frame may ask. `FrameHandler` reads frames, asks this, and carries out the
/// answer (the mailbox, the watch index, the writer).
public struct SocketState: Sendable {
    /// Most users one `subscribe` may name, and one socket may watch.
    public static let maxUsersPerFrame = 1000
    public static let maxWatchedUsers = 10_000

    public let identity: Identity
    private var budget: FrameBudget
    private var watchList = WatchList(limit: SocketState.maxWatchedUsers)
    /// Rooms the socket is in, or joining.
    public private(set) var rooms: Set<String> = []

    public init(identity: Identity, maxBadFrames: Int) {
        self.identity = identity
        budget = FrameBudget(maxBadFrames: maxBadFrames)
    }

    public var watchedUsers: Set<String> { watchList.users }

    /// A frame arrived, `bad` when it could not be read: accept it, answer `rate_limited`, or close.
    public mutating func frameArrived(at now: Duration, bad: Bool) -> FrameBudget.Verdict {
        budget.admit(at: now, bad: bad)
    }

    /// The hub did not read this socket for `duration`: what was sent meanwhile is not over budget.
    public mutating func held(for duration: Duration) {
        budget.held(for: duration)
    }

    /// A refusal's error code and message, as the client gets them.
    public struct Refusal: Sendable, Equatable, Error {
        public let code: ErrorCode
        public let message: String

        public init(code: ErrorCode, message: String) {
            self.code = code
            self.message = message
        }
    }

    public enum Subscription: Sendable, Equatable {
        /// Watch `users` (each once, sorted); `added` were not watched before, and are what a
        /// failed snapshot undoes.
        case watch(users: [String], added: [String])
        case refuse(Refusal)
    }

    public mutating func subscribe(_ requested: [String]) -> Subscription {
        let users = Array(Set(requested)).sorted()
        guard users.count <= Self.maxUsersPerFrame else {
            return .refuse(Refusal(code: .badRequest, message: "one subscribe may name at most \(Self.maxUsersPerFrame) users"))
        }
        if let hidden = users.first(where: { !identity.mayWatch($0) }) {
            return .refuse(Refusal(code: .forbidden, message: "this token may not watch \(hidden)"))
        }
        guard let added = watchList.add(users) else {
            return .refuse(
                Refusal(
                    code: .badRequest, message: "a socket may watch at most \(Self.maxWatchedUsers) users; it watches \(watchList.users.count)"))
        }
        return .watch(users: users, added: added)
    }

    /// The snapshot of a subscription failed: only what it added is watched no more.
    public mutating func snapshotFailed(added: [String]) {
        watchList.remove(added)
    }

    public mutating func unsubscribe(_ users: [String]) {
        watchList.remove(users)
    }

    /// Whether a message may go to `user`: the users the token may watch (see docs/protocol.md).
    public func maySend(to user: String) -> Refusal? {
        identity.mayWatch(user) ? nil : Refusal(code: .forbidden, message: "this token may not message \(user)")
    }

    // MARK: Rooms

    /// Whether this socket may join `room`: the token's `rooms` claim, and at most
    /// `Room.maxRoomsPerConnection` at once. Counted from now on; `left` undoes it. A room
    /// the socket is in already is the writer's to refuse: the database knows whether the
    /// membership still stands (a purge may have ended it while the hub was cut off).
    public mutating func join(_ room: String) -> Refusal? {
        guard identity.mayEnter(room) else { return Refusal(code: .forbidden, message: "this token may not join room \(room)") }
        guard rooms.contains(room) || rooms.count < Room.maxRoomsPerConnection else {
            return Refusal(code: .rateLimited, message: "a connection may be in \(Room.maxRoomsPerConnection) rooms at most")
        }
        rooms.insert(room)
        return nil
    }

    /// Whether this socket is in `room`, for a state change or a leave.
    public func mayChange(_ room: String) -> Refusal? {
        rooms.contains(room) ? nil : Refusal(code: .badRequest, message: "not in room \(room): join it first")
    }

    public mutating func left(_ room: String) {
        rooms.remove(room)
    }
}
