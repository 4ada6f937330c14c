import RollCall
import Testing

@Suite("Frame budget", .timeLimit(.minutes(2)))
struct FrameBudgetTests {
    @Test("a burst is allowed, then frames are rejected, then the connection is closed")
    func flooding() {
        var budget = FrameBudget(ratePerSecond: 10, burst: 5, maxBadFrames: 100, maxRejections: 3)
        let verdicts = (0..<9).map { _ in budget.admit(at: .zero) }
        #expect(verdicts == [.accept, .accept, .accept, .accept, .accept, .reject, .reject, .disconnect, .disconnect])
    }

    @Test("tokens come back with time")
    func refill() {
        var budget = FrameBudget(ratePerSecond: 10, burst: 2, maxBadFrames: 100, maxRejections: 3)
        #expect(budget.admit(at: .zero) == .accept)
        #expect(budget.admit(at: .zero) == .accept)
        #expect(budget.admit(at: .zero) == .reject)
        #expect(budget.admit(at: .milliseconds(100)) == .accept)
        #expect(budget.admit(at: .seconds(10)) == .accept)
    }

    @Test("too many bad frames close the connection even when slow")
    func badFrames() {
        var budget = FrameBudget(ratePerSecond: 10, burst: 10, maxBadFrames: 3, maxRejections: 3)
        let verdicts = (0..<4).map { budget.admit(at: .seconds($0), bad: true) }
        #expect(verdicts == [.accept, .accept, .accept, .disconnect])
    }
}
