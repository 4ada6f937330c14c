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
    private struct Envelope: Decodable {
        let type: String?
        let id: RequestID?
    }

    private struct TargetBody: Decodable {
        let users: [String]?
        let all: Bool?
    }

    private struct SendBody: Decodable {
        let to: String
        let data: JSONValue
    }

    /// Reads one text frame; throws `ClientFrameError` for anything that is not a well-formed frame.
    public static func decode(_ text: String) throws(ClientFrameError) -> ClientFrame {
        let decoder = JSONDecoder()
        let bytes = Data(text.utf8)
        let envelope: Envelope
        do {
            envelope = try decoder.decode(Envelope.self, from: bytes)
        } catch {
            throw ClientFrameError(id: nil, message: "frame is not a JSON object")
        }
        let id = envelope.id
        guard let type = envelope.type else {
            throw ClientFrameError(id: id, message: "frame has no \"type\"")
        }
        switch type {
        case "ping":
            return .ping(id: id)
        case "subscribe", "unsubscribe":
            guard let body = try? decoder.decode(TargetBody.self, from: bytes) else {
                throw ClientFrameError(id: id, message: "\(type) needs \"users\" (a list of strings) or \"all\": true")
            }
            let target: SubscriptionTarget
            if body.all == true {
                target = .all
            } else if let users = body.users, !users.isEmpty {
                target = .users(users)
            } else {
                throw ClientFrameError(id: id, message: "\(type) needs \"users\" (a list of strings) or \"all\": true")
            }
            return type == "subscribe" ? .subscribe(id: id, target: target) : .unsubscribe(id: id, target: target)
        case "send":
            guard let body = try? decoder.decode(SendBody.self, from: bytes) else {
                throw ClientFrameError(id: id, message: "send needs \"to\" (a user id) and \"data\"")
            }
            return .send(id: id, to: body.to, data: body.data)
        default:
            throw ClientFrameError(id: id, message: "unknown frame type \"\(type)\"")
        }
    }
}
