import Foundation

/// A connection opened or closed on some hub: what the admin `all` feed shows.
public struct ConnectionEvent: Sendable, Equatable {
    public enum Kind: String, Sendable { case opened, closed }

    public let event: Kind
    public let connectionID: ConnectionID
    public let userID: String
    public let serverID: String
    public let userAgent: String?
    public let at: Date
    public let reason: CloseReason?

    public init(event: Kind, connectionID: ConnectionID, userID: String, serverID: String, userAgent: String?, at: Date, reason: CloseReason?) {
        self.event = event
        self.connectionID = connectionID
        self.userID = userID
        self.serverID = serverID
        self.userAgent = userAgent
        self.at = at
        self.reason = reason
    }
}
