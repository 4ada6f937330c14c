import Foundation
import PostgresNIO
import RollCall
import RollCallPostgres
import RollCallTestSupport
import Testing

@Suite("Registry writer", .timeLimit(.minutes(5)))
struct RegistryWriterTests {
    /// Queues `count` opens before the writer runs, then lets it run: how many transactions did they take?
    func transactions(forOpens count: Int, maxBatch: Int, location: DatabaseLocation) async throws -> (transactions: Int, notifications: Int) {
        let tap = PresenceTap()
        return try await tap.listen(location) {
            try await withTestClient(location) { client in
                let writer = RegistryWriter(
                    serverID: "hub-w", client: client, seal: testSeal, maxBatch: maxBatch, attemptLimit: testAttemptLimit, logger: testLogger)
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for index in 0..<count {
                        group.addTask {
                            _ = try await writer.open(NewConnection(userID: "user-\(index)", userAgent: nil, remoteAddress: "127.0.0.1"))
                        }
                    }
                    try await eventually("all opens queued") { writer.pendingRequests == count }
                    try await writer.running {
                        for _ in 0..<count { try await group.next() }
                    }
                }
                let rows = try await sql(location, "SELECT count(*)::int FROM rollcall.connections WHERE connected", as: Int.self)
                #expect(rows == [count])
                try await eventually("every transition heard") { tap.transitions.count == count }
                return (writer.committedTransactions, tap.payloads.count)
            }
        }
    }

    @Test("a backlogged writer holds message senders until it has room, or for the limit given")
    func roomForMessages() async throws {
        try await withTestDatabase { location in
            try await withTestClient(location) { client in
                let writer = RegistryWriter(
                    serverID: "hub-room", client: client, seal: testSeal, maxBatch: 2, attemptLimit: testAttemptLimit, logger: testLogger)
                await writer.roomForMessages(within: .seconds(60))  // not backlogged: at once
                for index in 0..<8 {
                    writer.send(UserMessage(to: "bob", from: "alice", data: .number(JSONNumber(index)), at: Date())) { _ in }
                }
                #expect(writer.isBacklogged, "8 waiting: four batches of 2")
                await writer.roomForMessages(within: .milliseconds(100))  // not written yet: the limit ends the wait
                #expect(writer.isBacklogged)
                // Once it runs, the writer takes batches and lets the held go on.
                try await writer.running {
                    await writer.roomForMessages(within: .seconds(60))
                    #expect(!writer.isBacklogged)
                }
            }
        }
    }

    @Test("opens that arrive together commit together")
    func grouping() async throws {
        try await withTestDatabase { location in
            let grouped = try await transactions(forOpens: 100, maxBatch: 500, location: location)
            #expect(grouped.transactions == 1)
            #expect(grouped.notifications < 100)
        }
    }

    @Test("one transaction with opens, a close, an open closed at once and the hub's close-all: each row and count as if one by one")
    func mixedBatch() async throws {
        try await withTestDatabase { location in
            let tap = PresenceTap()
            try await tap.listen(location) {
                try await withTestClient(location) { client in
                    let first = RegistryWriter(
                        serverID: "hub-mix", client: client, seal: testSeal, maxBatch: 500, attemptLimit: testAttemptLimit, logger: testLogger)
                    let anaFirst = NewConnection(userID: "ana", userAgent: "Firefox", remoteAddress: "127.0.0.1")
                    let bo = NewConnection(userID: "bo", userAgent: nil, remoteAddress: nil)
                    let anaSecond = NewConnection(userID: "ana", userAgent: "Safari", remoteAddress: "::1")
                    let cy = NewConnection(userID: "cy", userAgent: nil, remoteAddress: "127.0.0.1")
                    try await first.running {
                        _ = try await first.open(anaFirst)
                        _ = try await first.open(bo)
                    }
                    // The same hub's next writer, everything queued before it runs: one batch.
                    let writer = RegistryWriter(
                        serverID: "hub-mix", client: client, seal: testSeal, maxBatch: 500, attemptLimit: testAttemptLimit, logger: testLogger)
                    let closedByHub = try await withThrowingTaskGroup(of: Int.self) { group in
                        group.addTask {
                            _ = try await writer.open(anaSecond); return 0
                        }
                        group.addTask {
                            _ = try await writer.open(cy); return 0
                        }
                        try await eventually("opens queued") { writer.pendingRequests == 2 }
                        writer.close(bo.connectionID, reason: .clientClosed)
                        writer.close(cy.connectionID, reason: .timeout)
                        group.addTask { try await writer.closeAll(of: "hub-mix", reason: .serverShutdown) }
                        try await eventually("everything queued") { writer.pendingRequests == 5 }
                        return try await writer.running { try await group.reduce(0, +) }
                    }
                    #expect(writer.committedTransactions == 1)
                    #expect(closedByHub == 2, "both of ana's rows; bo's and cy's closed with their own reasons first")
                    let rows = try await sql(
                        location,
                        "SELECT user_id, coalesce(user_agent, ''), connected, close_reason FROM rollcall.connections ORDER BY created_at, user_agent",
                        as: (String, String, Bool, String?).self)
                    #expect(
                        rows.map { "\($0.0) \($0.1) \($0.2) \($0.3 ?? "-")" }.sorted() == [
                            "ana Firefox false server_shutdown", "ana Safari false server_shutdown", "bo  false client_closed", "cy  false timeout",
                        ])
                    let counters = try await sql(
                        location, "SELECT user_id, connections, online FROM rollcall.users ORDER BY user_id", as: (String, Int, Bool).self)
                    #expect(
                        counters.map { "\($0.0) \($0.1) \($0.2)" } == ["ana 0 false", "bo 0 false"],
                        "cy opened and closed in one batch: never counted")
                    try await eventually("ana's and bo's offline heard") { tap.transitions.count == 4 }
                    #expect(tap.transitions(of: "ana").map(\.online) == [true, false])
                    #expect(tap.transitions(of: "bo").map(\.online) == [true, false])
                    #expect(tap.transitions(of: "cy").isEmpty)
                }
            }
        }
    }

    @Test("--max-batch caps a transaction; 1 turns grouping off", arguments: [(30, 4), (1, 100)])
    func capped(maxBatch: Int, expected: Int) async throws {
        try await withTestDatabase { location in
            let result = try await transactions(forOpens: 100, maxBatch: maxBatch, location: location)
            #expect(result.transactions == expected)
        }
    }

    @Test("a busy writer lingers: opens that trickle in after a batch of two share one transaction")
    func lingering() async throws {
        try await withTestDatabase { location in
            try await withTestClient(location) { client in
                let writer = RegistryWriter(
                    serverID: "hub-linger", client: client, seal: testSeal, maxBatch: 500, linger: .seconds(1), attemptLimit: testAttemptLimit,
                    logger: testLogger)
                try await withThrowingTaskGroup(of: Void.self) { group in
                    func open(_ user: String) {
                        group.addTask { _ = try await writer.open(NewConnection(userID: user, userAgent: nil, remoteAddress: "127.0.0.1")) }
                    }
                    // Two queued before the writer runs make its first batch one with company.
                    open("first-1")
                    open("first-2")
                    try await eventually("both queued") { writer.pendingRequests == 2 }
                    try await writer.running {
                        try await eventually("the first batch committed") { writer.committedTransactions == 1 }
                        for index in 0..<3 {
                            open("late-\(index)")
                            try await Task.sleep(for: .milliseconds(20))
                        }
                        try await group.waitForAll()
                    }
                }
                #expect(writer.committedTransactions == 2, "the three late opens waited for each other")
                #expect(try await sql(location, "SELECT count(*)::int FROM rollcall.connections WHERE connected", as: Int.self) == [5])
            }
        }
    }

    @Test("drained() waits for what lingers: a close queued behind a busy batch is written when it returns")
    func drainedWaitsForLinger() async throws {
        try await withTestDatabase { location in
            try await withTestClient(location) { client in
                let writer = RegistryWriter(
                    serverID: "hub-drain", client: client, seal: testSeal, maxBatch: 500, linger: .seconds(1), attemptLimit: testAttemptLimit,
                    logger: testLogger)
                let first = NewConnection(userID: "dora", userAgent: nil, remoteAddress: "127.0.0.1")
                let second = NewConnection(userID: "dora", userAgent: nil, remoteAddress: "127.0.0.1")
                try await withThrowingTaskGroup(of: Void.self) { group in
                    // Two queued before the writer runs make its first batch one with company.
                    for connection in [first, second] { group.addTask { _ = try await writer.open(connection) } }
                    try await eventually("both queued") { writer.pendingRequests == 2 }
                    try await writer.running {
                        try await group.waitForAll()
                        writer.close(first.connectionID, reason: .clientClosed)
                        await writer.drained()
                        let open = try await sql(location, "SELECT count(*)::int FROM rollcall.connections WHERE connected", as: Int.self)
                        #expect(open == [1], "the close was written before drained() returned")
                    }
                }
            }
        }
    }

    @Test("a socket that closes between the heartbeat's snapshot and its reopen stays closed")
    func closeBeatsReopen() async throws {
        try await withTestDatabase { location in
            try await withTestClient(location) { client in
                let connection = NewConnection(userID: "rita", userAgent: nil, remoteAddress: "127.0.0.1")
                let first = RegistryWriter(
                    serverID: "hub-r", client: client, seal: testSeal, maxBatch: 500, attemptLimit: testAttemptLimit, logger: testLogger)
                _ = try await first.running { try await first.open(connection) }
                // A purge closed the row while the hub was cut off, and it hears of it now.
                try await execute(location, "UPDATE rollcall.connections SET connected = false, close_reason = 'orphaned', disconnected_at = now()")
                try await execute(location, "UPDATE rollcall.users SET connections = 0, online = false")

                // The socket closes, then the heartbeat's reopen (taken before the close) arrives: one batch.
                let second = RegistryWriter(
                    serverID: "hub-r", client: client, seal: testSeal, maxBatch: 500, attemptLimit: testAttemptLimit, logger: testLogger)
                second.close(connection.connectionID, reason: .clientClosed)
                second.reopen([connection.connectionID])
                #expect(second.pendingRequests == 2)
                try await second.running { await second.drained() }
                #expect(second.committedTransactions == 1)
                #expect(try await sql(location, "SELECT connected FROM rollcall.connections", as: Bool.self) == [false])
                #expect(try await usersWithWrongCounters(location).isEmpty)
            }
        }
    }

    @Test("a batch whose answer is late is settled: what the open is told matches the row, and the writer goes on")
    func lateCommitSettled() async throws {
        try await withTestDatabase { location in
            // The commit of a 'slow-commit' row takes 6 s, past the writer's 3 s deadline (and
            // within the hubs' 8 s statement timeout). A deadline of 1 s, as this test had, is
            // shorter than a loaded machine's connect and transaction: every later attempt gave
            // up too, each closing its connection and so making the next connect anew.
            try await execute(
                location,
                """
                CREATE FUNCTION public.slow_commit() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    IF NEW.user_agent = 'slow-commit' THEN PERFORM pg_sleep(6); END IF;
                    RETURN NULL;
                END $$
                """)
            try await execute(
                location,
                """
                CREATE CONSTRAINT TRIGGER slow_commit AFTER INSERT ON rollcall.connections
                DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION public.slow_commit()
                """)
            try await withTestClient(location) { client in
                let writer = RegistryWriter(
                    serverID: "hub-l", client: client, seal: testSeal, maxBatch: 500, attemptLimit: .seconds(3), logger: testLogger)
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await writer.run() }
                    // The writer stops the slow backend, so today the open fails; had it committed first,
                    // the open would succeed. Either way the answer and the row agree.
                    let opened = (try? await writer.open(NewConnection(userID: "late", userAgent: "slow-commit", remoteAddress: nil))) != nil
                    // Whatever ran the slow commit has ended: its outcome is final.
                    try await eventually("no commit still sleeping") {
                        try await sql(location, "SELECT count(*)::int FROM pg_stat_activity WHERE wait_event = 'PgSleep'", as: Int.self) == [0]
                    }
                    let rows = opened ? 1 : 0
                    #expect(try await sql(location, "SELECT count(*)::int FROM rollcall.connections WHERE user_id = 'late'", as: Int.self) == [rows])
                    #expect(
                        try await sql(location, "SELECT coalesce((SELECT connections FROM rollcall.users WHERE user_id = 'late'), 0)", as: Int.self)
                            == [rows])
                    // The writer goes on: a later open succeeds (retried: its deadline is short on purpose).
                    let after = NewConnection(userID: "after", userAgent: nil, remoteAddress: nil)
                    var lastError = "none"
                    do {
                        _ = try await eventuallyValue(timeout: .seconds(60), "an open after the late one") {
                            do {
                                return try await writer.open(after)
                            } catch {
                                lastError = String(reflecting: error)
                                return nil
                            }
                        }
                    } catch {
                        throw ExplainedFailure(description: "\(error); the last open failed with \(lastError)")
                    }
                    #expect(try await sql(location, "SELECT count(*)::int FROM rollcall.connections WHERE user_id = 'after'", as: Int.self) == [1])
                    group.cancelAll()
                }
            }
        }
    }
}
