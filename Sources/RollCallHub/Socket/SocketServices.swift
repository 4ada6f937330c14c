import Foundation
import RollCall
import RollCallPostgres

/// What a socket's session and frame handler use, and nothing else of the hub. One shared
/// object: every socket's frames hold a reference to it rather than a copy of its fields.
final class SocketServices: Sendable {
    let settings: SocketSettings
    let writer: RegistryWriter
    let reader: RegistryReader
    let sockets: LiveSockets
    let watchers: WatchIndex
    let rooms: RoomIndex
    let metrics: HubMetrics
    let contact: DatabaseContact

    init(
        settings: SocketSettings, writer: RegistryWriter, reader: RegistryReader, sockets: LiveSockets, watchers: WatchIndex,
        rooms: RoomIndex, metrics: HubMetrics, contact: DatabaseContact
    ) {
        self.settings = settings
        self.writer = writer
        self.reader = reader
        self.sockets = sockets
        self.watchers = watchers
        self.rooms = rooms
        self.metrics = metrics
        self.contact = contact
    }

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
