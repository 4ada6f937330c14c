import Foundation

/// Rooms (docs/protocol.md, "Rooms"): named sets of connections, each member with a state.
public enum Room {
    /// A name is 1 to this many bytes of UTF-8.
    public static let maxNameBytes = 200
    /// A state is a JSON object of at most this many bytes, as the hub writes it.
    public static let maxStateBytes = 1024
    /// Rooms one connection may be in at once.
    public static let maxRoomsPerConnection = 100

    /// Why `name` is no room name, or nil when it is one.
    public static func problem(withName name: String) -> String? {
        let bytes = name.utf8.count
        if bytes == 0 { return "a room name is 1 to \(maxNameBytes) bytes, not empty" }
        if bytes > maxNameBytes { return "a room name is 1 to \(maxNameBytes) bytes of UTF-8, not \(bytes)" }
        if name.utf8.contains(0) { return "a room name may not hold NUL" }
        return nil
    }

    /// The state as stored and sent (`{}` when none was given), or why it cannot be one:
    /// `bad_request` for a value that is no object, `too_large` past `maxStateBytes`.
    public static func state(from value: JSONValue?) -> Result<JSONValue, StateProblem> {
        guard let value, value != .null else { return .success(.object([:])) }
        guard case .object = value else { return .failure(.notAnObject(value.kind)) }
        let bytes = value.json.utf8.count
        guard bytes <= maxStateBytes else { return .failure(.tooLarge(bytes)) }
        return .success(value)
    }

    public enum StateProblem: Error, Equatable, CustomStringConvertible {
        case notAnObject(String)
        case tooLarge(Int)

        public var code: ErrorCode {
            switch self {
            case .notAnObject: .badRequest
            case .tooLarge: .tooLarge
            }
        }

        public var description: String {
            switch self {
            case .notAnObject(let kind): "a room state is a JSON object, not \(kind)"
            case .tooLarge(let bytes): "a room state is at most \(Room.maxStateBytes) bytes of JSON, not \(bytes)"
            }
        }
    }
}

/// Why a connection's membership of a room ended.
public enum RoomLeaveReason: String, Sendable, Codable, CaseIterable {
    /// The client left.
    case left
    /// Its connection closed.
    case closed
    /// Its hub died and the purge closed its connection.
    case orphaned
    /// Its connection was kicked.
    case kicked

    /// How a room hears of a connection that closed for `reason`.
    public init(closing reason: CloseReason) {
        switch reason {
        case .orphaned: self = .orphaned
        case .kicked: self = .kicked
        case .clientClosed, .timeout, .serverShutdown, .serverRestart, .protocolError: self = .closed
        }
    }
}

/// One change of a room, as every member hears it: numbered by the room's version, which grows
/// by one per change.
public struct RoomEvent: Sendable, Equatable {
    public enum Kind: String, Sendable, Codable {
        case joined, updated, left
    }

    public let room: String
    public let event: Kind
    public let connectionID: ConnectionID
    public let userID: String
    /// The member's state; on `left`, the last one it had.
    public let state: JSONValue
    public let version: Int64
    public let at: Date
    /// Why it left; nil unless `left`.
    public let reason: RoomLeaveReason?

    public init(
        room: String, event: Kind, connectionID: ConnectionID, userID: String, state: JSONValue, version: Int64, at: Date,
        reason: RoomLeaveReason? = nil
    ) {
        self.room = room
        self.event = event
        self.connectionID = connectionID
        self.userID = userID
        self.state = state
        self.version = version
        self.at = at
        self.reason = reason
    }
}

/// A connection in a room now.
public struct RoomMember: Sendable, Equatable {
    public let connectionID: ConnectionID
    public let userID: String
    public let state: JSONValue
    public let joinedAt: Date

    public init(connectionID: ConnectionID, userID: String, state: JSONValue, joinedAt: Date) {
        self.connectionID = connectionID
        self.userID = userID
        self.state = state
        self.joinedAt = joinedAt
    }
}

/// A room's members at one of its versions: what a joiner is told before the room's events.
public struct RoomSnapshot: Sendable, Equatable {
    public let room: String
    public let version: Int64
    public let members: [RoomMember]

    public init(room: String, version: Int64, members: [RoomMember]) {
        self.room = room
        self.version = version
        self.members = members
    }
}

/// What a connection asks of a room; the writer answers each in its batch's transaction.
public enum RoomChange: Sendable, Equatable {
    case join(room: String, connectionID: ConnectionID, userID: String, state: JSONValue)
    case setState(room: String, connectionID: ConnectionID, state: JSONValue)
    case leave(room: String, connectionID: ConnectionID)

    public var room: String {
        switch self {
        case .join(let room, _, _, _), .setState(let room, _, _), .leave(let room, _): room
        }
    }

    public var connectionID: ConnectionID {
        switch self {
        case .join(_, let id, _, _), .setState(_, let id, _), .leave(_, let id): id
        }
    }
}

/// A room in a listing: how many connections are in it now, and its version.
public struct RoomSummary: Sendable, Equatable, Codable {
    public let room: String
    public let members: Int
    public let version: Int64

    public init(room: String, members: Int, version: Int64) {
        self.room = room
        self.members = members
        self.version = version
    }
}
