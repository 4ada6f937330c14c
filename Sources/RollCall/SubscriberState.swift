/// What one socket watches and what it has been told.
///
/// Turns subscriptions, snapshots, transitions heard from any hub and resyncs into the frames
/// that socket gets: snapshot first, then each transition once, in version order, never one
/// older than what the socket already knows. Pure: the session feeds it and sends what it returns.
public struct SubscriberState: Sendable {
    public enum Input: Sendable {
        /// The hub registered the socket as a watcher of `users` and is reading their snapshot.
        case subscribing([String])
        case snapshot(id: RequestID?, [UserPresence])
        case unsubscribe([String])
        /// The admin feed: registered, snapshot of online users being read.
        case subscribingAll
        case snapshotAll(id: RequestID?, [UserPresence])
        case unsubscribeAll
        case transition(PresenceTransition)
        case connection(ConnectionEvent)
        /// Presence re-read from the database after a LISTEN outage.
        case resync(UserPresence)
    }

    private enum AllFeed: Sendable {
        case off
        case pending([Input])
        case live
    }

    private var explicit: Set<String> = []
    private var pending: [String: [PresenceTransition]] = [:]
    private var allFeed = AllFeed.off
    /// The newest version this socket has been told, per user.
    private var versions: [String: Int64] = [:]

    public init() {}

    /// Users this socket watches by name (the hub's index needs them; the all feed is separate).
    public var watchedUsers: Set<String> { explicit.union(pending.keys) }

    public var watchesAll: Bool {
        if case .off = allFeed { return false }
        return true
    }

    public mutating func handle(_ input: Input) -> [ServerFrame] {
        switch input {
        case .subscribing(let users):
            for user in users where !explicit.contains(user) { pending[user] = pending[user] ?? [] }
            return []

        case .snapshot(let id, let users):
            var frames: [ServerFrame] = [.snapshot(id: id, users: users)]
            for presence in users {
                versions[presence.userID] = max(versions[presence.userID] ?? 0, presence.version)
            }
            for presence in users {
                let buffered = pending.removeValue(forKey: presence.userID) ?? []
                explicit.insert(presence.userID)
                frames += buffered.compactMap { deliver($0) }
            }
            return frames

        case .unsubscribe(let users):
            for user in users {
                explicit.remove(user)
                pending[user] = nil
                if !watchesAll { versions[user] = nil }
            }
            return []

        case .subscribingAll:
            if case .off = allFeed { allFeed = .pending([]) }
            return []

        case .snapshotAll(let id, let users):
            guard case .pending(let buffered) = allFeed else { return [] }
            for presence in users {
                versions[presence.userID] = max(versions[presence.userID] ?? 0, presence.version)
            }
            allFeed = .live
            return [.snapshot(id: id, users: users)] + buffered.flatMap { handle($0) }

        case .unsubscribeAll:
            allFeed = .off
            versions = versions.filter { watchedUsers.contains($0.key) }
            return []

        case .transition(let transition):
            if case .pending(var buffered) = allFeed, !watchedUsers.contains(transition.userID) {
                buffered.append(input)
                allFeed = .pending(buffered)
                return []
            }
            if pending[transition.userID] != nil {
                pending[transition.userID]?.append(transition)
                return []
            }
            guard explicit.contains(transition.userID) || watchesAll else { return [] }
            return deliver(transition).map { [$0] } ?? []

        case .connection(let event):
            switch allFeed {
            case .off: return []
            case .pending(var buffered):
                buffered.append(input)
                allFeed = .pending(buffered)
                return []
            case .live: return [.connection(event)]
            }

        case .resync(let presence):
            guard explicit.contains(presence.userID) || watchesAll,
                presence.version > versions[presence.userID] ?? 0
            else { return [] }
            versions[presence.userID] = presence.version
            let at = (presence.online ? presence.onlineSince : presence.lastSeenAt) ?? .distantPast
            return [
                .presence(
                    PresenceTransition(
                        userID: presence.userID, online: presence.online, version: presence.version, at: at, connections: presence.connections))
            ]
        }
    }

    /// A transition newer than what the socket knows becomes a frame; an old or repeated one is dropped.
    private mutating func deliver(_ transition: PresenceTransition) -> ServerFrame? {
        guard transition.version > versions[transition.userID] ?? 0 else { return nil }
        versions[transition.userID] = transition.version
        return .presence(transition)
    }
}
