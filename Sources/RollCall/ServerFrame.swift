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

/// A frame the hub sends to a client (DESIGN.md §7).
public enum ServerFrame: Sendable, Equatable {
    case welcome(connectionID: ConnectionID, userID: String, serverID: String, heartbeatMilliseconds: Int, resumed: Bool)
    case pong(id: RequestID?)
    case error(id: RequestID?, code: ErrorCode, message: String)
    case ack(id: RequestID?, accepted: Bool)
    case snapshot(id: RequestID?, users: [UserPresence])
    case presence(PresenceTransition)
    case connection(ConnectionEvent)
    case message(from: String, data: JSONValue, at: Date)

    /// The frame as one line of JSON text, keys sorted.
    public func json() -> String {
        var writer = JSONWriter()
        writer.object { json in
            switch self {
            case .welcome(let connectionID, let userID, let serverID, let heartbeat, let resumed):
                json.field("connection_id", connectionID.description)
                json.field("heartbeat_ms", heartbeat)
                if resumed { json.field("resumed", true) }
                json.field("server_id", serverID)
                json.field("type", "welcome")
                json.field("user_id", userID)
            case .pong(let id):
                json.field("id", id)
                json.field("type", "pong")
            case .error(let id, let code, let message):
                json.field("code", code.rawValue)
                json.field("id", id)
                json.field("message", message)
                json.field("type", "error")
            case .ack(let id, let accepted):
                json.field("accepted", accepted)
                json.field("id", id)
                json.field("type", "ack")
            case .snapshot(let id, let users):
                json.field("id", id)
                json.field("type", "snapshot")
                json.key("users")
                json.array(users) { json, user in
                    json.object {
                        $0.field("connections", user.connections)
                        $0.field("last_seen_at", user.lastSeenAt)
                        $0.field("online", user.online)
                        $0.field("online_since", user.onlineSince)
                        $0.field("user_id", user.userID)
                        $0.field("version", user.version)
                    }
                }
            case .presence(let transition):
                json.field("at", transition.at)
                json.field("connections", transition.connections)
                json.field("online", transition.online)
                json.field("type", "presence")
                json.field("user_id", transition.userID)
                json.field("version", transition.version)
            case .connection(let event):
                event.writeFields(to: &json, type: "connection")
            case .message(let from, let data, let at):
                json.field("at", at)
                json.field("data", data)
                json.field("from", from)
                json.field("type", "message")
            }
        }
        return writer.text
    }
}
