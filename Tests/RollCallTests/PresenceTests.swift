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

    @Test("a piece too large for any payload is left out; the rest still go, none over the limit")
    func oversizedPiece() throws {
        let at = Date(timeIntervalSince1970: 1_800_000_000)
        let small = ConnectionEvent(event: .opened, connectionID: ConnectionID(), userID: "ann", serverID: "hub", userAgent: "curl", at: at, reason: nil)
        let huge = ConnectionEvent(
            event: .closed, connectionID: ConnectionID(), userID: "bob", serverID: "hub",
            userAgent: "a" + String(repeating: "\u{0301}", count: 4000), at: at, reason: .clientClosed)
        let transition = PresenceTransition(userID: "bob", online: false, version: 2, at: at, connections: 0)
        let payloads = PresenceNotification.payloads(server: "hub", events: [transition], connections: [small, huge, small])
        #expect(payloads.allSatisfy { $0.utf8.count <= PresenceNotification.payloadLimit })
        let decoded = try payloads.map(PresenceNotification.decode)
        #expect(decoded.flatMap(\.events) == [transition])
        #expect(decoded.flatMap(\.connections) == [small, small])
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

@Suite("Client strings limited in bytes")
struct TruncationTests {
    @Test("a character with thousands of combining marks is cut in UTF-8 bytes, at a scalar boundary")
    func combiningMarks() {
        let agent = "a" + String(repeating: "\u{0301}", count: 4000)
        #expect(agent.count == 1)
        let cut = agent.truncated(toUTF8Bytes: 512)
        #expect(cut.utf8.count <= 512 && cut.utf8.count >= 511)
        #expect(agent.unicodeScalars.starts(with: cut.unicodeScalars))
        #expect("日本語".truncated(toUTF8Bytes: 7) == "日本")
        #expect("short".truncated(toUTF8Bytes: 512) == "short")
    }
}
