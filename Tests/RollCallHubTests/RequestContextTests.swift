import Hummingbird
import HummingbirdWebSocket
import NIOEmbedded
import RollCallHub
import RollCallTestSupport
import Testing

@Suite("Request contexts", .timeLimit(.minutes(5)))
struct RequestContextTests {
    /// HummingbirdWebSocket 2.8 keeps the context of every request its router upgrades in a
    /// reference cycle (the context's handler box holds the context and the handler). Whatever the
    /// context holds, and the handler captures, was kept for good: a hub kept every channel it ever
    /// upgraded, with its buffers, 5 to 8 KB per socket.
    @Test("once its socket is gone, an upgraded request keeps neither its channel nor its handler")
    func upgradeLetsGo() async throws {
        final class Captured: Sendable {}
        weak var channelLeft: EmbeddedChannel?
        weak var handlerLeft: Captured?
        do {
            let channel = EmbeddedChannel()
            let captured = Captured()
            (channelLeft, handlerLeft) = (channel, captured)
            let router = Router(context: HubRequestContext.self)
            router.ws("ws") { _, _ in
                .upgrade([:])
            } onUpgrade: { _, _, _ in
                _ = captured
            }
            let context = HubRequestContext(source: .init(channel: channel, logger: testLogger))
            let request = Request(head: .init(method: .get, scheme: "http", authority: "hub", path: "/ws"), body: .init(buffer: .init()))
            let response = try await router.buildResponder().respond(to: request, context: context)
            #expect(response.status == .ok, "the route took the upgrade, and with it the context")
            _ = try channel.finish()
        }
        #expect(channelLeft == nil, "the channel outlived its socket")
        #expect(handlerLeft == nil, "the upgrade's handler (and its context) outlived the socket")
    }
}
