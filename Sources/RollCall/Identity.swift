import Foundation

/// Who holds a connection or makes a request: the verified claims of a token.
public struct Identity: Sendable, Equatable {
    public let userID: String
    public let isAdmin: Bool
    /// Users this identity may watch; `nil` means any user.
    public let watchable: Set<String>?
    /// When the token expires: a socket opened with it is closed then (4001 `token_expired`).
    public let expiresAt: Date?
    /// Rooms this identity may join and read: names, or prefixes ending in `*`; `nil` means any.
    public let rooms: [String]?

    /// Longest user id, in UTF-8 bytes: a token's `sub`, a path's `{id}`, a frame's `to`.
    public static let maximumUserIDBytes = 1024

    /// Whether `user` can be a user id: 1 to `maximumUserIDBytes` bytes of UTF-8, any characters
    /// but NUL, which PostgreSQL cannot store in text (such an id could never have a row).
    public static func isValidUserID(_ user: some StringProtocol) -> Bool {
        !user.isEmpty && user.utf8.count <= maximumUserIDBytes && !user.utf8.contains(0)
    }

    public init(userID: String, isAdmin: Bool = false, watchable: Set<String>? = nil, expiresAt: Date? = nil, rooms: [String]? = nil) {
        self.userID = userID
        self.isAdmin = isAdmin
        self.watchable = watchable
        self.expiresAt = expiresAt
        self.rooms = rooms
    }

    /// Whether this identity may join `room` and read its members: admins any, others what the
    /// `rooms` claim names (`doc-1`) or begins (`doc-*`), any when there is no such claim.
    public func mayEnter(_ room: String) -> Bool {
        guard !isAdmin, let rooms else { return true }
        return rooms.contains { $0.hasSuffix("*") ? room.hasPrefix($0.dropLast()) : room == $0 }
    }

    /// Whether this identity may read the presence of `user`.
    public func mayWatch(_ user: String) -> Bool {
        isAdmin || user == userID || watchable.map { $0.contains(user) } ?? true
    }

    /// Whether this identity may read `user`'s connection rows (self or admin).
    public func mayInspect(_ user: String) -> Bool {
        isAdmin || user == userID
    }
}
