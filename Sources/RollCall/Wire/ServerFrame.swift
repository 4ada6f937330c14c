import Foundation

/// The `code` of an `error` frame or an HTTP error body.
public enum ErrorCode: String, Sendable, Codable {
    case badRequest = "bad_request"
    case unauthorized
    case forbidden
    case notFound = "not_found"
    case tooLarge = "too_large"
    case rateLimited = "rate_limited"
    case unavailable
}

/// A frame the hub sends to a client (docs/protocol.md), written by the hub and read by clients.
public enum ServerFrame: Sendable, Equatable {
    case welcome(connectionID: ConnectionID, userID: String, serverID: String, heartbeatMilliseconds: Int, resumed: Bool)
    case pong(id: RequestID?)
    case error(id: RequestID?, code: ErrorCode, message: String)
    case ack(id: RequestID?, accepted: Bool)
    case snapshot(id: RequestID?, users: [UserPresence])
    case presence(PresenceTransition)
    case connection(ConnectionEvent)
    case message(from: String, data: JSONValue, at: Date)
    /// The answer to `join`: the room's members at a version; its events follow.
    case room(id: RequestID?, RoomSnapshot)
    case roomEvent(RoomEvent)

    /// A frame's `type`.
    public enum Kind: String, Sendable {
        case welcome, pong, error, ack, snapshot, presence, connection, message, room
        case roomEvent = "room_event"
    }

    /// The keys of the frames' own fields; `presence` and `connection` frames write the fields of
    /// their payload (`PresenceTransition`, `ConnectionEvent`).
    enum Key: String {
        case accepted, at, code, connectionID = "connection_id", data, from, heartbeatMS = "heartbeat_ms", id, message, resumed
        case serverID = "server_id", type, userID = "user_id", users
    }

    public var kind: Kind {
        switch self {
        case .welcome: .welcome
        case .pong: .pong
        case .error: .error
        case .ack: .ack
        case .snapshot: .snapshot
        case .presence: .presence
        case .connection: .connection
        case .message: .message
        case .room: .room
        case .roomEvent: .roomEvent
        }
    }

    /// The `id` of the client frame this one answers (pong, error, ack, snapshot, room); nil for
    /// frames that answer nothing.
    public var answering: RequestID? {
        switch self {
        case .pong(let id), .error(let id, _, _), .ack(let id, _), .snapshot(let id, _), .room(let id, _): id
        case .welcome, .presence, .connection, .message, .roomEvent: nil
        }
    }

    /// The frame as one line of JSON text, keys sorted.
    public func json() -> String {
        var writer = JSONWriter()
        writer.object { json in
            switch self {
            case .welcome(let connectionID, let userID, let serverID, let heartbeat, let resumed):
                json.field(Key.connectionID, connectionID.description)
                json.field(Key.heartbeatMS, heartbeat)
                if resumed { json.field(Key.resumed, true) }
                json.field(Key.serverID, serverID)
                json.field(Key.type, kind)
                json.field(Key.userID, userID)
            case .pong(let id):
                json.field(Key.id, id)
                json.field(Key.type, kind)
            case .error(let id, let code, let message):
                json.field(Key.code, code)
                json.field(Key.id, id)
                json.field(Key.message, message)
                json.field(Key.type, kind)
            case .ack(let id, let accepted):
                json.field(Key.accepted, accepted)
                json.field(Key.id, id)
                json.field(Key.type, kind)
            case .snapshot(let id, let users):
                json.field(Key.id, id)
                json.field(Key.type, kind)
                json.field(Key.users) { $0.array(users) { json, user in user.write(to: &json) } }
            case .presence(let transition):
                transition.write(to: &json, frame: kind)
            case .connection(let event):
                event.write(to: &json, frame: kind)
            case .message(let from, let data, let at):
                json.field(Key.at, at)
                json.field(Key.data, data)
                json.field(Key.from, from)
                json.field(Key.type, kind)
            case .room(let id, let snapshot):
                snapshot.write(to: &json, frame: kind, id: id)
            case .roomEvent(let event):
                event.write(to: &json, frame: kind)
            }
        }
        return writer.text
    }

    /// Reads one frame the hub sent, as a client does.
    public static func decode(_ text: String) throws -> ServerFrame {
        let frame = try JSONParser.parse(text)
        let id = try RequestID(json: frame[Key.id])
        switch try frame.choice(Key.type, of: Kind.self) {
        case .welcome:
            return .welcome(
                connectionID: try frame.connectionID(Key.connectionID), userID: try frame.string(Key.userID),
                serverID: try frame.string(Key.serverID), heartbeatMilliseconds: Int(try frame.int(Key.heartbeatMS)),
                resumed: frame[Key.resumed] == nil ? false : try frame.bool(Key.resumed))
        case .pong:
            return .pong(id: id)
        case .error:
            return .error(id: id, code: try frame.choice(Key.code), message: try frame.string(Key.message))
        case .ack:
            return .ack(id: id, accepted: try frame.bool(Key.accepted))
        case .snapshot:
            return .snapshot(id: id, users: try frame.array(Key.users).map(UserPresence.init(json:)))
        case .presence:
            return .presence(try PresenceTransition(json: frame, inFrame: true))
        case .connection:
            return .connection(try ConnectionEvent(json: frame))
        case .message:
            return .message(from: try frame.string(Key.from), data: try frame.present(Key.data), at: try frame.date(Key.at))
        case .room:
            return .room(id: id, try RoomSnapshot(json: frame))
        case .roomEvent:
            return .roomEvent(try RoomEvent(json: frame))
        }
    }
}
