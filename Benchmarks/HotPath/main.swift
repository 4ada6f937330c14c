// rollcall-hotpath: what the hub's per-socket and per-batch code costs on this machine, each piece
// alone, in nanoseconds per call. CPU-bound and single-threaded, so far steadier than the churn of
// `scripts/bench`: the tool for telling a 5 % change in one of these pieces from noise.
//
//     swift build -c release --product rollcall-hotpath && .build/release/rollcall-hotpath
import Foundation
import RollCall
import RollCallHub
import RollCallPostgres

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
        let (seconds, attoseconds) = elapsed.components
        best = min(best, (Double(seconds) * 1e9 + Double(attoseconds) / 1e9) / Double(calls))
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
let welcome = ServerFrame.welcome(connectionID: ConnectionID(), userID: "user-1234", serverID: "hub-a:8080", heartbeatMilliseconds: 30_000, resumed: false)

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
