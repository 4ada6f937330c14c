import Foundation
import RollCallPostgres
import Testing

@Suite("Sealed notifications", .timeLimit(.minutes(5)))
struct NotifySealTests {
    let seal = NotifySeal(secret: "a secret all the hubs share, 32+ bytes")
    let json = #"{"events":[],"server":"hub-a"}"#

    @Test("a sealed payload opens on its channel, with its JSON intact, and fits in the overhead")
    func roundTrip() throws {
        let sealed = seal.seal(json, channel: "rollcall_presence")
        #expect(sealed.utf8.count - json.utf8.count <= NotifySeal.overhead)
        let opened = try seal.open(sealed, channel: "rollcall_presence")
        #expect(opened.json == json[...])
    }

    @Test("unsigned, tampered, resigned with another secret, or moved to the other channel: refused")
    func refused() {
        let sealed = seal.seal(json, channel: "rollcall_presence")
        #expect(throws: NotifySeal.Refusal.unsigned) { try seal.open(json, channel: "rollcall_presence") }
        #expect(throws: NotifySeal.Refusal.unsigned) { try seal.open("v1.12.abc.{}", channel: "rollcall_presence") }
        #expect(throws: NotifySeal.Refusal.forged) {
            try seal.open(sealed.replacingOccurrences(of: "hub-a", with: "hub-b"), channel: "rollcall_presence")
        }
        let other = NotifySeal(secret: "another deployment's secret, 32+ bytes").seal(json, channel: "rollcall_presence")
        #expect(throws: NotifySeal.Refusal.forged) { try seal.open(other, channel: "rollcall_presence") }
        #expect(throws: NotifySeal.Refusal.forged) { try seal.open(sealed, channel: "rollcall_messages") }
        let retimed = sealed.split(separator: ".", maxSplits: 2).enumerated().map { $0.offset == 1 ? "1" : String($0.element) }.joined(separator: ".")
        #expect(throws: NotifySeal.Refusal.forged) { try seal.open(retimed, channel: "rollcall_presence") }
    }

    @Test("a payload heard again is a replay; one sent outside the window is stale")
    func replays() throws {
        var recent = ReplayGuard(windowMilliseconds: 1000)
        let sentAt = Date(timeIntervalSince1970: 1_000)
        let opened = try seal.open(seal.seal(json, channel: "c", at: sentAt), channel: "c")
        try recent.admit(opened, nowMilliseconds: 1_000_100)
        #expect(throws: NotifySeal.Refusal.replayed) { try recent.admit(opened, nowMilliseconds: 1_000_200) }
        let late = try seal.open(seal.seal(json, channel: "c", at: sentAt), channel: "c")
        #expect(throws: NotifySeal.Refusal.stale) { try recent.admit(late, nowMilliseconds: 1_001_001) }
        let early = try seal.open(seal.seal(json, channel: "c", at: Date(timeIntervalSince1970: 1_002)), channel: "c")
        #expect(throws: NotifySeal.Refusal.stale) { try recent.admit(early, nowMilliseconds: 1_000_500) }
    }

    @Test("the guard forgets what the window would refuse anyway")
    func bounded() throws {
        var recent = ReplayGuard(windowMilliseconds: 1000)
        for step in 0..<5000 {
            let now = Int64(1_000_000 + step * 10)
            let opened = try seal.open(seal.seal("{\"n\":\(step)}", channel: "c", at: Date(timeIntervalSince1970: Double(now) / 1000)), channel: "c")
            try recent.admit(opened, nowMilliseconds: now)
        }
        #expect(recent.remembered <= 130, "100 payloads a window, at most a quarter window more: \(recent.remembered)")
    }
}
