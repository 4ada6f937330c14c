import Foundation

/// One row of `rollcall.connections`: a connection, open or in history.
public struct ConnectionRecord: Sendable, Equatable, Codable {
    public let connectionID: ConnectionID
    public let userID: String
    public let serverID: String
    public let userAgent: String?
    public let remoteAddress: String?
    public let createdAt: Date
    public let connected: Bool
    public let disconnectedAt: Date?
    public let closeReason: CloseReason?

    public init(
        connectionID: ConnectionID, userID: String, serverID: String, userAgent: String?, remoteAddress: String?,
        createdAt: Date, connected: Bool, disconnectedAt: Date?, closeReason: CloseReason?
    ) {
        self.connectionID = connectionID
        self.userID = userID
        self.serverID = serverID
        self.userAgent = userAgent
        self.remoteAddress = remoteAddress
        self.createdAt = createdAt
        self.connected = connected
        self.disconnectedAt = disconnectedAt
        self.closeReason = closeReason
    }

    enum CodingKeys: String, CodingKey {
        case connectionID = "connection_id", userID = "user_id", serverID = "server_id", userAgent = "user_agent"
        case remoteAddress = "remote_addr", createdAt = "created_at", connected
        case disconnectedAt = "disconnected_at", closeReason = "close_reason"
    }
}

/// What a hub knows of a socket it accepts, before the row exists.
public struct NewConnection: Sendable, Equatable {
    public let connectionID: ConnectionID
    public let userID: String
    public let userAgent: String?
    /// An IP address in text form, or nil when the peer has none (a unix socket).
    public let remoteAddress: String?

    public init(connectionID: ConnectionID = ConnectionID(), userID: String, userAgent: String?, remoteAddress: String?) {
        self.connectionID = connectionID
        self.userID = userID
        self.userAgent = userAgent
        self.remoteAddress = remoteAddress
    }
}

/// One row of `rollcall.servers`.
public struct ServerRecord: Sendable, Equatable, Codable {
    public let serverID: String
    public let startedAt: Date
    public let heartbeatAt: Date
    public let stoppedAt: Date?
    public let version: String
    public let host: String
    public let openConnections: Int

    public init(serverID: String, startedAt: Date, heartbeatAt: Date, stoppedAt: Date?, version: String, host: String, openConnections: Int) {
        self.serverID = serverID
        self.startedAt = startedAt
        self.heartbeatAt = heartbeatAt
        self.stoppedAt = stoppedAt
        self.version = version
        self.host = host
        self.openConnections = openConnections
    }

    enum CodingKeys: String, CodingKey {
        case serverID = "server_id", startedAt = "started_at", heartbeatAt = "heartbeat_at", stoppedAt = "stopped_at"
        case version, host, openConnections = "open_connections"
    }
}
