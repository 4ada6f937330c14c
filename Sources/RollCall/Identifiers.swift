import Foundation

/// One WebSocket connection, one row: the id the hub makes when it accepts a socket.
public struct ConnectionID: Hashable, Sendable, Codable, CustomStringConvertible {
    public let uuid: UUID

    public init(_ uuid: UUID = UUID()) { self.uuid = uuid }

    public init?(_ string: String) {
        guard let uuid = UUID(uuidString: string) else { return nil }
        self.uuid = uuid
    }

    public var description: String { uuid.uuidString.lowercased() }

    public init(from decoder: any Decoder) throws {
        let string = try decoder.singleValueContainer().decode(String.self)
        guard let id = ConnectionID(string) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not a UUID: \(string)"))
        }
        self = id
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// Why a connection row was closed (`connections.close_reason`).
public enum CloseReason: String, Sendable, Codable, CaseIterable {
    case clientClosed = "client_closed"
    case timeout
    case serverShutdown = "server_shutdown"
    case serverRestart = "server_restart"
    case orphaned
    case kicked
    case protocolError = "protocol_error"
}
