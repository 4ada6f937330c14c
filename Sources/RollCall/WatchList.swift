/// The users one socket watches by name, capped in distinct users: re-subscribing a user costs
/// nothing, unsubscribing one never watched frees nothing. Pure: `SocketState` asks it before anything is watched.
public struct WatchList: Sendable, Equatable {
    /// Most distinct users the socket may watch at once.
    public let limit: Int
    public private(set) var users: Set<String> = []

    public init(limit: Int) {
        self.limit = limit
    }

    /// Watches `users` if the cap allows all of them; returns those not watched before (to undo
    /// with `remove` if their snapshot fails), or nil, changing nothing, when the cap would be passed.
    public mutating func add(_ users: [String]) -> [String]? {
        let added = Set(users).subtracting(self.users)
        guard self.users.count + added.count <= limit else { return nil }
        self.users.formUnion(added)
        return added.sorted()
    }

    /// Stops watching `users`; returns those that were watched.
    @discardableResult
    public mutating func remove(_ users: [String]) -> [String] {
        users.filter { self.users.remove($0) != nil }
    }
}
