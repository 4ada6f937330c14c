import Crypto
import Foundation
import RollCall
import RollCallPostgres
import RollCallTestSupport
import Testing

/// Webhooks from the outbox to a real receiver on loopback (shared/DESIGN.md §11).
@Suite("Webhooks", .timeLimit(.minutes(5)))
struct WebhookTests {
    static let secret = "a-webhook-secret-of-at-least-32-bytes!"

    static func hub(_ url: String, serverID: String = "hub-w", timeout: Duration = .seconds(5)) -> HubConfiguration {
        var configuration = TestHub.configuration(serverID: serverID)
        configuration.webhooks = try! WebhookSettings.validated(url: url, secret: secret, timeout: timeout, maxAge: .seconds(3600)).get()
        return configuration
    }

    /// What a receiver checks: the HMAC of "<t>.<body>" with the secret, and a `t` at most 5 minutes old.
    static func verified(_ received: WebhookReceiver.Received, secret: String = secret, now: Date = Date()) -> Bool {
        guard let header = received.signature else { return false }
        let parts = Dictionary(
            header.split(separator: ",").compactMap { part -> (String, String)? in
                let pair = part.split(separator: "=", maxSplits: 1)
                return pair.count == 2 ? (String(pair[0]), String(pair[1])) : nil
            }, uniquingKeysWith: { first, _ in first })
        guard let t = parts["t"], let seconds = Double(t), let v1 = parts["v1"], abs(now.timeIntervalSince1970 - seconds) < 300 else { return false }
        let mac = HMAC<SHA256>.authenticationCode(for: Data("\(t).\(received.body)".utf8), using: SymmetricKey(data: Data(secret.utf8)))
        return mac.map { String(format: "%02x", $0) }.joined() == v1
    }

    @Test("a receiver hears every online and offline once, signed, each user's in order")
    func delivered() async throws {
        let receiver = WebhookReceiver()
        try await receiver.run { url in
            try await withTestDatabase { database in
                try await TestHub.run(Self.hub(url), database: database) { hub in
                    let ann = try await hub.connect("ann")
                    let bob = try await hub.connect("bob")
                    try await ann.close()
                    try await bob.close()
                    // Delivered is recorded after the receiver's answer: wait for the rows, not the requests.
                    try await eventually(timeout: .seconds(30), "four webhooks recorded as delivered") {
                        try await sql(database, "SELECT count(*)::int FROM rollcall.webhook_deliveries WHERE status = 'delivered'", as: Int.self) == [
                            4
                        ]
                    }
                    // The dashboard's view of it: nothing pending, the hour's four delivered, newest first.
                    #expect(try await hub.get("/v1/webhooks", token: try await hub.token("bob")).status == 403)
                    #expect(try await hub.get("/v1/webhooks?limit=0", token: try await hub.token("root", admin: true)).status == 400)
                    let answer = try await hub.get("/v1/webhooks?limit=3", token: try await hub.token("root", admin: true))
                    let body = try JSONParser.parse(answer.body)
                    #expect(answer.status == 200, "\(answer.body)")
                    #expect(body["delivering"] == .bool(true) && body["pending"] == .number(0))
                    #expect(answer.body.contains(#""oldest_pending_at":null"#))
                    #expect(
                        body["written_last_hour"] == .number(4) && body["delivered_last_hour"] == .number(4) && body["failed_last_day"] == .number(0))
                    guard case .array(let recent)? = body["recent"] else { throw ExplainedFailure(description: answer.body) }
                    let text = { (value: JSONValue?) -> String in if case .string(let text)? = value { text } else { "-" } }
                    #expect(
                        recent.map { "\(text($0["type"])) \(text($0["user_id"])) \(text($0["status"]))" } == [
                            "user.offline bob delivered", "user.offline ann delivered", "user.online bob delivered",
                        ])
                }
                let received = receiver.received
                #expect(received.count == 4, "each once: \(received.map(\.body))")
                #expect(received.allSatisfy { Self.verified($0) })
                #expect(!Self.verified(received[0], secret: Self.secret + "x"), "a forged signature is refused")
                #expect(!Self.verified(received[0], now: Date().addingTimeInterval(600)), "a stale one too")
                let events = try receiver.events().map(\.description)
                for user in ["ann", "bob"] {
                    #expect(events.filter { $0.hasSuffix(" \(user)") } == ["user.online \(user)", "user.offline \(user)"])
                }
                #expect(
                    try await sql(database, "SELECT status FROM rollcall.webhook_deliveries", as: String.self)
                        == Array(repeating: "delivered", count: 4))
            }
        }
    }

    @Test("a receiver that answers 500 for a while still gets every event once (by id), each user's in order")
    func retriedThroughFailures() async throws {
        let receiver = WebhookReceiver()
        receiver.fail(next: 3)
        try await receiver.run { url in
            try await withTestDatabase { database in
                try await TestHub.run(Self.hub(url), database: database) { hub in
                    for user in ["ann", "bob", "cat"] {
                        let socket = try await hub.connect(user)
                        try await socket.close()
                    }
                    try await eventually(timeout: .seconds(60), "every webhook delivered") {
                        try await sql(database, "SELECT count(*)::int FROM rollcall.webhook_deliveries WHERE status = 'delivered'", as: Int.self) == [
                            6
                        ]
                    }
                }
                let events = try receiver.events().map(\.description)
                #expect(events.count == 6, "\(events)")
                for user in ["ann", "bob", "cat"] {
                    #expect(events.filter { $0.hasSuffix(" \(user)") } == ["user.online \(user)", "user.offline \(user)"])
                }
                let errors = try await sql(
                    database, "SELECT count(*)::int FROM rollcall.webhook_deliveries WHERE attempts > 1", as: Int.self)
                #expect(errors.first ?? 0 >= 1, "some were retried")
            }
        }
    }

    @Test("a receiver that hangs costs the hub only pending rows: sockets and presence go on, and every event arrives once it answers")
    func hungReceiver() async throws {
        let receiver = WebhookReceiver()
        // Past the hub's 5 s timeout. The receiver lives in this busy test process: under a full
        // run, WebhookCrashTests saw it take over a second for ordinary answers.
        receiver.hang(next: 2, for: .seconds(10))
        try await receiver.run { url in
            try await withTestDatabase { database in
                try await TestHub.run(Self.hub(url), database: database) { hub in
                    let (watcher, _) = try await hub.watch((0..<10).map { "user-\($0)" })
                    // While the first POSTs hang, ten users come and go; the watcher hears each.
                    for index in 0..<10 {
                        let socket = try await hub.connect("user-\(index)")
                        try await socket.close()
                    }
                    let heard = try await watcher.frames(until: { $0.transition.map { $0.userID == "user-9" && !$0.online } ?? false })
                    #expect(heard.compactMap(\.transition).count == 20)
                    try await watcher.close()
                    try await eventually(timeout: .seconds(60), "every webhook delivered") {
                        try await sql(database, "SELECT count(*)::int FROM rollcall.webhook_deliveries WHERE status = 'delivered'", as: Int.self) == [
                            22
                        ]
                    }
                }
                // watcher's own online and offline are events too: 11 users, 22 events, each once by id.
                let events = try receiver.events().map(\.description)
                #expect(events.count == 22, "\(events)")
                for index in 0..<10 {
                    #expect(events.filter { $0.hasSuffix(" user-\(index)") } == ["user.online user-\(index)", "user.offline user-\(index)"])
                }
            }
        }
    }
}
