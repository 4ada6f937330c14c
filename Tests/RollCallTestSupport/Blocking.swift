import Foundation

/// Runs `work` on a thread of its own and waits for it without holding a Swift concurrency thread.
///
/// Starting or stopping a cluster waits for `initdb` and `pg_ctl`, seconds on a busy machine. The
/// concurrency pool has a few threads for the whole test run: a run's first seconds had two or three
/// of them in `waitpid` at once, and every other test's work (database answers among it) waited
/// behind them, long enough for a writer's 10 s deadline to pass.
public func blocking<T: Sendable, Failure: Error>(_ work: @escaping @Sendable () throws(Failure) -> T) async throws(Failure) -> T {
    let result = await withCheckedContinuation { (continuation: CheckedContinuation<Result<T, Failure>, Never>) in
        Thread.detachNewThread { continuation.resume(returning: Result(catching: work)) }
    }
    return try result.get()
}

/// Reaps child `pid` once it ends, on a thread of its own, so that it leaves no zombie.
func reapWhenDone(_ pid: pid_t) {
    Thread.detachNewThread {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
    }
}
