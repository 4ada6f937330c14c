import NIOCore
import NIOPosix

/// Runs a task's jobs on one NIO event loop. A task that prefers it and talks to a PostgreSQL
/// connection living on the same loop is resumed, when an answer comes, on the thread that read
/// it: no hand-over to Swift's pool and back per query. `rollcall-hotpath --database-url`
/// measures what that saves per round trip.
public final class EventLoopTaskExecutor: TaskExecutor {
    public let loop: any EventLoop

    public init(_ loop: any EventLoop) {
        self.loop = loop
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        loop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }

    /// One executor per loop of NIO's singleton group (the hub's sockets and pools live there).
    private static let singletonLoops = MultiThreadedEventLoopGroup.singleton.makeIterator().map(EventLoopTaskExecutor.init)

    /// The executor of `loop`, if it is one of the singleton group's.
    public static func of(_ loop: any EventLoop) -> EventLoopTaskExecutor? {
        singletonLoops.first { $0.loop === loop }
    }
}
