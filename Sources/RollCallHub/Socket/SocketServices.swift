import Foundation
import RollCall
import RollCallPostgres

/// What a socket's session and frame handler use, and nothing else of the hub.
struct SocketServices: Sendable {
    let settings: SocketSettings
    let writer: RegistryWriter
    let reader: RegistryReader
    let sockets: LiveSockets
    let watchers: WatchIndex
    let metrics: HubMetrics
    let contact: DatabaseContact

    /// Whether the database takes writes: the heartbeat answers and the last batch went through.
    var databaseAvailable: Bool { contact.isAvailable }
}

/// The parts of the hub's configuration a socket reads.
struct SocketSettings: Sendable {
    let serverID: String
    let pingInterval: Duration
    let maxUserAgentBytes: Int
    let maxOutboundBytes: Int
    let maxFrameBytes: Int
    let maxMessageBytes: Int
    let maxBadFrames: Int

    init(_ configuration: HubConfiguration) {
        serverID = configuration.serverID
        pingInterval = configuration.pingInterval
        maxUserAgentBytes = configuration.maxUserAgentBytes
        maxOutboundBytes = configuration.maxOutboundBytes
        maxFrameBytes = configuration.maxFrameBytes
        maxMessageBytes = configuration.maxMessageBytes
        maxBadFrames = configuration.maxBadFrames
    }
}
