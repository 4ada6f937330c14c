import Foundation

/// A frame a client sends over the socket (DESIGN.md §7).
public enum ClientFrame: Sendable, Equatable {
    case ping(id: RequestID?)
    case subscribe(id: RequestID?, target: SubscriptionTarget)
    case unsubscribe(id: RequestID?, target: SubscriptionTarget)
    case send(id: RequestID?, to: String, data: JSONValue)

    public var id: RequestID? {
        switch self {
        case .ping(let id), .subscribe(let id, _), .unsubscribe(let id, _), .send(let id, _, _): id
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
    /// The `id` alone, read exactly as a 64-bit integer.
    private struct IDField: Decodable {
        let id: RequestID?
    }

    /// Reads one text frame; throws `ClientFrameError` for anything that is not a well-formed frame.
    public static func decode(_ text: String) throws(ClientFrameError) -> ClientFrame {
        let fields: [String: JSONValue]
        switch try? JSONParser.parse(text) {
        case .object(let object)?: fields = object
        case nil: throw ClientFrameError(id: nil, message: "frame is not valid JSON")
        case let other?: throw ClientFrameError(id: nil, message: "frame is JSON \(other.kind), not an object")
        }
        let id: RequestID?
        switch fields["id"] {
        case nil, .null?: id = nil
        case .string(let value)?: id = .string(value)
        case .number(let value)?:
            if let whole = JSONValue.exactInteger(value) {
                id = .number(whole)
                break
            }
            // A fraction, or a whole number too large for a Double to hold exactly: read from the text.
            guard let read = (try? JSONDecoder().decode(IDField.self, from: Data(text.utf8)))?.id else {
                throw ClientFrameError(id: nil, message: "\"id\" must be a string or a whole number")
            }
            id = read
        case let other?: throw ClientFrameError(id: nil, message: "\"id\" must be a string or a whole number, not \(other.kind)")
        }
        let type: String
        switch fields["type"] {
        case .string(let value)?: type = value
        case nil: throw ClientFrameError(id: id, message: "frame has no \"type\"")
        case let other?: throw ClientFrameError(id: id, message: "\"type\" must be a string such as \"ping\", not \(other.kind)")
        }
        switch type {
        case "ping":
            return .ping(id: id)
        case "subscribe", "unsubscribe":
            let target = try subscriptionTarget(of: type, in: fields, id: id)
            return type == "subscribe" ? .subscribe(id: id, target: target) : .unsubscribe(id: id, target: target)
        case "send":
            guard let to = fields["to"], let data = fields["data"] else {
                throw ClientFrameError(id: id, message: "send needs \"to\" (a user id) and \"data\"")
            }
            guard case .string(let user) = to else {
                throw ClientFrameError(id: id, message: "\"to\" must be a string (a user id), not \(to.kind)")
            }
            guard Identity.isValidUserID(user) else {
                throw ClientFrameError(id: id, message: "\"to\" must be a user id of 1 to \(Identity.maximumUserIDBytes) bytes without NUL")
            }
            return .send(id: id, to: user, data: data)
        default:
            throw ClientFrameError(id: id, message: "unknown frame type \"\(type)\"; use ping, subscribe, unsubscribe or send")
        }
    }

    private static func subscriptionTarget(of type: String, in fields: [String: JSONValue], id: RequestID?) throws(ClientFrameError) -> SubscriptionTarget {
        switch fields["all"] {
        case .bool(true)?: return .all
        case nil, .bool(false)?, .null?: break
        case let other?: throw ClientFrameError(id: id, message: "\"all\" must be true or false, not \(other.kind)")
        }
        switch fields["users"] {
        case .array(let items)? where !items.isEmpty:
            var users: [String] = []
            for item in items {
                guard case .string(let user) = item else {
                    throw ClientFrameError(id: id, message: "\"users\" must be a list of strings; it holds \(item.kind)")
                }
                guard Identity.isValidUserID(user) else {
                    throw ClientFrameError(id: id, message: "each of \"users\" must be a user id of 1 to \(Identity.maximumUserIDBytes) bytes without NUL")
                }
                users.append(user)
            }
            return .users(users)
        case .array?:
            throw ClientFrameError(id: id, message: "\(type) needs \"users\" (a list of strings), and this list is empty")
        case nil, .null?:
            throw ClientFrameError(id: id, message: "\(type) needs \"users\" (a list of strings) or \"all\": true")
        case let other?:
            throw ClientFrameError(id: id, message: "\"users\" must be a list of strings, not \(other.kind)")
        }
    }
}

extension JSONValue {
    /// What kind of JSON value this is, for error messages: "a number", "an object", ...
    public var kind: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .number: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }
}

extension ClientFrame {
    /// The frame as one line of JSON text, as a client sends it.
    public func json() -> String {
        var fields: [String: JSONValue] = [:]
        switch self {
        case .ping:
            fields["type"] = .string("ping")
        case .subscribe(_, let target), .unsubscribe(_, let target):
            if case .subscribe = self { fields["type"] = .string("subscribe") } else { fields["type"] = .string("unsubscribe") }
            switch target {
            case .all: fields["all"] = .bool(true)
            case .users(let users): fields["users"] = .array(users.map(JSONValue.string))
            }
        case .send(_, let to, let data):
            fields["type"] = .string("send")
            fields["to"] = .string(to)
            fields["data"] = data
        }
        switch id {
        case .string(let value)?: fields["id"] = .string(value)
        case .number(let value)?: fields["id"] = .number(Double(value))
        case nil: break
        }
        return JSONValue.object(fields).json
    }
}
