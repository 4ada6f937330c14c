import Foundation
import RollCall
import RollCallHub
import RollCallTestSupport
import Synchronization
import Testing

/// Many sockets send two hubs what no careful client would, for a bounded number of steps. After
/// it the hubs still serve, every row is closed with its socket, the counters agree with the rows
/// and the hubs' memory is back near where it started.
@Suite("Fuzzing two hubs", .timeLimit(.minutes(5)))
struct FuzzTests {
    static let workers = 12
    static let steps = 60

    @Test("random and oversized frames, headers, ids and requests: no crash, no ghost, counters right, memory back")
    func fuzz() async throws {
        let seed = UInt64.random(in: 0...UInt64.max)
        print("fuzz seed \(seed)")
        try await withTestDatabase { database in
            let hubs = [
                try await HubProcess.serve(database: database, serverID: "fuzz-a", extra: ["--offline-grace", "0s"]),
                try await HubProcess.serve(database: database, serverID: "fuzz-b", extra: ["--offline-grace", "0s"]),
            ]
            defer { for hub in hubs { hub.signal(SIGKILL); _ = hub.exitStatus() } }
            let authority = try await TestTokens.authority()
            // Warm both hubs up once, so the baseline holds what any hub holds after its first sockets.
            for hub in hubs {
                let socket = try await TestSocket.open(
                    url: hub.webSocketURL, token: try await authority.mint(Identity(userID: "warm"), lifetime: .seconds(600)))
                #expect(try await socket.roundTrip())
                try await socket.close()
            }
            let before = try hubs.map { try HTTPProbe.residentBytes(of: $0.pid) }

            let tally = Tally()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for worker in 0..<Self.workers {
                    group.addTask {
                        var random = SeededRandom(seed: seed &+ UInt64(worker))
                        var sockets: [TestSocket] = []
                        for _ in 0..<Self.steps {
                            let hub = hubs[Int.random(in: 0..<hubs.count, using: &random)]
                            switch Int.random(in: 0..<100, using: &random) {
                            case 0..<30:
                                let user = Self.userID(&random)
                                let token = try await authority.mint(Identity(userID: user), lifetime: .seconds(600))
                                do {
                                    let socket = try await TestSocket.open(
                                        url: hub.webSocketURL, token: token, userAgent: Self.userAgent(&random),
                                        headers: ["X-Forwarded-For": Self.noise(&random, length: 40)])
                                    sockets.append(socket)
                                    tally.add("opened")
                                } catch {
                                    tally.add("refused")
                                }
                            case 30..<75 where !sockets.isEmpty:
                                let socket = sockets[Int.random(in: 0..<sockets.count, using: &random)]
                                try? await socket.send(Self.frame(&random))
                                tally.add("frames")
                            case 75..<80 where !sockets.isEmpty:
                                let socket = sockets[Int.random(in: 0..<sockets.count, using: &random)]
                                try? await socket.send(bytes: 64 * 1024 + 4096 + Int.random(in: 1...4096, using: &random))
                                tally.add("oversized")
                            case 80..<90 where !sockets.isEmpty:
                                let socket = sockets.remove(at: Int.random(in: 0..<sockets.count, using: &random))
                                try? await socket.close()
                                tally.add("closed")
                            default:
                                let request = Self.request(&random, token: try await Self.token(for: &random, authority))
                                _ = try? await HTTPProbe.exchange(port: hub.port, request: request)
                                tally.add("requests")
                            }
                        }
                        for socket in sockets { try? await socket.close() }
                    }
                }
                try await group.waitForAll()
            }
            print("fuzz seed \(seed): \(tally.summary)")

            for hub in hubs {
                #expect(hub.exitStatus() == nil, "hub \(hub.port) died: \(hub.log.suffix(2000))")
                #expect(try await HTTPProbe.status(port: hub.port, path: "/readyz") == 200)
                // Still serving: a fresh socket is welcomed and answered.
                let socket = try await TestSocket.open(
                    url: hub.webSocketURL, token: try await authority.mint(Identity(userID: "after"), lifetime: .seconds(600)))
                #expect(try await socket.roundTrip())
                try await socket.close()
            }
            try await eventually("every row closed with its socket") {
                try await sql(database, "SELECT count(*)::int FROM rollcall.connections WHERE connected", as: Int.self) == [0]
            }
            #expect(try await usersWithWrongCounters(database).isEmpty, "seed \(seed)")
            #expect(try await sql(database, "SELECT count(*)::int FROM rollcall.users WHERE online", as: Int.self) == [0])

            let after = try hubs.map { try HTTPProbe.residentBytes(of: $0.pid) }
            print("fuzz seed \(seed): resident bytes before \(before), after \(after)")
            for (start, end) in zip(before, after) {
                #expect(end - start < 48 * 1024 * 1024, "seed \(seed): resident memory grew from \(start) to \(end) bytes")
            }
        }
    }

    // MARK: What the fuzzer sends

    static let oddIDs = [
        "ann", "bob", "O'Reilly ü/#?", "日本", "👩‍👩‍👧", "a b", "%", "..", "x\u{0301}\u{0301}", "nul\u{0}byte", "tab\tin",
        String(repeating: "é", count: 512),
    ]

    static func userID(_ random: inout SeededRandom) -> String {
        Int.random(in: 0..<4, using: &random) == 0
            ? noise(&random, length: Int.random(in: 1...40, using: &random)) : oddIDs.randomElement(using: &random)!
    }

    static func userAgent(_ random: inout SeededRandom) -> String {
        switch Int.random(in: 0..<4, using: &random) {
        case 0: "a" + String(repeating: "\u{0301}", count: Int.random(in: 0...3000, using: &random))
        case 1: noise(&random, length: Int.random(in: 0...600, using: &random))
        default: "fuzz/1.0"
        }
    }

    /// Printable and not: letters, quotes, backslashes, control characters, astral planes.
    static func noise(_ random: inout SeededRandom, length: Int) -> String {
        let pieces: [String] = [
            "a", "Z", "0", "\"", "\\", "{", "}", "[", "]", ":", ",", " ", "%", "é", "日", "👩‍👩‍👧", "\u{0}", "\u{7}", "\u{FFFD}", "\u{0301}",
        ]
        return (0..<length).map { _ in pieces.randomElement(using: &random)! }.joined()
    }

    static func frame(_ random: inout SeededRandom) -> String {
        let id = [#"1"#, #""x""#, "null", "{}", "[1]", "1e308", #""\#(String(repeating: "i", count: 300))""#].randomElement(using: &random)!
        let users = (0..<Int.random(in: 0...5, using: &random)).map { _ in RollCallJSON.string(userID(&random)) }.joined(separator: ",")
        switch Int.random(in: 0..<12, using: &random) {
        case 0: return #"{"type":"ping","id":\#(id)}"#
        case 1: return #"{"type":"subscribe","id":\#(id),"users":[\#(users)]}"#
        case 2: return #"{"type":"subscribe","id":\#(id),"users":"all"}"#
        case 3: return #"{"type":"unsubscribe","id":\#(id),"users":[\#(users)]}"#
        case 4:
            return
                #"{"type":"send","id":\#(id),"to":\#(RollCallJSON.string(userID(&random))),"data":\#(RollCallJSON.string(noise(&random, length: Int.random(in: 0...2000, using: &random))))}"#
        case 5: return #"{"type":"send","id":\#(id),"to":"ann","data":"\#(String(repeating: "z", count: 64 * 1024))"}"#
        case 6: return String(repeating: "[", count: 5000) + String(repeating: "]", count: 5000)
        case 7: return #"{"type":"subscribe","users":[\#((0..<1500).map { "\"u\($0)\"" }.joined(separator: ","))]}"#
        case 8: return #"{"type":\#(id)}"#
        case 9: return "{" + noise(&random, length: Int.random(in: 0...200, using: &random))
        case 10:
            return
                #"{"type":"send","to":"bob","data":{"nested":\#(String(repeating: #"{"a":"#, count: 2000))1\#(String(repeating: "}", count: 2000))}}"#
        default: return noise(&random, length: Int.random(in: 0...300, using: &random))
        }
    }

    static func token(for random: inout SeededRandom, _ authority: TokenAuthority) async throws -> String {
        try await authority.mint(
            Identity(userID: oddIDs.randomElement(using: &random)!, isAdmin: Bool.random(using: &random)), lifetime: .seconds(600))
    }

    /// A complete HTTP request (so the hub answers at once), its contents hostile.
    static func request(_ random: inout SeededRandom, token: String) -> String {
        let id = userID(&random).addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "x"
        let body = Bool.random(using: &random) ? #"{"data":\#(RollCallJSON.string(noise(&random, length: 100)))}"# : noise(&random, length: 100)
        switch Int.random(in: 0..<8, using: &random) {
        case 0: return "GET /v1/users/\(id) HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer \(token)\r\nConnection: close\r\n\r\n"
        case 1:
            return "GET /v1/users/%ZZ%\(id)/connections?all=maybe HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer \(token)\r\nConnection: close\r\n\r\n"
        case 2: return "GET /v1/presence?users=\(id),,\(id) HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer \(token)\r\nConnection: close\r\n\r\n"
        case 3:
            return "POST /v1/users/\(id)/messages HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer \(token)\r\nContent-Type: application/json\r\n"
                + "Content-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
        case 4:
            return
                "GET /v1/ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer \(token)\r\n\r\n"
        case 5:
            return "GET /v1/users?online=true&limit=-5&cursor=\(id) HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer x.y.z\r\nConnection: close\r\n\r\n"
        case 6: return "\u{1}\u{2}NOT HTTP\r\n\r\n"
        default: return "GET /\(id)/../../etc/passwd HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: \(id)\r\nConnection: close\r\n\r\n"
        }
    }

    final class Tally: Sendable {
        private let counts = Mutex<[String: Int]>([:])
        func add(_ kind: String) { counts.withLock { $0[kind, default: 0] += 1 } }
        var summary: String { counts.withLock { $0.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ") } }
    }
}
