import Foundation

/// The ASP.NET Core SignalR JSON hub protocol, version 1, mapped onto RollCall's frames: what a
/// SignalR client's records mean as `ClientFrame`s, and how a `ServerFrame` reads to it.
///
/// Records are JSON objects, each ended by the record separator 0x1E; one WebSocket frame may
/// carry several. The first record a client sends is the handshake.
public enum SignalR {
    public static let recordSeparator: Character = "\u{1e}"

    /// Server-to-client invocation targets.
    public static let statusTarget = "UserStatusChanged"
    public static let messageTarget = "ReceiveMessage"
    public static let roomTarget = "RoomChanged"

    /// What one record from a client asks for.
    public enum Incoming: Sendable, Equatable {
        /// The handshake; `error` when it asks for what this hub does not speak.
        case handshake(error: String?)
        /// An invocation RollCall carries out (its `invocationId`, if any, is the frame's id).
        case frame(ClientFrame)
        /// An invocation that cannot be carried out: answered with a completion carrying `error`
        /// when it has an `invocationId`, else dropped.
        case refused(invocationID: String?, error: String)
        /// Ping (6), cancel (5) and records this hub has nothing to answer.
        case ignored
        /// The client's close (7).
        case close
    }

    /// Splits one text frame into its records and reads each. `handshaken` says whether the
    /// handshake has been read; the first record is read as the handshake until it has.
    public static func read(_ text: String, handshaken: inout Bool) -> [Incoming] {
        var incoming: [Incoming] = []
        for record in text.split(separator: recordSeparator, omittingEmptySubsequences: true) {
            guard handshaken else {
                let answer = handshake(record)
                handshaken = answer == .handshake(error: nil)
                incoming.append(answer)
                if !handshaken { return incoming }
                continue
            }
            incoming.append(message(record))
        }
        return incoming
    }

    static func handshake(_ record: Substring) -> Incoming {
        guard case .object(let fields)? = try? JSONParser.parse(String(record)) else {
            return .handshake(error: "the handshake is not a JSON object")
        }
        guard case .string(let name)? = fields["protocol"], name == "json" else {
            return .handshake(error: "this hub speaks the json protocol only")
        }
        // Clients ask for 0 (signalrcore), 1 (most) or 2 (.NET 8, which behaves as 1 unless the
        // negotiation offered stateful reconnect, which this hub does not).
        guard case .number(let version)? = fields["version"], [0, 1, 2].contains(version) else {
            return .handshake(error: "this hub speaks versions 0 to 2 of the json protocol")
        }
        return .handshake(error: nil)
    }

    static func message(_ record: Substring) -> Incoming {
        guard case .object(let fields)? = try? JSONParser.parse(String(record)),
            case .number(let type)? = fields["type"]
        else {
            return .refused(invocationID: nil, error: "a record is a JSON object with a numeric type")
        }
        let invocationID: String?
        if case .string(let id)? = fields["invocationId"] { invocationID = id } else { invocationID = nil }
        switch type {
        case 1:
            return invocation(fields, invocationID: invocationID)
        case 4:
            return .refused(invocationID: invocationID, error: "streaming is not supported by this hub")
        case 7:
            return .close
        default:
            // 5 (cancel) has nothing to cancel, 6 (ping) needs no answer; others are server-sent.
            return .ignored
        }
    }

    static func invocation(_ fields: [String: JSONValue], invocationID: String?) -> Incoming {
        let id = invocationID.map(RequestID.string)
        guard case .string(let target)? = fields["target"] else {
            return .refused(invocationID: invocationID, error: "an invocation needs a target")
        }
        let arguments: [JSONValue]
        switch fields["arguments"] {
        case .array(let values)?: arguments = values
        case nil: arguments = []
        default: return .refused(invocationID: invocationID, error: "arguments must be an array")
        }
        switch target {
        case "Subscribe", "Unsubscribe":
            guard arguments.count == 1, let users = userIDs(arguments[0]) else {
                return .refused(invocationID: invocationID, error: "\(target) takes one argument: a non-empty array of user ids")
            }
            return .frame(target == "Subscribe" ? .subscribe(id: id, target: .users(users)) : .unsubscribe(id: id, target: .users(users)))
        case "SendToUser":
            guard arguments.count == 2, case .string(let user) = arguments[0], Identity.isValidUserID(user) else {
                return .refused(invocationID: invocationID, error: "SendToUser takes two arguments: a user id and the data")
            }
            return .frame(.send(id: id, to: user, data: arguments[1]))
        case "JoinRoom", "SetRoomState":
            guard (1...2).contains(arguments.count), case .string(let room) = arguments[0] else {
                return .refused(invocationID: invocationID, error: "\(target) takes a room name and a state (a JSON object)")
            }
            if let problem = Room.problem(withName: room) { return .refused(invocationID: invocationID, error: problem) }
            let state = arguments.count == 2 ? arguments[1] : nil
            return .frame(target == "JoinRoom" ? .join(id: id, room: room, state: state) : .roomState(id: id, room: room, state: state))
        case "LeaveRoom":
            guard arguments.count == 1, case .string(let room) = arguments[0] else {
                return .refused(invocationID: invocationID, error: "LeaveRoom takes one argument: a room name")
            }
            if let problem = Room.problem(withName: room) { return .refused(invocationID: invocationID, error: problem) }
            return .frame(.leave(id: id, room: room))
        default:
            return .refused(
                invocationID: invocationID,
                error: "unknown method '\(target)': this hub has Subscribe, Unsubscribe, SendToUser, JoinRoom, SetRoomState and LeaveRoom")
        }
    }

    static func userIDs(_ value: JSONValue) -> [String]? {
        guard case .array(let items) = value, !items.isEmpty else { return nil }
        var users: [String] = []
        for item in items {
            guard case .string(let user) = item, Identity.isValidUserID(user) else { return nil }
            users.append(user)
        }
        return users
    }

    // MARK: - To the client

    /// The answer to a handshake.
    public static func handshakeResponse(error: String?) -> String {
        record(error.map { .object(["error": .string($0)]) } ?? .object([:]))
    }

    /// A server ping (6); clients take a silence of 30 s as a dead connection.
    public static let ping = record(.object(["type": .number(6)]))

    /// The close record (7) sent before the hub closes the socket.
    public static func close(error: String?, allowReconnect: Bool) -> String {
        var fields: [String: JSONValue] = ["type": .number(7)]
        if let error { fields["error"] = .string(error) }
        if allowReconnect { fields["allowReconnect"] = .bool(true) }
        return record(.object(fields))
    }

    /// A completion (3) for a refused invocation.
    public static func completion(invocationID: String, error: String) -> String {
        record(.object(["type": .number(3), "invocationId": .string(invocationID), "error": .string(error)]))
    }

    /// What a server frame becomes for a SignalR client; nil when it has no SignalR form (the
    /// welcome is the handshake's answer; pongs answer RollCall pings only).
    public static func text(for frame: ServerFrame) -> String? {
        switch frame {
        case .welcome, .pong, .connection:
            return nil
        case .ack(let id, _):
            guard let id = invocationID(id) else { return nil }
            return record(.object(["type": .number(3), "invocationId": .string(id)]))
        case .error(let id, let code, let message):
            guard let id = invocationID(id) else { return nil }
            return completion(invocationID: id, error: "\(code.rawValue): \(message)")
        case .snapshot(let id, let users):
            guard let id = invocationID(id) else {
                // A subscription sent without an invocationId: its snapshot comes as status changes.
                return users.map { status($0.userID, online: $0.online, connections: $0.connections, version: $0.version) }.joined()
            }
            let result = JSONValue.array(
                users.map {
                    .object([
                        "userId": .string($0.userID), "online": .bool($0.online), "connections": .number(JSONNumber($0.connections)),
                        "version": .number(JSONNumber($0.version)),
                    ])
                })
            return record(.object(["type": .number(3), "invocationId": .string(id), "result": result]))
        case .presence(let change):
            return status(change.userID, online: change.online, connections: change.connections, version: change.version)
        case .message(let from, let data, _):
            return record(.object(["type": .number(1), "target": .string(messageTarget), "arguments": .array([.string(from), data])]))
        case .room(let id, let snapshot):
            guard let id = invocationID(id), let members = try? JSONParser.parse(snapshot.json) else { return nil }
            return record(.object(["type": .number(3), "invocationId": .string(id), "result": members]))
        case .roomEvent(let event):
            return record(
                .object([
                    "type": .number(1), "target": .string(roomTarget),
                    "arguments": .array([
                        .string(event.room), .string(event.event.rawValue), .string(event.connectionID.description), .string(event.userID),
                        event.state, .number(JSONNumber(event.version)),
                    ]),
                ]))
        }
    }

    static func status(_ user: String, online: Bool, connections: Int, version: Int64) -> String {
        record(
            .object([
                "type": .number(1), "target": .string(statusTarget),
                "arguments": .array([.string(user), .bool(online), .number(JSONNumber(connections)), .number(JSONNumber(version))]),
            ]))
    }

    static func invocationID(_ id: RequestID?) -> String? {
        switch id {
        case .string(let value)?: value
        case .number(let value)?: String(value)
        case nil: nil
        }
    }

    static func record(_ value: JSONValue) -> String {
        value.json + String(recordSeparator)
    }
}
