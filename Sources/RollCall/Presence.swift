import Foundation

/// A user going offline→online or online→offline, as decided by the database.
public struct PresenceTransition: Sendable, Equatable {
    public let userID: String
    public let online: Bool
    /// `users.version` after this transition; grows by one per transition.
    public let version: Int64
    public let at: Date
    /// Open connections of the user right after the transition.
    public let connections: Int

    public init(userID: String, online: Bool, version: Int64, at: Date, connections: Int) {
        self.userID = userID
        self.online = online
        self.version = version
        self.at = at
        self.connections = connections
    }
}

/// The presence of one user, as `users` holds it.
public struct UserPresence: Sendable, Equatable {
    public let userID: String
    public let online: Bool
    public let connections: Int
    public let onlineSince: Date?
    public let lastSeenAt: Date?
    public let version: Int64

    public init(userID: String, online: Bool, connections: Int, onlineSince: Date?, lastSeenAt: Date?, version: Int64) {
        self.userID = userID
        self.online = online
        self.connections = connections
        self.onlineSince = onlineSince
        self.lastSeenAt = lastSeenAt
        self.version = version
    }

    /// A user the database has never seen.
    public static func unknown(_ userID: String) -> UserPresence {
        UserPresence(userID: userID, online: false, connections: 0, onlineSince: nil, lastSeenAt: nil, version: 0)
    }
}

/// The presence rule, applied to what the counter update of one user returned. The database
/// decides the state (inside the transaction that writes the rows); this says what that state
/// means for watchers: whoever's `online` flipped made a transition; a user still online with no
/// connection is waiting out the offline grace.
public struct CounterChange: Sendable, Equatable {
    public let userID: String
    /// Whether the update turned `online` over (the row says so: `users.changed_in`).
    public let flipped: Bool
    /// `online` after the batch.
    public let online: Bool
    public let connections: Int
    public let version: Int64

    public init(userID: String, flipped: Bool, online: Bool, connections: Int, version: Int64) {
        self.userID = userID
        self.flipped = flipped
        self.online = online
        self.connections = connections
        self.version = version
    }

    public enum Outcome: Sendable, Equatable {
        case transition(PresenceTransition)
        /// The last connection closed; offline is published only if none opens within the grace.
        case graceStarted
        case unchanged
    }

    public func outcome(at date: Date) -> Outcome {
        if flipped {
            return .transition(PresenceTransition(userID: userID, online: online, version: version, at: date, connections: connections))
        }
        return online && connections == 0 ? .graceStarted : .unchanged
    }
}
