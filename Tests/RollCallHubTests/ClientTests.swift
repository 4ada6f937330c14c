import Foundation
import RollCall
@testable import RollCallClient
import RollCallTestSupport
import Synchronization
import Testing

/// `RollCallClient` against a real hub: what an app using the library sees.
@Suite("The Swift client", .timeLimit(.minutes(5)))
struct ClientTests {
    /// Every event a client produced, in order, for a test to wait on.
    final class EventLog: Sendable {
        private let events = Mutex<[RollCallClient.Event]>([])

        func append(_ event: RollCallClient.Event) { events.withLock { $0.append(event) } }
        var all: [RollCallClient.Event] { events.withLock { $0 } }

        /// Waits until `count` events satisfy `matching`.
        func wait(for what: String, count: Int = 1, _ matching: @escaping (RollCallClient.Event) -> Bool) async throws {
            try await eventually(what) { all.filter(matching).count >= count }
        }
    }

    /// Runs a client while `body` runs, then closes it and waits for `run()` to return.
    static func withClient<T: Sendable>(
        _ hub: TestHub, token: @escaping @Sendable () async throws -> String,
        _ body: @Sendable (RollCallClient, EventLog) async throws -> T
    ) async throws -> T {
        let client = RollCallClient(
            url: URL(string: hub.webSocketURL)!, backoff: .init(initial: .milliseconds(50), maximum: .milliseconds(200)), token: token)
        let log = EventLog()
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await client.run() }
            group.addTask { for await event in client.events { log.append(event) } }
            do {
                try await log.wait(for: "the client to connect") { if case .connected = $0 { true } else { false } }
                let result = try await body(client, log)
                await client.close()
                try await group.waitForAll()
                return result
            } catch {
                await client.close()
                try? await group.waitForAll()
                throw error
            }
        }
    }

    static func isConnected(_ event: RollCallClient.Event) -> Bool {
        if case .connected = event { true } else { false }
    }

    @Test("subscribe returns the snapshot, presence arrives as events, send is acknowledged and delivered")
    func basics() async throws {
        try await withTestDatabase { database in
            try await TestHub.run(database: database) { hub in
                try await Self.withClient(hub, token: { try await hub.token("amber") }) { amber, amberLog in
                    let snapshot = try await amber.subscribe(["basil"])
                    #expect(snapshot.map(\.online) == [false])
                    try await Self.withClient(hub, token: { try await hub.token("basil") }) { basil, basilLog in
                        try await amberLog.wait(for: "basil online") { Self.transition(of: $0, "basil", online: true) != nil }
                        try await basil.send(.object(["text": .string("hi amber")]), to: "amber")
                        try await amber.send(.string("hi basil"), to: "basil")
                        try await amberLog.wait(for: "basil's message") {
                            if case .frame(.message("basil", .object(["text": .string("hi amber")]), _)) = $0 { true } else { false }
                        }
                        try await basilLog.wait(for: "amber's message") {
                            if case .frame(.message("amber", .string("hi basil"), _)) = $0 { true } else { false }
                        }
                    }
                    try await amberLog.wait(for: "basil offline") { Self.transition(of: $0, "basil", online: false) != nil }
                    // A refused request throws what the hub said.
                    await #expect(throws: RollCallClientError.self) { try await amber.send(.null, to: "") }
                }
            }
        }
    }

    /// The transition in `event` if it is one of `user` going `online`, else nil.
    static func transition(of event: RollCallClient.Event, _ user: String, online: Bool) -> PresenceTransition? {
        guard case .frame(.presence(let change)) = event, change.userID == user, change.online == online else { return nil }
        return change
    }

    @Test("a dropped connection comes back resumed, subscriptions renewed, and a watcher sees no flap")
    func resumeAfterDrop() async throws {
        try await withTestDatabase { database in
            // The hub sees the drop at once (the TCP connection ends); the offline grace covers
            // the moment until the client is back, and the resume closes the old row.
            var configuration = TestHub.configuration()
            configuration.offlineGrace = .seconds(5)
            try await TestHub.run(configuration, database: database) { hub in
                let (watcher, _) = try await hub.watch(["cedar", "marker"])
                try await Self.withClient(hub, token: { try await hub.token("cedar") }) { cedar, log in
                    _ = try await cedar.subscribe(["dove"])
                    #expect(try await watcher.next().transition?.online == true)
                    await cedar.dropConnection()
                    try await log.wait(for: "a resumed welcome") {
                        if case .connected(_, _, resumed: true) = $0 { true } else { false }
                    }
                    // The renewed subscription still delivers presence.
                    let dove = try await hub.connect("dove")
                    try await log.wait(for: "dove online") { Self.transition(of: $0, "dove", online: true) != nil }
                    let marker = try await hub.connect("marker")
                    let seen = try await watcher.frames(until: { $0.isPresence(of: "marker") })
                    #expect(seen.transitions.map(\.userID) == ["marker"], "the watcher saw cedar flap: \(seen)")
                    #expect(log.all.contains { if case .disconnected = $0 { true } else { false } })
                    for socket in [dove, marker] { try await socket.close() }
                }
                try await watcher.close()
            }
        }
    }

    @Test("an expired token closes the socket with 4001; the client reconnects with a fresh one from its provider")
    func freshTokenOnReconnect() async throws {
        try await withTestDatabase { database in
            try await TestHub.run(database: database) { hub in
                let minted = Atomic<Int>(0)
                try await Self.withClient(
                    hub,
                    token: {
                        minted.add(1, ordering: .relaxed)
                        return try await hub.token("elm", lifetime: .seconds(5))
                    }
                ) { _, log in
                    try await log.wait(for: "a close with 4001") { $0 == .disconnected(closeCode: 4001, retryIn: Self.retry(of: $0)) }
                    try await log.wait(for: "a second welcome", count: 2, Self.isConnected)
                    #expect(minted.load(ordering: .relaxed) >= 2)
                }
            }
        }
    }

    static func retry(of event: RollCallClient.Event) -> Duration {
        if case .disconnected(_, let pause) = event { pause } else { .zero }
    }

    @Test("a token the hub refuses ends run() with the 401, instead of retrying forever")
    func refusedToken() async throws {
        try await withTestDatabase { database in
            try await TestHub.run(database: database) { hub in
                let client = RollCallClient(url: URL(string: hub.webSocketURL)!) { "not-a-token" }
                await #expect {
                    try await client.run()
                } throws: { error in
                    guard case HubSocketError.refused(401, _) = error else { return false }
                    return true
                }
            }
        }
    }
}
