import Foundation

// What hubs and clients read on every frame and every notification, from parsed JSON
// (`JSONParser`) rather than through a decoder: the same fields `JSONWriter` writes.

extension ServerFrame {
    /// Reads one frame the hub sent, as a client does.
    public static func decode(_ text: String) throws -> ServerFrame {
        let frame = try JSONParser.parse(text)
        let id = try RequestID(frame["id"])
        switch try frame.string("type") {
        case "welcome":
            return .welcome(
                connectionID: try ConnectionID(field: "connection_id", of: frame), userID: try frame.string("user_id"),
                serverID: try frame.string("server_id"), heartbeatMilliseconds: Int(try frame.int("heartbeat_ms")),
                resumed: frame["resumed"] == nil ? false : try frame.bool("resumed"))
        case "pong":
            return .pong(id: id)
        case "error":
            guard let code = ErrorCode(rawValue: try frame.string("code")) else { throw JSONValue.FieldError(description: "unknown error code") }
            return .error(id: id, code: code, message: try frame.string("message"))
        case "ack":
            return .ack(id: id, accepted: try frame.bool("accepted"))
        case "snapshot":
            return .snapshot(id: id, users: try frame.array("users").map(UserPresence.init(json:)))
        case "presence":
            return .presence(PresenceTransition(
                userID: try frame.string("user_id"), online: try frame.bool("online"), version: try frame.int("version"),
                at: try frame.date("at"), connections: Int(try frame.int("connections"))))
        case "connection":
            return .connection(try ConnectionEvent(json: frame))
        case "message":
            return .message(from: try frame.string("from"), data: try frame.data(), at: try frame.date("at"))
        case let other:
            throw JSONValue.FieldError(description: "unknown frame type \(other)")
        }
    }
}

extension PresenceNotification {
    public static func decode(_ payload: String) throws -> PresenceNotification {
        let notification = try JSONParser.parse(payload)
        return PresenceNotification(
            server: try notification.string("server"),
            events: try notification.array("events").map { event in
                PresenceTransition(
                    userID: try event.string("user"), online: try event.bool("online"), version: try event.int("version"),
                    at: try event.date("at"), connections: Int(try event.int("connections")))
            },
            connections: try notification.array("connections").map(ConnectionEvent.init(json:)))
    }
}

extension MessageNotification {
    public static func decode(_ payload: String) throws -> MessageNotification {
        let notification = try JSONParser.parse(payload)
        return MessageNotification(
            messages: try notification.array("messages").map { message in
                UserMessage(
                    to: try message.string("to"), from: try message.string("from"), data: try message.data(),
                    at: try message.date("at"))
            },
            stored: try notification.array("stored").map { Reference(id: try $0.int("id"), to: try $0.string("to")) })
    }
}

extension UserPresence {
    init(json: JSONValue) throws {
        self.init(
            userID: try json.string("user_id"), online: try json.bool("online"), connections: Int(try json.int("connections")),
            onlineSince: try json.optionalDate("online_since"), lastSeenAt: try json.optionalDate("last_seen_at"),
            version: try json.int("version"))
    }
}

extension ConnectionEvent {
    init(json: JSONValue) throws {
        guard let event = Kind(rawValue: try json.string("event")) else { throw JSONValue.FieldError(description: "unknown connection event") }
        let reason = try json.optionalString("reason").map { text in
            guard let reason = CloseReason(rawValue: text) else { throw JSONValue.FieldError(description: "unknown close reason \(text)") }
            return reason
        }
        self.init(
            event: event, connectionID: try ConnectionID(field: "connection_id", of: json), userID: try json.string("user_id"),
            serverID: try json.string("server_id"), userAgent: try json.optionalString("user_agent"), at: try json.date("at"),
            reason: reason)
    }
}

extension ConnectionID {
    init(field key: String, of json: JSONValue) throws {
        guard let id = ConnectionID(try json.string(key)) else { throw JSONValue.FieldError(description: "\"\(key)\" must be a UUID") }
        self = id
    }
}

extension RequestID {
    /// A frame's optional `id`: a string or a whole number.
    init?(_ json: JSONValue?) throws {
        switch json {
        case nil: return nil
        case .string(let value)?: self = .string(value)
        case .number(let value)?:
            guard let whole = JSONValue.exactInteger(value) else { throw JSONValue.FieldError(description: "\"id\" must be a string or a whole number") }
            self = .number(whole)
        case _?: throw JSONValue.FieldError(description: "\"id\" must be a string or a whole number")
        }
    }
}

extension JSONValue {
    /// A message's `data`: any value, null included, but present.
    func data() throws(FieldError) -> JSONValue {
        guard case .object(let fields) = self, let data = fields["data"] else { throw FieldError(description: "\"data\" is missing") }
        return data
    }
}
