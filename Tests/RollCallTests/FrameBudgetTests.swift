import RollCall
import Testing

@Suite("Frame budget", .timeLimit(.minutes(5)))
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

    @Test("what a client sent while the hub held its socket unread is not over budget; a pause ends the allowance")
    func held() {
        var budget = FrameBudget(ratePerSecond: 10, burst: 5, maxBadFrames: 100, maxRejections: 3)
        #expect(budget.admit(at: .zero) == .accept)
        budget.held(for: .seconds(3))  // 30 frames at the rate, on top of the bucket
        let verdicts = (0..<37).map { _ in budget.admit(at: .seconds(3)) }
        #expect(verdicts.filter { $0 == .accept }.count == 35 && verdicts.last == .reject)
        budget.held(for: .seconds(3))
        #expect(budget.admit(at: .seconds(6)) == .accept, "the first frame since the hold waited through it")
        let later = (0..<7).map { _ in budget.admit(at: .seconds(8)) }
        #expect(later.filter { $0 == .accept }.count == 5, "two seconds without a frame: the held allowance is over, the bucket's 5 remain")
    }

    @Test("too many bad frames close the connection even when slow")
    func badFrames() {
        var budget = FrameBudget(ratePerSecond: 10, burst: 10, maxBadFrames: 3, maxRejections: 3)
        let verdicts = (0..<4).map { budget.admit(at: .seconds($0), bad: true) }
        #expect(verdicts == [.accept, .accept, .accept, .disconnect])
    }
}
