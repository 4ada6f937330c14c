import Foundation
import Hummingbird
import Logging
import RollCall
import ServiceLifecycle
import Synchronization

/// A webhook receiver on loopback for tests: records every POST to `/hook` (body and signature
/// header, in arrival order) and answers as told: 200, 500 while `failing` is above zero, or only
/// after a while (`hang(next:for:)`) while `hanging` is.
public final class WebhookReceiver: Sendable {
    public struct Received: Sendable {
        public let body: String
        public let signature: String?
    }

    private let state = Mutex<(received: [Received], failing: Int, hanging: Int, hang: Duration)>(([], 0, 0, .zero))
    /// How long a hung answer takes unless `hang(next:for:)` says otherwise.
    public static let hang: Duration = .seconds(4)

    public init() {}

    public var received: [Received] { state.withLock { $0.received } }

    /// One event as a receiver dedupes it: by `id`.
    public struct Event: Sendable, Equatable, CustomStringConvertible {
        public let id: String
        public let type: String
        public let userID: String
        public let version: Int64
        /// "type user", what most tests compare.
        public var description: String { "\(type) \(userID)" }
    }

    /// Each event received, once by `id`, in the order of its first arrival.
    public func events() throws -> [Event] {
        var seen: Set<String> = []
        return try received.compactMap { item in
            let body = try JSONParser.parse(item.body)
            guard case .string(let id)? = body["id"], seen.insert(id).inserted, case .string(let type)? = body["type"],
                case .string(let user)? = body["user_id"], case .number(let version)? = body["version"], let number = version.integer
            else { return nil }
            return Event(id: id, type: type, userID: user, version: number)
        }
    }

    /// The next `count` POSTs are answered 500 (and still recorded).
    public func fail(next count: Int) { state.withLock { $0.failing = count } }

    /// The next `count` POSTs are answered (200) only after `duration`: longer than the sender's
    /// timeout for a POST that must fail, shorter for one whose answer must arrive late.
    public func hang(next count: Int, for duration: Duration = WebhookReceiver.hang) {
        state.withLock {
            $0.hanging = count
            $0.hang = duration
        }
    }

    /// Runs the receiver while `body` runs; `body` gets its URL.
    public func run<T: Sendable>(_ body: @Sendable (String) async throws -> T) async throws -> T {
        let router = Router()
        router.post("hook") { request, _ -> HTTPResponse.Status in
            let text = String(buffer: try await request.body.collect(upTo: 1 << 20))
            let signature = request.headers.first { $0.name.canonicalName == "rollcall-signature" }?.value
            let (status, hang) = self.state.withLock { state -> (HTTPResponse.Status, Duration) in
                state.received.append(Received(body: text, signature: signature))
                if state.hanging > 0 {
                    state.hanging -= 1
                    return (.ok, state.hang)
                }
                guard state.failing > 0 else { return (.ok, .zero) }
                state.failing -= 1
                return (.internalServerError, .zero)
            }
            if hang > .zero { try? await Task.sleep(for: hang) }
            return status
        }
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        var quiet = testLogger
        quiet.logLevel = .error
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in continuation.yield(channel.localAddress?.port ?? 0) }, logger: quiet)
        let group = ServiceGroup(services: [app], gracefulShutdownSignals: [], logger: quiet)
        return try await withThrowingTaskGroup(of: T?.self) { tasks in
            tasks.addTask {
                try await group.run()
                return nil
            }
            var iterator = ports.makeAsyncIterator()
            guard let port = await iterator.next() else { throw TimedOut(what: "the webhook receiver to listen") }
            defer { Task { await group.triggerGracefulShutdown() } }
            return try await body("http://127.0.0.1:\(port)/hook")
        }
    }
}
