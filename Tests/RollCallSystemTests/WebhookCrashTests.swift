import Foundation
import RollCall
import RollCallPostgres
import RollCallTestSupport
import Testing

@Suite("Webhooks through crashes", .timeLimit(.minutes(3)))
struct WebhookCrashTests {
    static let secret = "a-webhook-secret-of-at-least-32-bytes!"

    /// Each received event as "type user", deduplicated by id, in arrival order.
    static func events(_ received: [WebhookReceiver.Received]) throws -> [String] {
        var seen: Set<String> = []
        return try received.compactMap { item in
            let body = try JSONParser.parse(item.body)
            guard case .string(let id)? = body["id"], seen.insert(id).inserted, case .string(let type)? = body["type"],
                case .string(let user)? = body["user_id"]
            else { return nil }
            return "\(type) \(user)"
        }
    }

    @Test(
        "kill -9 of the delivering hub mid-POST: the other hub sends what it held once its lease runs out, then the purge's offline; each once by id, in order"
    )
    func deliveringHubKilled() async throws {
        let receiver = WebhookReceiver()
        receiver.hang(next: 1)
        try await receiver.run { url in
            try await withTestDatabase { database in
                let options = HubProcess.fast + ["--webhook-url", url, "--webhook-secret", Self.secret, "--webhook-timeout", "1s"]
                let authority = try await TestTokens.authority()
                let a = try await HubProcess.serve(database: database, serverID: "hook-a", extra: options)
                defer { a.signal(SIGKILL) }
                _ = try await a.connect("kim", authority: authority)
                // Hub A has leased kim's online and is waiting for the receiver's answer.
                try await eventually(timeout: .seconds(30), "hub A's POST to arrive") { !receiver.received.isEmpty }
                a.signal(SIGKILL)
                _ = try await a.waitForExit()

                let b = try await HubProcess.serve(database: database, serverID: "hook-b", extra: options)
                defer { b.signal(SIGKILL) }
                try await eventually(timeout: .seconds(60), "both of kim's webhooks delivered") {
                    try await sql(database, "SELECT count(*)::int FROM rollcall.webhook_deliveries WHERE status = 'delivered'", as: Int.self) == [2]
                }
                #expect(try Self.events(receiver.received) == ["user.online kim", "user.offline kim"])
                #expect(receiver.received.count >= 3, "kim's online came twice (at least once): \(receiver.received.map(\.body))")
                b.signal(SIGTERM)
                #expect(try await b.waitForExit(timeout: .seconds(60)) == 0, "\(b.log.suffix(2000))")
            }
        }
    }
}
