import Foundation

/// A room event on the wire: in a presence notification's `rooms`, and as a `room_event` frame,
/// which adds its `type`.
extension RoomEvent {
    enum Key: String {
        case at, connectionID = "connection_id", event, reason, room, state, type, userID = "user_id", version
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
        json.field(Key.room, room)
        json.field(Key.state, state)
        json.field(Key.type, frame)
        json.field(Key.userID, userID)
        json.field(Key.version, version)
    }

    init(json: JSONValue) throws(JSONValue.FieldError) {
        self.init(
            room: try json.string(Key.room), event: try json.choice(Key.event), connectionID: try json.connectionID(Key.connectionID),
            userID: try json.string(Key.userID), state: json[Key.state] ?? .object([:]), version: try json.int(Key.version),
            at: try json.date(Key.at), reason: try json.optionalChoice(Key.reason))
    }
}

/// A room's members on the wire, grouped by user as Phoenix Presence lists metas per key: the
/// `room` frame and `GET /v1/rooms/{room}`.
extension RoomSnapshot {
    enum Key: String {
        case connectionID = "connection_id", connections, id, joinedAt = "joined_at", members, room, state, type, userID = "user_id", version
    }

    /// The snapshot's fields, keys sorted; a frame's `type` and `id`, when given, go in their place.
    func write(to json: inout JSONWriter, frame: ServerFrame.Kind?, id: RequestID?) {
        var byUser: [(String, [RoomMember])] = []
        var index: [String: Int] = [:]
        for member in members {
            if let at = index[member.userID] {
                byUser[at].1.append(member)
            } else {
                index[member.userID] = byUser.count
                byUser.append((member.userID, [member]))
            }
        }
        json.field(Key.id, id)
        json.field(Key.members) { json in
            json.array(byUser.sorted { $0.0 < $1.0 }) { json, entry in
                json.object { json in
                    json.field(Key.connections) { json in
                        json.array(entry.1) { json, member in
                            json.object { json in
                                json.field(Key.connectionID, member.connectionID.description)
                                json.field(Key.joinedAt, member.joinedAt)
                                json.field(Key.state, member.state)
                            }
                        }
                    }
                    json.field(Key.userID, entry.0)
                }
            }
        }
        json.field(Key.room, room)
        json.field(Key.type, frame)
        json.field(Key.version, version)
    }

    /// The snapshot as JSON (`GET /v1/rooms/{room}`).
    public var json: String {
        var writer = JSONWriter(capacity: 256)
        writer.object { write(to: &$0, frame: nil, id: nil) }
        return writer.text
    }

    init(json: JSONValue) throws(JSONValue.FieldError) {
        var members: [RoomMember] = []
        for user in try json.array(Key.members) {
            let userID = try user.string(Key.userID)
            for connection in try user.array(Key.connections) {
                members.append(
                    RoomMember(
                        connectionID: try connection.connectionID(Key.connectionID), userID: userID,
                        state: connection[Key.state] ?? .object([:]), joinedAt: try connection.date(Key.joinedAt)))
            }
        }
        self.init(room: try json.string(Key.room), version: try json.int(Key.version), members: members)
    }
}
