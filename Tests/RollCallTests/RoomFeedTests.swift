import Foundation
import RollCall
import Testing

@Suite("A socket's rooms", .timeLimit(.minutes(5)))
struct RoomFeedTests {
    let ann = ConnectionID(), bob = ConnectionID()
    let now = Date(timeIntervalSince1970: 1_796_083_200)

    func event(_ kind: RoomEvent.Kind, _ version: Int64, room: String = "doc-1") -> RoomEvent {
        RoomEvent(room: room, event: kind, connectionID: bob, userID: "bob", state: .object([:]), version: version, at: now)
    }

    @Test("a join's snapshot comes first; events heard before it are sent after it, those it holds never")
    func snapshotFirst() {
        var feed = RoomFeed()
        #expect(feed.handle(.joining("doc-1")).isEmpty)
        #expect(feed.handle(.event(event(.joined, 4))).isEmpty)
        #expect(feed.handle(.event(event(.updated, 5))).isEmpty)
        let snapshot = RoomSnapshot(room: "doc-1", version: 4, members: [])
        let frames = feed.handle(.joined(id: .string("j"), snapshot))
        #expect(frames.map(\.kind) == [.room, .roomEvent])
        #expect(frames.last == .roomEvent(event(.updated, 5)))
        #expect(feed.handle(.event(event(.updated, 5))).isEmpty, "heard twice, sent once")
        #expect(feed.handle(.event(event(.updated, 6))) == [.roomEvent(event(.updated, 6))])
        #expect(feed.handle(.event(event(.updated, 1, room: "doc-2"))).isEmpty, "not a room of this socket")
        #expect(feed.rooms == ["doc-1"])
    }

    @Test("once a leave is asked, nothing more of the room is sent; if the leave fails, what waited is")
    func leaving() {
        var feed = RoomFeed()
        _ = feed.handle(.joining("doc-1"))
        _ = feed.handle(.joined(id: nil, RoomSnapshot(room: "doc-1", version: 1, members: [])))
        _ = feed.handle(.leaving("doc-1"))
        #expect(feed.handle(.event(event(.updated, 2))).isEmpty)
        #expect(feed.handle(.leaveFailed("doc-1")) == [.roomEvent(event(.updated, 2))])
        _ = feed.handle(.leaving("doc-1"))
        #expect(feed.handle(.event(event(.left, 3))).isEmpty)
        #expect(feed.handle(.left("doc-1")).isEmpty)
        #expect(feed.handle(.event(event(.joined, 4))).isEmpty)
        #expect(feed.rooms.isEmpty)
    }

    @Test("a refused join forgets the room and what it heard")
    func joinFailed() {
        var feed = RoomFeed()
        _ = feed.handle(.joining("doc-1"))
        _ = feed.handle(.event(event(.joined, 1)))
        #expect(feed.handle(.joinFailed("doc-1")).isEmpty)
        #expect(feed.handle(.event(event(.updated, 2))).isEmpty)
        #expect(feed.rooms.isEmpty)
    }
}
