import RollCall
import Testing

@Suite("Open limits: the per-user cap and the open rates", .timeLimit(.minutes(5)))
struct OpenLimitsTests {
    let start = ContinuousClock.now

    @Test("a user holds at most the cap; a closed socket frees its place")
    func cap() {
        var limits = OpenLimits(rules: .init(maxSocketsPerUser: 3, userOpens: .unlimited, addressOpens: .unlimited))
        for _ in 0..<3 { #expect(limits.admit(user: "ann", address: "10.0.0.1", now: start) == nil) }
        #expect(limits.admit(user: "ann", address: "10.0.0.1", now: start) == .tooManySockets(limit: 3))
        #expect(limits.admit(user: "bob", address: "10.0.0.1", now: start) == nil, "another user is not affected")
        limits.closed(user: "ann")
        #expect(limits.openSockets(of: "ann") == 2)
        #expect(limits.admit(user: "ann", address: "10.0.0.1", now: start) == nil)
        for _ in 0..<5 { limits.closed(user: "bob") }
        #expect(limits.openSockets(of: "bob") == 0, "extra closes never go below zero")
    }

    @Test("a user's opens are metered: a burst, then the sustained rate")
    func userRate() {
        var limits = OpenLimits(rules: .init(maxSocketsPerUser: 0, userOpens: .sustained(2), addressOpens: .unlimited))
        let admitted = (0..<20).filter { _ in limits.admit(user: "ann", address: nil, now: start) == nil }.count
        #expect(admitted == 10, "a burst of five seconds' worth at 2/s")
        #expect(limits.admit(user: "ann", address: nil, now: start) == .userOpensTooFast)
        #expect(limits.admit(user: "bob", address: nil, now: start) == nil, "each user has a bucket of their own")
        #expect(limits.admit(user: "ann", address: nil, now: start + .milliseconds(400)) == .userOpensTooFast, "0.8 of a token is not one")
        #expect(limits.admit(user: "ann", address: nil, now: start + .milliseconds(500)) == nil, "a token refills every half second")
        #expect(limits.admit(user: "ann", address: nil, now: start + .milliseconds(500)) == .userOpensTooFast)
    }

    @Test("an address's opens are metered across users, and a refusal takes no token from the other bucket")
    func addressRate() {
        var limits = OpenLimits(rules: .init(maxSocketsPerUser: 0, userOpens: .sustained(1), addressOpens: .sustained(1)))
        for index in 0..<5 { #expect(limits.admit(user: "u\(index)", address: "192.0.2.7", now: start) == nil) }
        #expect(limits.admit(user: "u9", address: "192.0.2.7", now: start) == .addressOpensTooFast)
        #expect(limits.admit(user: "u9", address: "192.0.2.8", now: start) == nil, "another address has its own bucket")
        // u9's bucket lost one token only, for the admitted open: four are left.
        for _ in 0..<4 { #expect(limits.admit(user: "u9", address: "198.51.100.\(Int.random(in: 1...250))", now: start) == nil) }
        #expect(limits.admit(user: "u9", address: "203.0.113.1", now: start) == .userOpensTooFast)
    }

    @Test("the cap is checked first and a capped attempt takes no token")
    func capTakesNoToken() {
        var limits = OpenLimits(rules: .init(maxSocketsPerUser: 1, userOpens: .sustained(1), addressOpens: .unlimited))
        #expect(limits.admit(user: "ann", address: nil, now: start) == nil)
        for _ in 0..<10 { #expect(limits.admit(user: "ann", address: nil, now: start) == .tooManySockets(limit: 1)) }
        limits.closed(user: "ann")
        let admitted = (0..<10).filter { _ in
            defer { limits.closed(user: "ann") }
            return limits.admit(user: "ann", address: nil, now: start) == nil
        }.count
        #expect(admitted == 4, "five tokens at the start, one spent before the refusals")
    }

    @Test("a stream of new addresses is forgotten once their buckets refill")
    func memoryBounded() {
        var limits = OpenLimits(rules: .init(maxSocketsPerUser: 0, userOpens: .unlimited, addressOpens: .sustained(100)))
        for second in 0..<60 {
            let now = start + .seconds(second)
            for index in 0..<1000 {
                #expect(limits.admit(user: "flood", address: "10.\(second).\(index / 250).\(index % 250)", now: now) == nil)
            }
            limits.closed(user: "flood")
        }
        #expect(limits.remembered < 4000, "60,000 addresses seen, only the last few seconds' kept: \(limits.remembered)")
    }

    @Test("unlimited rules admit everything and remember no bucket")
    func none() {
        var limits = OpenLimits(rules: .none)
        for index in 0..<500 { #expect(limits.admit(user: "ann", address: "10.0.0.\(index % 200)", now: start) == nil) }
        #expect(limits.remembered == 1, "only the open count of ann")
    }
}
