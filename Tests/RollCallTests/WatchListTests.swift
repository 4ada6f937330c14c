import RollCall
import Testing

@Suite("What one socket watches, capped in distinct users", .timeLimit(.minutes(5)))
struct WatchListTests {
    @Test("re-subscribing the same users costs nothing against the cap")
    func resubscribing() {
        var list = WatchList(limit: 3)
        #expect(list.add(["a", "b", "c"]) == ["a", "b", "c"])
        for _ in 0..<10 { #expect(list.add(["c", "b", "a"]) == []) }
        #expect(list.users.count == 3)
    }

    @Test("past the cap nothing is added, and a user freed makes room again")
    func cap() {
        var list = WatchList(limit: 3)
        _ = list.add(["a", "b"])
        #expect(list.add(["c", "d"]) == nil)
        #expect(list.users == ["a", "b"])
        #expect(list.add(["b", "c"]) == ["c"])
        #expect(list.remove(["a"]) == ["a"])
        #expect(list.add(["d"]) == ["d"])
        #expect(list.users == ["b", "c", "d"])
    }

    @Test("unsubscribing users never watched frees nothing")
    func unknownUnsubscribe() {
        var list = WatchList(limit: 2)
        _ = list.add(["a", "b"])
        #expect(list.remove(["x", "y", "z"]) == [])
        #expect(list.add(["c"]) == nil)
    }

    @Test("a failed snapshot undoes only what its subscribe added")
    func undo() {
        var list = WatchList(limit: 10)
        _ = list.add(["a"])
        let added = list.add(["a", "b"])
        #expect(added == ["b"])
        list.remove(added ?? [])
        #expect(list.users == ["a"])
    }
}
