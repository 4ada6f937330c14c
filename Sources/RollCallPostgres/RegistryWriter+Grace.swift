import Foundation
import RollCall

extension RegistryWriter {
    /// Remembers when the grace of users whose last connection just closed runs out.
    func scheduleGrace(for users: [String]) {
        guard !users.isEmpty else { return }
        // A little past the grace, so the database's clock agrees it has run out.
        let deadline = ContinuousClock.now + offlineGrace + .milliseconds(50)
        state.withLock { $0.queue.graceStarted(for: users, endsAt: deadline) }
    }

    /// Submits the users whose grace ran out; the batch publishes their offline transition
    /// only if no connection of theirs opened meanwhile, on any hub.
    func runGraceTimers() async {
        let tick = min(max(offlineGrace / 4, .milliseconds(20)), .milliseconds(250))
        while !Task.isCancelled {
            try? await Task.sleep(for: tick)
            let now = ContinuousClock.now
            let due = state.withLock { $0.queue.gracesDue(at: now) }
            if !due.isEmpty { submit(.finishGrace(due)) }
        }
    }
}
