import Foundation

/// A connection event on the wire: in a presence notification's `connections`, and as a
/// `connection` frame, which adds its `type`.
extension ConnectionEvent {
    enum Key: String {
        case at, connectionID = "connection_id", event, reason, serverID = "server_id", type, userAgent = "user_agent", userID = "user_id"
    }

    /// The event as JSON, as in a presence notification.
    public var json: String {
        var writer = JSONWriter(capacity: 256)
        writer.object { write(to: &$0, frame: nil) }
        return writer.text
    }

    /// The event's fields, keys sorted; a frame's `type`, when given, goes in its sorted place.
    func write(to json: inout JSONWriter, frame: ServerFrame.Kind?) {
        json.field(Key.at, at)
        json.field(Key.connectionID, connectionID.description)
        json.field(Key.event, event)
        json.field(Key.reason, reason)
        json.field(Key.serverID, serverID)
        json.field(Key.type, frame)
        json.field(Key.userAgent, userAgent)
        json.field(Key.userID, userID)
    }

    init(json: JSONValue) throws(JSONValue.FieldError) {
        self.init(
            event: try json.choice(Key.event), connectionID: try json.connectionID(Key.connectionID), userID: try json.string(Key.userID),
            serverID: try json.string(Key.serverID), userAgent: try json.optionalString(Key.userAgent), at: try json.date(Key.at),
            reason: try json.optionalChoice(Key.reason))
    }
}
