/// Who holds a connection or makes a request: the verified claims of a token.
public struct Identity: Sendable, Equatable {
    public let userID: String
    public let isAdmin: Bool
    /// Users this identity may watch; `nil` means any user.
    public let watchable: Set<String>?

    public init(userID: String, isAdmin: Bool = false, watchable: Set<String>? = nil) {
        self.userID = userID
        self.isAdmin = isAdmin
        self.watchable = watchable
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
