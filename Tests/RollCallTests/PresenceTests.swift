import Foundation
import RollCall
import Testing

@Suite("Presence values", .timeLimit(.minutes(5)))
struct PresenceTests {
    @Test("the presence rule: a flip of online is a transition, online with no connection is a grace, the rest is nothing")
    func rule() {
        let now = Date()
        func outcome(_ flipped: Bool, _ online: Bool, _ connections: Int) -> CounterChange.Outcome {
            CounterChange(userID: "a", flipped: flipped, online: online, connections: connections, version: 7).outcome(at: now)
        }
        #expect(outcome(true, true, 1) == .transition(PresenceTransition(userID: "a", online: true, version: 7, at: now, connections: 1)))
        #expect(outcome(true, true, 3) == .transition(PresenceTransition(userID: "a", online: true, version: 7, at: now, connections: 3)))
        #expect(outcome(true, false, 0) == .transition(PresenceTransition(userID: "a", online: false, version: 7, at: now, connections: 0)))
        #expect(outcome(false, true, 0) == .graceStarted, "last tab closed, grace running")
        #expect(outcome(false, true, 2) == .unchanged, "one tab of three closed")
        #expect(outcome(false, false, 0) == .unchanged, "a close of a row that was already purged")
    }

    @Test("notification payloads stay under PostgreSQL's 8000 bytes and keep every event in order")
    func chunking() throws {
        let at = Date(timeIntervalSince1970: 1_800_000_000)
        let events = (0..<500).map { index in
            PresenceTransition(
                userID: "user-\(index)-" + String(repeating: "é", count: index % 40), online: index % 2 == 0, version: Int64(index), at: at,
                connections: index % 3)
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
        let small = ConnectionEvent(
            event: .opened, connectionID: ConnectionID(), userID: "ann", serverID: "hub", userAgent: "curl", at: at, reason: nil)
        let huge = ConnectionEvent(
            event: .closed, connectionID: ConnectionID(), userID: "bob", serverID: "hub",
            userAgent: "a" + String(repeating: "\u{0301}", count: 4000), at: at, reason: .clientClosed)
        let transition = PresenceTransition(userID: "bob", online: false, version: 2, at: at, connections: 0)
        let payloads = PresenceNotification.payloads(server: "hub", events: [transition], connections: [small, huge, small])
        #expect(payloads.allSatisfy { $0.utf8.count <= NotifyPayloads.limit })
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

@Suite("Client strings limited in bytes", .timeLimit(.minutes(5)))
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
