import Foundation

/// A user's presence on the wire: an element of a `snapshot` frame's `users`, and of the HTTP
/// API's `users` lists.
extension UserPresence {
    enum Key: String {
        case connections, lastSeenAt = "last_seen_at", online, onlineSince = "online_since", userID = "user_id", version
    }

    public func write(to json: inout JSONWriter) {
        json.object {
            $0.field(Key.connections, connections)
            $0.field(Key.lastSeenAt, lastSeenAt)
            $0.field(Key.online, online)
            $0.field(Key.onlineSince, onlineSince)
            $0.field(Key.userID, userID)
            $0.field(Key.version, version)
        }
    }

    init(json: JSONValue) throws(JSONValue.FieldError) {
        self.init(
            userID: try json.string(Key.userID), online: try json.bool(Key.online), connections: Int(try json.int(Key.connections)),
            onlineSince: try json.optionalDate(Key.onlineSince), lastSeenAt: try json.optionalDate(Key.lastSeenAt),
            version: try json.int(Key.version))
    }
}
