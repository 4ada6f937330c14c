import Foundation

/// The payload of `NOTIFY rollcall_presence`: one hub's batch of transitions, the connection
/// events of the same batch (for admin feeds), and its room events.
public struct PresenceNotification: Sendable, Equatable {
    public let server: String
    public let events: [PresenceTransition]
    public let connections: [ConnectionEvent]
    public let rooms: [RoomEvent]

    public init(server: String, events: [PresenceTransition], connections: [ConnectionEvent] = [], rooms: [RoomEvent] = []) {
        self.server = server
        self.events = events
        self.connections = connections
        self.rooms = rooms
    }

    enum Key: String { case connections, events, rooms, server }

    /// The batch as JSON payloads, each under `limit` bytes, order kept.
    public static func payloads(
        server: String, events: [PresenceTransition], connections: [ConnectionEvent] = [], rooms: [RoomEvent] = [],
        limit: Int = NotifyPayloads.limit
    ) -> [String] {
        var serverText = JSONWriter()
        serverText.string(server)
        return NotifyPayloads.pack(
            fixed: [(Key.server.rawValue, serverText.text)],
            arrays: [
                (Key.events.rawValue, events.map(\.json)), (Key.connections.rawValue, connections.map(\.json)),
                (Key.rooms.rawValue, rooms.map(\.json)),
            ],
            limit: limit)
    }

    public static func decode(_ payload: String) throws -> PresenceNotification {
        let notification = try JSONParser.parse(payload)
        return PresenceNotification(
            server: try notification.string(Key.server),
            events: try notification.array(Key.events).map { try PresenceTransition(json: $0, inFrame: false) },
            connections: try notification.array(Key.connections).map(ConnectionEvent.init(json:)),
            rooms: try notification.array(Key.rooms).map(RoomEvent.init(json:)))
    }
}
