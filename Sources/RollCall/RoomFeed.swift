/// What one socket hears of the rooms it is in.
///
/// Turns joins, snapshots and room events heard from any hub into the frames that socket gets: a
/// room's snapshot first, then each of its events once, in version order, never one the snapshot
/// already holds; nothing of a room once the socket has asked to leave it (unless the leave
/// fails). Pure: the session feeds it and sends what it returns.
public struct RoomFeed: Sendable {
    public enum Input: Sendable {
        /// The hub registered the socket as a member of `room` and is writing its join: events
        /// heard meanwhile wait for the snapshot.
        case joining(String)
        case joined(id: RequestID?, RoomSnapshot)
        /// The join was refused or failed; the room is forgotten (unless the socket was in it).
        case joinFailed(String)
        /// The socket asked to leave: the room's events wait for the answer.
        case leaving(String)
        /// Left: what waited is dropped, and nothing more of the room is sent.
        case left(String)
        /// Still in the room (the leave failed): what waited is sent.
        case leaveFailed(String)
        case event(RoomEvent)
    }

    /// Rooms being joined: their events heard before the snapshot.
    private var pending: [String: [RoomEvent]] = [:]
    /// Rooms being left: their events heard before the answer.
    private var leaving: [String: [RoomEvent]] = [:]
    /// Rooms joined: the newest version this socket has been told.
    private var versions: [String: Int64] = [:]

    public init() {}

    /// Rooms this socket is in or joining (the hub's index forgets them when the socket ends).
    public var rooms: Set<String> { Set(versions.keys).union(pending.keys) }

    public mutating func handle(_ input: Input) -> [ServerFrame] {
        switch input {
        case .joining(let room):
            if versions[room] == nil { pending[room] = pending[room] ?? [] }
            return []
        case .joined(let id, let snapshot):
            var frames: [ServerFrame] = [.room(id: id, snapshot)]
            versions[snapshot.room] = max(versions[snapshot.room] ?? 0, snapshot.version)
            for event in pending.removeValue(forKey: snapshot.room) ?? [] {
                frames += deliver(event)
            }
            return frames
        case .joinFailed(let room):
            pending[room] = nil
            return []
        case .leaving(let room):
            if versions[room] != nil { leaving[room] = leaving[room] ?? [] }
            return []
        case .left(let room):
            versions[room] = nil
            pending[room] = nil
            leaving[room] = nil
            return []
        case .leaveFailed(let room):
            return (leaving.removeValue(forKey: room) ?? []).flatMap { deliver($0) }
        case .event(let event):
            if pending[event.room] != nil {
                pending[event.room]?.append(event)
                return []
            }
            if leaving[event.room] != nil {
                leaving[event.room]?.append(event)
                return []
            }
            return deliver(event)
        }
    }

    private mutating func deliver(_ event: RoomEvent) -> [ServerFrame] {
        guard let known = versions[event.room], event.version > known else { return [] }
        versions[event.room] = event.version
        return [.roomEvent(event)]
    }
}
