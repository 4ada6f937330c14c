import RollCall
import Testing

@Suite("A socket's state", .timeLimit(.minutes(5)))
struct SocketStateTests {
    @Test("subscribe: ids once and sorted, only what is new counts as added, the token's watch list holds")
    func subscribe() {
        var socket = SocketState(identity: Identity(userID: "ann", watchable: ["bob", "cy"]), maxBadFrames: 20)
        let first = socket.subscribe(["cy", "bob", "cy"])
        let second = socket.subscribe(["bob", "ann"])
        let third = socket.subscribe(["dee"])
        #expect(first == .watch(users: ["bob", "cy"], added: ["bob", "cy"]))
        #expect(second == .watch(users: ["ann", "bob"], added: ["ann"]), "a user may always watch itself")
        #expect(third == .refuse(.init(code: .forbidden, message: "this token may not watch dee")))
        #expect(socket.watchedUsers == ["ann", "bob", "cy"])
    }

    @Test("a frame may name at most 1,000 users, and a socket watch at most 10,000; a refusal changes nothing")
    func limits() {
        var socket = SocketState(identity: Identity(userID: "ops"), maxBadFrames: 20)
        guard case .refuse(let tooMany) = socket.subscribe((0...1000).map { "u\($0)" }) else { Issue.record("1,001 users taken"); return }
        #expect(tooMany.code == .badRequest)
        for page in 0..<10 {
            guard case .watch = socket.subscribe((0..<1000).map { "p\(page)-\($0)" }) else { Issue.record("page \(page) refused"); return }
        }
        guard case .refuse(let full) = socket.subscribe(["one-more"]) else { Issue.record("the cap let one more in"); return }
        #expect(full.message.contains("10000"))
        #expect(socket.watchedUsers.count == 10_000)
        let again = socket.subscribe(["p0-1"])
        #expect(again == .watch(users: ["p0-1"], added: []), "watching again costs nothing")
        socket.unsubscribe(["p0-1"])
        let freed = socket.subscribe(["one-more"])
        #expect(freed == .watch(users: ["one-more"], added: ["one-more"]))
    }

    @Test("a failed snapshot undoes only what its subscribe added")
    func snapshotFailed() {
        var socket = SocketState(identity: Identity(userID: "ann"), maxBadFrames: 20)
        _ = socket.subscribe(["bob"])
        guard case .watch(_, let added) = socket.subscribe(["bob", "cy"]) else { Issue.record("refused"); return }
        socket.snapshotFailed(added: added)
        #expect(socket.watchedUsers == ["bob"])
    }

    @Test("messages go to the users the token may watch")
    func sendPolicy() {
        let limited = SocketState(identity: Identity(userID: "ann", watchable: ["bob"]), maxBadFrames: 20)
        #expect(limited.maySend(to: "bob") == nil)
        #expect(limited.maySend(to: "eve")?.code == .forbidden)
        #expect(SocketState(identity: Identity(userID: "ann"), maxBadFrames: 20).maySend(to: "eve") == nil)
    }

    @Test("bad frames past the budget close the socket")
    func badFrames() {
        var socket = SocketState(identity: Identity(userID: "ann"), maxBadFrames: 3)
        let verdicts = (0..<5).map { socket.frameArrived(at: .milliseconds($0 * 100), bad: true) }
        #expect(verdicts.contains(.disconnect))
    }
}
