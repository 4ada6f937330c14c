import Hummingbird
import HummingbirdWebSocket
import NIOEmbedded
import RollCallHub
import RollCallTestSupport
import Testing

@Suite("Request contexts", .timeLimit(.minutes(1)))
struct RequestContextTests {
    /// HummingbirdWebSocket 2.8 keeps the context of every request its router upgrades in a
    /// reference cycle (the context's handler box holds the context). Whatever the context holds
    /// is kept for good: a hub that held its socket's channel there kept every channel it ever
    /// accepted, with its buffers, about 8 KB per socket.
    @Test("a WebSocket route's request context does not keep its socket's channel once the socket is gone")
    func contextLetsTheChannelGo() async throws {
        weak var released: EmbeddedChannel?
        do {
            let channel = EmbeddedChannel()
            released = channel
            let router = Router(context: HubRequestContext.self)
            router.ws("ws") { _, _ in
                .upgrade([:])
            } onUpgrade: { _, _, _ in
            }
            let context = HubRequestContext(source: .init(channel: channel, logger: testLogger))
            let request = Request(head: .init(method: .get, scheme: "http", authority: "hub", path: "/ws"), body: .init(buffer: .init()))
            let response = try await router.buildResponder().respond(to: request, context: context)
            #expect(response.status == .ok, "the route took the upgrade, and with it the context")
            _ = try channel.finish()
        }
        #expect(released == nil, "the channel outlived its socket")
    }
}
