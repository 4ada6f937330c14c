import Foundation
import RollCall
import Testing

@Suite("Batch plan", .timeLimit(.minutes(5)))
struct BatchPlanTests {
    let now = ContinuousClock.now
    let fresh = Duration.seconds(1)

    @Test("each request lands in its phase, in submission order")
    func phases() {
        let ann = NewConnection(userID: "ann", userAgent: nil, remoteAddress: nil)
        let bob = NewConnection(userID: "bob", userAgent: "curl", remoteAddress: "192.0.2.1")
        let gone = ConnectionID()
        let message = UserMessage(to: "ann", from: "ops", data: .string("hi"), at: Date(timeIntervalSince1970: 0))
        let plan = BatchPlan(
            [
                .open(ann), .close(gone, .clientClosed), .message(message), .open(bob),
                .closeServer("hub-x", .serverShutdown), .closeServer("hub-x", .serverRestart),
            ], now: now, purgeFreshness: fresh)
        #expect(plan.opens == [ann, bob])
        #expect(plan.closes.map(\.id) == [gone] && plan.closes.map(\.reason) == [.clientClosed])
        #expect(plan.messages == [message])
        #expect(plan.serverCloses == [.init(server: "hub-x", reason: .serverShutdown), .init(server: "hub-x", reason: .serverRestart)])
        #expect(plan.reopens.isEmpty && plan.graceDue.isEmpty && plan.purgeWindow == nil)
    }

    @Test("a close wins over a reopen of the same socket, whichever was submitted first")
    func closeBeatsReopen() {
        let (a, b, c) = (ConnectionID(), ConnectionID(), ConnectionID())
        let before = BatchPlan([.reopen([a, b, c]), .close(b, .clientClosed)], now: now, purgeFreshness: fresh)
        let after = BatchPlan([.close(c, .timeout), .reopen([a, b, c])], now: now, purgeFreshness: fresh)
        #expect(before.reopens == [a, c])
        #expect(after.reopens == [a, b])
    }

    @Test("graces due are named once each, sorted")
    func graces() {
        let plan = BatchPlan([.finishGrace(["zoe", "ann"]), .finishGrace(["ann", "max"])], now: now, purgeFreshness: fresh)
        #expect(plan.graceDue == ["ann", "max", "zoe"])
    }

    @Test(
        "a purge request is fresh for a quarter of its window, and for at least the freshness given",
        arguments: [
            (window: 60, waitedMilliseconds: 5_000, runs: true),  // a cold connection on a loaded machine
            (window: 60, waitedMilliseconds: 16_000, runs: false),  // longer than a purge interval: a pass missed
            (window: 2, waitedMilliseconds: 900, runs: true),  // short windows keep the 1 s floor
            (window: 2, waitedMilliseconds: 1_500, runs: false),
        ])
    func purgeFreshness(window: Int, waitedMilliseconds: Int, runs: Bool) {
        let plan = BatchPlan(
            [.purge(window: .seconds(window), requestedAt: now - .milliseconds(waitedMilliseconds))], now: now, purgeFreshness: .seconds(1))
        #expect((plan.purgeWindow != nil) == runs)
    }

    @Test("a stale purge request is skipped; of the fresh ones the smallest window wins")
    func purge() {
        let two = BatchPlan(
            [
                .purge(window: .seconds(90), requestedAt: now), .purge(window: .seconds(60), requestedAt: now - .milliseconds(10)),
                .purge(window: .seconds(10), requestedAt: now - .seconds(30)),
            ], now: now, purgeFreshness: fresh)
        #expect(two.purgeWindow == .seconds(60))
    }
}
