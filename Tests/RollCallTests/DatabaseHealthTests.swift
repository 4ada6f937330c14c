import Foundation
import RollCall
import Testing

@Suite("Database health and backoff", .timeLimit(.minutes(5)))
struct DatabaseHealthTests {
    let start = ContinuousClock.now

    @Test("backoff: 100 ms after the first failure, doubling, capped at 5 s, never overflowing")
    func backoff() {
        let backoff = Backoff()
        #expect(backoff.delay(afterFailures: 0) == .zero)
        #expect(backoff.delay(afterFailures: 1) == .milliseconds(100))
        #expect(backoff.delay(afterFailures: 2) == .milliseconds(200))
        #expect(backoff.delay(afterFailures: 6) == .milliseconds(3200))
        #expect(backoff.delay(afterFailures: 7) == .seconds(5))
        #expect(backoff.delay(afterFailures: 10_000) == .seconds(5))
    }

    @Test("available while the heartbeat answers and the last write went through")
    func availability() {
        var health = DatabaseHealth(now: start)
        #expect(health.isAvailable)
        health.writeFailed()
        #expect(!health.isAvailable, "a failed batch refuses new sockets")
        health.writeCommitted()
        #expect(health.isAvailable)

        health.writeFailed()
        let beat = health.heartbeatSucceeded(purgedAt: nil, now: start + .seconds(1))
        #expect(health.isAvailable, "a heartbeat that answers clears a failed write")
        #expect(beat == .init(recovered: true, purgedMeanwhile: false))

        let first = health.heartbeatFailed()
        let second = health.heartbeatFailed()
        #expect(first, "the first failure is news")
        #expect(!second, "the second is not")
        #expect(!health.isAvailable)
        health.writeCommitted()
        #expect(!health.isAvailable, "a write alone does not vouch for the heartbeat")
        #expect(health.heartbeatSucceeded(purgedAt: nil, now: start + .seconds(2)).recovered)
    }

    @Test("contact must last a whole window, counted again after every break, before others are judged dead")
    func contactWindow() {
        var health = DatabaseHealth(now: start)
        #expect(!health.contactLasted(.seconds(60), now: start + .seconds(59)))
        #expect(health.contactLasted(.seconds(60), now: start + .seconds(60)))
        _ = health.heartbeatFailed()
        #expect(!health.contactLasted(.seconds(60), now: start + .seconds(120)))
        _ = health.heartbeatSucceeded(purgedAt: nil, now: start + .seconds(130))
        #expect(!health.contactLasted(.seconds(60), now: start + .seconds(180)))
        #expect(health.contactLasted(.seconds(60), now: start + .seconds(190)))
    }

    @Test("a purge of this hub's rows is reported once per purge")
    func purgeSeenOnce() {
        var health = DatabaseHealth(now: start)
        let purged = Date(timeIntervalSince1970: 1_800_000_000)
        #expect(health.heartbeatSucceeded(purgedAt: purged, now: start).purgedMeanwhile)
        #expect(!health.heartbeatSucceeded(purgedAt: purged, now: start).purgedMeanwhile)
        #expect(health.heartbeatSucceeded(purgedAt: purged + 10, now: start).purgedMeanwhile)
    }
}
