import Foundation

/// A frame a client sends over the socket (docs/protocol.md), written by clients and read by the hub.
public enum ClientFrame: Sendable, Equatable {
    case ping(id: RequestID?)
    case subscribe(id: RequestID?, target: SubscriptionTarget)
    case unsubscribe(id: RequestID?, target: SubscriptionTarget)
    case send(id: RequestID?, to: String, data: JSONValue)
    /// Join a room with a state (nil: none given); answered with the room's members.
    case join(id: RequestID?, room: String, state: JSONValue?)
    case roomState(id: RequestID?, room: String, state: JSONValue?)
    case leave(id: RequestID?, room: String)

    public var id: RequestID? {
        switch self {
        case .ping(let id), .subscribe(let id, _), .unsubscribe(let id, _), .send(let id, _, _), .join(let id, _, _), .roomState(let id, _, _),
            .leave(let id, _):
            id
        }
    }
}

/// Whom a subscription is about: named users, or the admin feed of everything.
public enum SubscriptionTarget: Sendable, Equatable {
    case users([String])
    case all
}

/// Why a frame could not be read; becomes an `error` frame with code `bad_request`.
public struct ClientFrameError: Error, Sendable, Equatable {
    /// The frame's `id`, when it could be read, so the error can echo it.
    public let id: RequestID?
    public let message: String

    public init(id: RequestID?, message: String) {
        self.id = id
        self.message = message
    }
}

extension ClientFrame {
    /// A frame's `type`.
    enum Kind: String {
        case ping, subscribe, unsubscribe, send, join, leave
        case roomState = "room_state"
    }

    enum Key: String {
        case all, data, id, room, state, to, type, users
    }

    /// Reads one text frame; throws `ClientFrameError` for anything that is not a well-formed frame.
    public static func decode(_ text: String) throws(ClientFrameError) -> ClientFrame {
        let fields: [String: JSONValue]
        switch try? JSONParser.parse(text) {
        case .object(let object)?: fields = object
        case nil: throw ClientFrameError(id: nil, message: "frame is not valid JSON")
        case let other?: throw ClientFrameError(id: nil, message: "frame is JSON \(other.kind), not an object")
        }
        func field(_ key: Key) -> JSONValue? { fields[key.rawValue] }
        let id: RequestID?
        do {
            id = try RequestID(json: field(.id))
        } catch {
            throw ClientFrameError(id: nil, message: error.description)
        }
        let type: String
        switch field(.type) {
        case .string(let value)?: type = value
        case nil: throw ClientFrameError(id: id, message: "frame has no \"type\"")
        case let other?: throw ClientFrameError(id: id, message: "\"type\" must be a string such as \"ping\", not \(other.kind)")
        }
        switch Kind(rawValue: type) {
        case .ping:
            return .ping(id: id)
        case .subscribe:
            return .subscribe(id: id, target: try subscriptionTarget(of: type, users: field(.users), all: field(.all), id: id))
        case .unsubscribe:
            return .unsubscribe(id: id, target: try subscriptionTarget(of: type, users: field(.users), all: field(.all), id: id))
        case .send:
            guard let to = field(.to), let data = field(.data) else {
                throw ClientFrameError(id: id, message: "send needs \"to\" (a user id) and \"data\"")
            }
            guard case .string(let user) = to else {
                throw ClientFrameError(id: id, message: "\"to\" must be a string (a user id), not \(to.kind)")
            }
            guard Identity.isValidUserID(user) else {
                throw ClientFrameError(id: id, message: "\"to\" must be a user id of 1 to \(Identity.maximumUserIDBytes) bytes without NUL")
            }
            return .send(id: id, to: user, data: data)
        case .join:
            return .join(id: id, room: try room(of: type, field(.room), id: id), state: field(.state))
        case .roomState:
            return .roomState(id: id, room: try room(of: type, field(.room), id: id), state: field(.state))
        case .leave:
            return .leave(id: id, room: try room(of: type, field(.room), id: id))
        case nil:
            throw ClientFrameError(
                id: id, message: "unknown frame type \"\(type)\"; use ping, subscribe, unsubscribe, send, join, room_state or leave")
        }
    }

    private static func room(of type: String, _ value: JSONValue?, id: RequestID?) throws(ClientFrameError) -> String {
        switch value {
        case .string(let room)?:
            if let problem = Room.problem(withName: room) { throw ClientFrameError(id: id, message: problem) }
            return room
        case nil, .null?: throw ClientFrameError(id: id, message: "\(type) needs \"room\" (a room name)")
        case let other?: throw ClientFrameError(id: id, message: "\"room\" must be a string (a room name), not \(other.kind)")
        }
    }

    private static func subscriptionTarget(of type: String, users: JSONValue?, all: JSONValue?, id: RequestID?) throws(ClientFrameError)
        -> SubscriptionTarget
    {
        switch all {
        case .bool(true)?: return .all
        case nil, .bool(false)?, .null?: break
        case let other?: throw ClientFrameError(id: id, message: "\"all\" must be true or false, not \(other.kind)")
        }
        switch users {
        case .array(let items)? where !items.isEmpty:
            var ids: [String] = []
            for item in items {
                guard case .string(let user) = item else {
                    throw ClientFrameError(id: id, message: "\"users\" must be a list of strings; it holds \(item.kind)")
                }
                guard Identity.isValidUserID(user) else {
                    throw ClientFrameError(
                        id: id, message: "each of \"users\" must be a user id of 1 to \(Identity.maximumUserIDBytes) bytes without NUL")
                }
                ids.append(user)
            }
            return .users(ids)
        case .array?:
            throw ClientFrameError(id: id, message: "\(type) needs \"users\" (a list of strings), and this list is empty")
        case nil, .null?:
            throw ClientFrameError(id: id, message: "\(type) needs \"users\" (a list of strings) or \"all\": true")
        case let other?:
            throw ClientFrameError(id: id, message: "\"users\" must be a list of strings, not \(other.kind)")
        }
    }
}

extension ClientFrame {
    /// The frame as one line of JSON text, as a client sends it.
    public func json() -> String {
        var writer = JSONWriter()
        writer.object { json in
            switch self {
            case .ping:
                json.field(Key.id, id)
                json.field(Key.type, Kind.ping)
            case .subscribe(_, let target), .unsubscribe(_, let target):
                if case .all = target { json.field(Key.all, true) }
                json.field(Key.id, id)
                if case .subscribe = self { json.field(Key.type, Kind.subscribe) } else { json.field(Key.type, Kind.unsubscribe) }
                if case .users(let users) = target { json.field(Key.users) { $0.array(users) { $0.string($1) } } }
            case .send(_, let to, let data):
                json.field(Key.data, data)
                json.field(Key.id, id)
                json.field(Key.to, to)
                json.field(Key.type, Kind.send)
            case .join(_, let room, let state), .roomState(_, let room, let state):
                json.field(Key.id, id)
                json.field(Key.room, room)
                if let state { json.field(Key.state, state) }
                if case .join = self { json.field(Key.type, Kind.join) } else { json.field(Key.type, Kind.roomState) }
            case .leave(_, let room):
                json.field(Key.id, id)
                json.field(Key.room, room)
                json.field(Key.type, Kind.leave)
            }
        }
        return writer.text
    }
}
