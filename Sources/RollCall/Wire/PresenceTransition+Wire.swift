import Foundation

/// A transition on the wire: in a presence notification (`{"at","connections","online","user","version"}`)
/// and as a `presence` frame, where the user is `user_id` beside the frame's `type`.
extension PresenceTransition {
    enum Key: String {
        case at, connections, online, type, user, userID = "user_id", version
    }

    /// The transition as JSON, as in a presence notification.
    public var json: String {
        var writer = JSONWriter()
        writer.object { write(to: &$0, frame: nil) }
        return writer.text
    }

    /// The fields, keys sorted: a notification's, or with `frame` a frame's.
    func write(to json: inout JSONWriter, frame: ServerFrame.Kind?) {
        json.field(Key.at, at)
        json.field(Key.connections, connections)
        json.field(Key.online, online)
        if let frame {
            json.field(Key.type, frame)
            json.field(Key.userID, userID)
        } else {
            json.field(Key.user, userID)
        }
        json.field(Key.version, version)
    }

    /// Reads a notification's transition, or with `inFrame` a `presence` frame's.
    init(json: JSONValue, inFrame: Bool) throws(JSONValue.FieldError) {
        self.init(
            userID: try json.string(inFrame ? Key.userID : Key.user), online: try json.bool(Key.online),
            version: try json.int(Key.version), at: try json.date(Key.at), connections: Int(try json.int(Key.connections)))
    }
}
