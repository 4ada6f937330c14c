import Foundation
import RollCall
import Testing

@Suite("Presence values")
struct PresenceTests {
    @Test("a counter change is a transition only when it crosses zero")
    func transitions() {
        let now = Date()
        #expect(CounterChange(userID: "a", before: 0, after: 1, version: 1).transition(at: now)?.online == true)
        #expect(CounterChange(userID: "a", before: 0, after: 3, version: 5).transition(at: now)?.online == true)
        #expect(CounterChange(userID: "a", before: 1, after: 0, version: 2).transition(at: now)?.online == false)
        #expect(CounterChange(userID: "a", before: 2, after: 1, version: 1).transition(at: now) == nil)
        #expect(CounterChange(userID: "a", before: 1, after: 2, version: 1).transition(at: now) == nil)
    }

    @Test("notification payloads stay under PostgreSQL's 8000 bytes and keep every event in order")
    func chunking() throws {
        let at = Date(timeIntervalSince1970: 1_800_000_000)
        let events = (0..<500).map { index in
            PresenceTransition(userID: "user-\(index)-" + String(repeating: "é", count: index % 40), online: index % 2 == 0, version: Int64(index), at: at, connections: index % 3)
        }
        let payloads = PresenceNotification.payloads(server: "hub \"one\"", events: events)
        #expect(payloads.count > 1)
        #expect(payloads.allSatisfy { $0.utf8.count < 8000 })
        let decoded = try payloads.map(PresenceNotification.decode)
        #expect(decoded.allSatisfy { $0.server == "hub \"one\"" })
        #expect(decoded.flatMap(\.events) == events)
    }

    @Test("no events, no payload")
    func empty() {
        #expect(PresenceNotification.payloads(server: "hub", events: []).isEmpty)
    }

    @Test("a token may watch itself, its watch list, or anyone without one; admins see all")
    func watching() {
        let open = Identity(userID: "ann")
        let limited = Identity(userID: "ann", watchable: ["bob"])
        let admin = Identity(userID: "ops", isAdmin: true, watchable: [])
        #expect(open.mayWatch("zed"))
        #expect(limited.mayWatch("bob") && limited.mayWatch("ann") && !limited.mayWatch("zed"))
        #expect(admin.mayWatch("zed") && admin.mayInspect("zed"))
        #expect(open.mayInspect("ann") && !open.mayInspect("bob"))
    }
}
