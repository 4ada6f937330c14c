// rollcall-hotpath: what the hub's per-socket and per-batch code costs on this machine, each piece
// alone, in nanoseconds per call. CPU-bound and single-threaded, so far steadier than the churn of
// `scripts/bench`: the tool for telling a 5 % change in one of these pieces from noise.
//
//     swift build -c release --product rollcall-hotpath && .build/release/rollcall-hotpath
//     .build/release/rollcall-hotpath --database-url URL   # also PostgreSQL round trips' CPU here
import Foundation
import RollCall
import RollCallHub
import Logging
import NIOCore
import NIOPosix
import PostgresNIO
import RollCallPostgres

extension Duration {
    /// Nanoseconds per call, for `calls` calls that took this long.
    func nanoseconds(per calls: Int) -> Double {
        (Double(components.seconds) * 1e9 + Double(components.attoseconds) / 1e9) / Double(calls)
    }
}

/// Runs `body` in rounds of ~0.2 s and reports the best round's time per call: the least disturbed.
func measure(_ name: String, _ body: () throws -> Void) rethrows {
    var calls = 1
    var best = Double.infinity
    let clock = ContinuousClock()
    // Find a round length, then keep the best of five.
    while true {
        let elapsed = try clock.measure { for _ in 0..<calls { try body() } }
        if elapsed > .milliseconds(50) { break }
        calls *= 4
    }
    for _ in 0..<5 {
        let elapsed = try clock.measure { for _ in 0..<calls { try body() } }
        best = min(best, elapsed.nanoseconds(per: calls))
    }
    print(name.padding(toLength: 60, withPad: " ", startingAt: 0), String(format: "%10.0f ns", best))
}

let secret = "hot-path-secret-that-is-long-enough-for-hs256"
let authority = try await TokenAuthority(secret: secret)
let token = try await authority.mint(Identity(userID: "user-1234"), lifetime: .seconds(3600))
let seal = NotifySeal(secret: secret)
let now = Date()

// One batch as a busy hub publishes it: ten users online, ten connections opened.
let transitions = (0..<10).map { PresenceTransition(userID: "user-\($0)", online: true, version: 7, at: now, connections: 1) }
let opened = (0..<10).map {
    ConnectionEvent(
        event: .opened, connectionID: ConnectionID(), userID: "user-\($0)", serverID: "hub-a:8080",
        userAgent: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
        at: now, reason: nil)
}
let payload = PresenceNotification.payloads(server: "hub-a:8080", events: transitions, connections: opened)[0]
let transitionsOnly = PresenceNotification.payloads(server: "hub-a:8080", events: transitions)[0]
let sealed = seal.seal(payload, channel: "rollcall_presence")
let welcome = ServerFrame.welcome(
    connectionID: ConnectionID(), userID: "user-1234", serverID: "hub-a:8080", heartbeatMilliseconds: 30_000, resumed: false)

print("payload: \(payload.utf8.count) bytes (\(transitionsOnly.utf8.count) of them without the connection events)")
try measure("token: verify (per handshake)") { _ = try authority.verify(token) }
measure("welcome frame: write (per socket)") { _ = welcome.json() }
try measure("client frame: read a subscribe (per frame)") { _ = try ClientFrame.decode(#"{"type":"subscribe","id":1,"users":["a","b","c"]}"#) }
measure("presence batch: write 10 transitions + 10 connection events") {
    _ = PresenceNotification.payloads(server: "hub-a:8080", events: transitions, connections: opened)
}
measure("presence batch: seal") { _ = seal.seal(payload, channel: "rollcall_presence") }
try measure("presence batch: check the seal (every hub)") { _ = try seal.open(sealed, channel: "rollcall_presence") }
try measure("presence batch: read 10 transitions + 10 connection events") { _ = try PresenceNotification.decode(payload) }
try measure("presence batch: read 10 transitions alone") { _ = try PresenceNotification.decode(transitionsOnly) }
measure("presence frame: write one transition (per watcher)") { _ = ServerFrame.presence(transitions[0]).json() }
let stamp = RollCallJSON.format(now)
measure("a time: write as ISO 8601 (every event, frame and row time)") { _ = RollCallJSON.format(now) }
measure("a time: read from ISO 8601") { _ = RollCallJSON.parse(stamp) }

// MARK: - PostgreSQL client (with --database-url)
//
// What this process's CPU pays per statement the registry writer sends: a prepared statement's
// round trip, each row it decodes (the shape of a close's row), and a transaction shaped like a
// batch. Process CPU, all threads.

struct RowsStatement: PostgresPreparedStatement {
    static let sql = """
        SELECT gen_random_uuid(), 'user-' || i, 'hub-a:8080', 'Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0'::text, now(), 'client'::text
        FROM generate_series(1, $1) AS i
        """
    typealias Row = (UUID, String, String, String?, Date, String)
    let count: Int

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 1)
        bindings.append(count)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
}

func processCPU() -> Duration {
    var spec = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &spec)
    return .seconds(spec.tv_sec) + .nanoseconds(spec.tv_nsec)
}

/// Runs `body` `calls` times in sequence; prints this process's CPU and the wall time per call.
func measureCPU(_ name: String, calls: Int = 4000, _ body: @Sendable () async throws -> Void) async rethrows {
    for _ in 0..<200 { try await body() }
    let cpu = processCPU()
    let wall = ContinuousClock.now
    for _ in 0..<calls { try await body() }
    print(
        name.padding(toLength: 60, withPad: " ", startingAt: 0),
        String(
            format: "%10.0f ns CPU %10.0f ns wall", (processCPU() - cpu).nanoseconds(per: calls), (ContinuousClock.now - wall).nanoseconds(per: calls)
        ))
}

/// Runs a task's jobs on one event loop: with the task's executor preference set to the loop its
/// PostgreSQL connection lives on, a query's answer resumes the task without a thread switch.
final class LoopExecutor: TaskExecutor {
    let loop: any EventLoop
    init(_ loop: any EventLoop) { self.loop = loop }
    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        loop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}

/// A transaction shaped like a registry batch: `BEGIN`, a one-row statement, three of 12 rows,
/// `COMMIT`. One by one, each statement is sent once the last one's rows are read, as the writer
/// does; pipelined, the four go out at once (each in an immediate task, which writes its request
/// before it first waits), so the connection's event loop sends each as soon as the last is done.
func batchShaped(pipelined: Bool, on connection: PostgresConnection, logger: Logger) async throws {
    try await connection.withTransaction(logger: logger) { connection in
        let counts = [1, 12, 12, 12]
        if pipelined {
            let tasks = counts.map { count in
                Task.immediate { try await connection.execute(RowsStatement(count: count), logger: logger).reduce(0) { rows, _ in rows + 1 } }
            }
            for task in tasks { _ = try await task.value }
        } else {
            for count in counts {
                _ = try await connection.execute(RowsStatement(count: count), logger: logger).reduce(0) { rows, _ in rows + 1 }
            }
        }
    }
}

if let index = CommandLine.arguments.firstIndex(of: "--database-url"), index + 1 < CommandLine.arguments.count {
    let location = try DatabaseLocation(url: CommandLine.arguments[index + 1])
    let logger = Logger(label: "rollcall-hotpath")
    let loop = MultiThreadedEventLoopGroup.singleton.next()
    // As the hub runs it (its tasks on Swift's pool), then with the task pinned to the connection's loop.
    for pinned in [false, true] {
        let client =
            pinned
            ? PostgresClient(configuration: location.clientConfiguration(connections: 1), eventLoopGroup: loop)
            : PostgresClient(configuration: location.clientConfiguration(connections: 1))
        let placement = pinned ? "task on its loop" : "task on the pool"
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { await client.run() }
            try await withTaskExecutorPreference(pinned ? LoopExecutor(loop) : nil) {
                try await client.withConnection { connection in
                    for count in [1, 12, 48] {
                        try await measureCPU("PostgreSQL, \(placement): \(count) close-shaped row(s)") {
                            for try await _ in try await connection.execute(RowsStatement(count: count), logger: logger) {}
                        }
                    }
                    try await measureCPU("PostgreSQL, \(placement): BEGIN + COMMIT") {
                        try await connection.withTransaction(logger: logger) { _ in }
                    }
                    for pipelined in [false, true] {
                        try await measureCPU("PostgreSQL, \(placement): batch-shaped, \(pipelined ? "pipelined" : "one by one")", calls: 2000) {
                            try await batchShaped(pipelined: pipelined, on: connection, logger: logger)
                        }
                    }
                }
            }
            group.cancelAll()
        }
    }
}
