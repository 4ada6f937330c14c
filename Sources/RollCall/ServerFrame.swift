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

    /// The frame as one line of JSON text.
    public func json() -> String {
        // Encoding these plain values cannot fail; a failure would be a programming error.
        let data = try! RollCallJSON.encoder.encode(Wire(self))
        return String(decoding: data, as: UTF8.self)
    }

    /// Reads one frame the hub sent, as a client does.
    public static func decode(_ text: String) throws -> ServerFrame {
        try RollCallJSON.decoder.decode(Wire.self, from: Data(text.utf8)).frame
    }
}

/// The flat JSON shape of every server frame.
private struct Wire: Codable {
    let frame: ServerFrame

    init(_ frame: ServerFrame) { self.frame = frame }

    enum Key: String, CodingKey {
        case type, id, code, message, accepted, users, resumed, online, connections, at, version
        case event, reason, from, data, userAgent = "user_agent"
        case connectionID = "connection_id", userID = "user_id", serverID = "server_id", heartbeat = "heartbeat_ms"
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: Key.self)
        let id = try c.decodeIfPresent(RequestID.self, forKey: .id)
        switch try c.decode(String.self, forKey: .type) {
        case "welcome":
            frame = .welcome(
                connectionID: try c.decode(ConnectionID.self, forKey: .connectionID),
                userID: try c.decode(String.self, forKey: .userID),
                serverID: try c.decode(String.self, forKey: .serverID),
                heartbeatMilliseconds: try c.decode(Int.self, forKey: .heartbeat),
                resumed: try c.decodeIfPresent(Bool.self, forKey: .resumed) ?? false)
        case "pong":
            frame = .pong(id: id)
        case "error":
            frame = .error(id: id, code: try c.decode(ErrorCode.self, forKey: .code), message: try c.decode(String.self, forKey: .message))
        case "ack":
            frame = .ack(id: id, accepted: try c.decode(Bool.self, forKey: .accepted))
        case "snapshot":
            frame = .snapshot(id: id, users: try c.decode([UserPresence].self, forKey: .users))
        case "presence":
            frame = .presence(PresenceTransition(
                userID: try c.decode(String.self, forKey: .userID),
                online: try c.decode(Bool.self, forKey: .online),
                version: try c.decode(Int64.self, forKey: .version),
                at: try c.decode(Date.self, forKey: .at),
                connections: try c.decode(Int.self, forKey: .connections)))
        case "connection":
            frame = .connection(ConnectionEvent(
                event: try c.decode(ConnectionEvent.Kind.self, forKey: .event),
                connectionID: try c.decode(ConnectionID.self, forKey: .connectionID),
                userID: try c.decode(String.self, forKey: .userID),
                serverID: try c.decode(String.self, forKey: .serverID),
                userAgent: try c.decodeIfPresent(String.self, forKey: .userAgent),
                at: try c.decode(Date.self, forKey: .at),
                reason: try c.decodeIfPresent(CloseReason.self, forKey: .reason)))
        case "message":
            frame = .message(from: try c.decode(String.self, forKey: .from), data: try c.decode(JSONValue.self, forKey: .data), at: try c.decode(Date.self, forKey: .at))
        case let other:
            throw DecodingError.dataCorruptedError(forKey: .type, in: c, debugDescription: "unknown frame type \(other)")
        }
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Key.self)
        switch frame {
        case .welcome(let connectionID, let userID, let serverID, let heartbeat, let resumed):
            try c.encode("welcome", forKey: .type)
            try c.encode(connectionID, forKey: .connectionID)
            try c.encode(userID, forKey: .userID)
            try c.encode(serverID, forKey: .serverID)
            try c.encode(heartbeat, forKey: .heartbeat)
            if resumed { try c.encode(true, forKey: .resumed) }
        case .pong(let id):
            try c.encode("pong", forKey: .type)
            try c.encodeIfPresent(id, forKey: .id)
        case .error(let id, let code, let message):
            try c.encode("error", forKey: .type)
            try c.encodeIfPresent(id, forKey: .id)
            try c.encode(code, forKey: .code)
            try c.encode(message, forKey: .message)
        case .ack(let id, let accepted):
            try c.encode("ack", forKey: .type)
            try c.encodeIfPresent(id, forKey: .id)
            try c.encode(accepted, forKey: .accepted)
        case .snapshot(let id, let users):
            try c.encode("snapshot", forKey: .type)
            try c.encodeIfPresent(id, forKey: .id)
            try c.encode(users, forKey: .users)
        case .presence(let transition):
            try c.encode("presence", forKey: .type)
            try c.encode(transition.userID, forKey: .userID)
            try c.encode(transition.online, forKey: .online)
            try c.encode(transition.connections, forKey: .connections)
            try c.encode(transition.at, forKey: .at)
            try c.encode(transition.version, forKey: .version)
        case .connection(let event):
            try c.encode("connection", forKey: .type)
            try c.encode(event.event, forKey: .event)
            try c.encode(event.connectionID, forKey: .connectionID)
            try c.encode(event.userID, forKey: .userID)
            try c.encode(event.serverID, forKey: .serverID)
            try c.encodeIfPresent(event.userAgent, forKey: .userAgent)
            try c.encode(event.at, forKey: .at)
            try c.encodeIfPresent(event.reason, forKey: .reason)
        case .message(let from, let data, let at):
            try c.encode("message", forKey: .type)
            try c.encode(from, forKey: .from)
            try c.encode(data, forKey: .data)
            try c.encode(at, forKey: .at)
        }
    }
}
