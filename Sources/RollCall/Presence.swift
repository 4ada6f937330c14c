import Foundation

/// A user going offline→online or online→offline, as decided by the database.
public struct PresenceTransition: Sendable, Equatable, Codable {
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

    enum CodingKeys: String, CodingKey {
        case userID = "user", online, version, at, connections
    }
}

/// The presence of one user, as `users` holds it.
public struct UserPresence: Sendable, Equatable, Codable {
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

    enum CodingKeys: String, CodingKey {
        case userID = "user_id", online, connections
        case onlineSince = "online_since", lastSeenAt = "last_seen_at", version
    }
}

/// How a counter upsert changed one user: what `RETURNING` said.
public struct CounterChange: Sendable, Equatable {
    public let userID: String
    public let before: Int
    public let after: Int
    public let version: Int64

    public init(userID: String, before: Int, after: Int, version: Int64) {
        self.userID = userID
        self.before = before
        self.after = after
        self.version = version
    }

    /// The transition this change makes, if the user crossed zero.
    public func transition(at date: Date) -> PresenceTransition? {
        switch (before > 0, after > 0) {
        case (false, true): PresenceTransition(userID: userID, online: true, version: version, at: date, connections: after)
        case (true, false): PresenceTransition(userID: userID, online: false, version: version, at: date, connections: after)
        default: nil
        }
    }
}
