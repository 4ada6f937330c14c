import Foundation

/// One webhook: a transition another service hears of by HTTP (shared/DESIGN.md §11). Written to
/// the outbox in the transaction of the transition it reports, so there is never one without the
/// other; its `id` is what a receiver dedupes by.
public struct WebhookEvent: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        case userOnline = "user.online"
        case userOffline = "user.offline"
        case roomJoined = "room.joined"
        case roomLeft = "room.left"
    }

    public let id: UUID
    public let kind: Kind
    public let userID: String
    /// The JSON object POSTed: `{"id","type","user_id","at","version",...}`, keys sorted.
    public let body: String

    /// The webhook of a user's transition: `version` is the user's, `connections` theirs after it.
    public init(id: UUID = UUID(), transition: PresenceTransition) {
        self.init(
            id: id, kind: transition.online ? .userOnline : .userOffline, userID: transition.userID, at: transition.at,
            version: transition.version, own: ["connections": .number(JSONNumber(transition.connections))])
    }

    /// The webhook of a join or a leave (a state change has none): `version` is the room's.
    public init?(id: UUID = UUID(), roomEvent event: RoomEvent) {
        let kind: Kind
        switch event.event {
        case .joined: kind = .roomJoined
        case .left: kind = .roomLeft
        case .updated: return nil
        }
        var own: [String: JSONValue] = [
            "room": .string(event.room), "connection_id": .string(event.connectionID.description), "state": event.state,
        ]
        if let reason = event.reason { own["reason"] = .string(reason.rawValue) }
        self.init(id: id, kind: kind, userID: event.userID, at: event.at, version: event.version, own: own)
    }

    private init(id: UUID, kind: Kind, userID: String, at: Date, version: Int64, own: [String: JSONValue]) {
        self.id = id
        self.kind = kind
        self.userID = userID
        let common: [String: JSONValue] = [
            "id": .string(id.uuidString.lowercased()), "type": .string(kind.rawValue), "user_id": .string(userID),
            "at": .string(RollCallJSON.format(at)), "version": .number(JSONNumber(version)),
        ]
        body = JSONValue.object(common.merging(own) { first, _ in first }).json
    }
}
