import Foundation
import RollCall
import Testing

@Suite("What one socket is told", .timeLimit(.minutes(5)))
struct SubscriberStateTests {
    let at = Date(timeIntervalSince1970: 1_800_000_000)

    func transition(_ user: String, _ online: Bool, _ version: Int64) -> PresenceTransition {
        PresenceTransition(userID: user, online: online, version: version, at: at, connections: online ? 1 : 0)
    }

    func presence(_ user: String, _ online: Bool, _ version: Int64) -> UserPresence {
        UserPresence(userID: user, online: online, connections: online ? 1 : 0, onlineSince: online ? at : nil, lastSeenAt: at, version: version)
    }

    func versions(_ frames: [ServerFrame]) -> [String] {
        frames.map { frame in
            switch frame {
            case .snapshot(_, let users): "snapshot " + users.map { "\($0.userID)@\($0.version)" }.joined(separator: ",")
            case .presence(let t): "\(t.userID)@\(t.version)"
            default: "other"
            }
        }
    }

    @Test("the snapshot comes first; transitions that raced it are kept only if newer")
    func snapshotFirst() {
        var state = SubscriberState()
        #expect(state.handle(.subscribing(["bob"])).isEmpty)
        #expect(state.handle(.transition(transition("bob", true, 3))).isEmpty)
        #expect(state.handle(.transition(transition("bob", false, 4))).isEmpty)
        let frames = state.handle(.snapshot(id: nil, [presence("bob", true, 3)]))
        #expect(versions(frames) == ["snapshot bob@3", "bob@4"])
    }

    @Test("a repeated or older transition is dropped")
    func noDuplicates() {
        var state = SubscriberState()
        _ = state.handle(.subscribing(["bob"]))
        _ = state.handle(.snapshot(id: nil, [presence("bob", false, 2)]))
        let frames = [5, 5, 4, 6].flatMap { state.handle(.transition(transition("bob", $0 % 2 == 1, Int64($0)))) }
        #expect(versions(frames) == ["bob@5", "bob@6"])
    }

    @Test("users nobody subscribed to are not delivered; unsubscribing stops delivery")
    func onlyWatched() {
        var state = SubscriberState()
        _ = state.handle(.subscribing(["bob"]))
        _ = state.handle(.snapshot(id: nil, [presence("bob", false, 0)]))
        #expect(state.handle(.transition(transition("eve", true, 1))).isEmpty)
        _ = state.handle(.unsubscribe(["bob"]))
        #expect(state.handle(.transition(transition("bob", true, 1))).isEmpty)
        #expect(state.watchedUsers.isEmpty)
    }

    @Test("after a LISTEN outage, a resync tells only what is newer")
    func resync() {
        var state = SubscriberState()
        _ = state.handle(.subscribing(["bob", "ann"]))
        _ = state.handle(.snapshot(id: nil, [presence("bob", true, 1), presence("ann", true, 1)]))
        let frames = state.handle(.resync(presence("bob", false, 2))) + state.handle(.resync(presence("ann", true, 1)))
        #expect(versions(frames) == ["bob@2"])
        #expect(state.handle(.transition(transition("bob", false, 2))).isEmpty)
    }

    @Test("the all feed buffers until its snapshot, then sees every user and connection")
    func allFeed() {
        var state = SubscriberState()
        _ = state.handle(.subscribingAll)
        let event = ConnectionEvent(event: .opened, connectionID: ConnectionID(), userID: "zed", serverID: "a", userAgent: nil, at: at, reason: nil)
        #expect(state.handle(.connection(event)).isEmpty)
        #expect(state.handle(.transition(transition("zed", true, 1))).isEmpty)
        let frames = state.handle(.snapshotAll(id: nil, [presence("amy", true, 4)]))
        #expect(frames.count == 3)
        #expect(versions(frames) == ["snapshot amy@4", "other", "zed@1"])
        #expect(state.watchesAll)
        _ = state.handle(.unsubscribeAll)
        #expect(state.handle(.transition(transition("zed", false, 2))).isEmpty)
    }
}
