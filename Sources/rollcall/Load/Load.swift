import ArgumentParser
import Foundation
import RollCall
import RollCallHub

struct Load: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Drives hubs on this machine: many sockets at a set rate, watchers, messages; prints a JSON summary.",
        discussion: """
            Opens --connections sockets (users load-0, load-1, ...) across --hubs, holds them for --hold, \
            optionally sends messages between hubs, then closes them all. Watchers on --watch-hubs see every \
            transition and time it. Only loopback addresses are accepted, and the run stops by itself after \
            --limit. Start the hubs with --address-open-rate 0 and --user-open-rate 0, or their open limits \
            refuse the load (they are counted as refused_429).
            """)

    @OptionGroup var common: CommonOptions

    @Option(help: "Hub addresses to open sockets on, comma-separated, used in turn.")
    var hubs: String = "ws://127.0.0.1:8080"

    @Option(help: "Hub addresses for the watchers and message receivers (default: the last of --hubs).")
    var watchHubs: String?

    @Option(help: "Sockets to open.")
    var connections: Int = 1000

    @Option(help: "Users are named <prefix>-0, <prefix>-1, ... (watchers, senders and receivers add their role).")
    var userPrefix: String = "load"

    @Option(help: "Distinct users among them (0: one user per socket).")
    var users: Int = 0

    @Option(help: "Opens per second (0: as fast as --concurrency allows).")
    var rate: Double = 0

    @Option(help: "Opens (and closes) under way at once.")
    var concurrency: Int = 200

    @Option(help: "How long every socket stays open once all are open, e.g. 30s (default 0s).", transform: DurationText.parseArgument)
    var hold: Duration = .zero

    @Option(help: "Watcher sockets, each subscribed to the load's users (up to 10,000).")
    var watchers: Int = 0

    @Option(help: "Messages per second in all, from senders on the first hub to receivers on the watch hubs.")
    var messageRate: Double = 0

    @Option(help: "How long the messages go on (default 5s).", transform: DurationText.parseArgument)
    var messageDuration: Duration = .seconds(5)

    @Option(
        help: """
            Sends a sender may have unanswered at once; with that many it waits for an ack before it sends \
            more, as callers of the client library's send do (0: no limit, every send on its schedule).
            """)
    var messageWindow: Int = 0

    @Option(help: "Rounds of join, state change and leave each socket makes once all are open (0: none).")
    var roomRounds: Int = 0

    @Option(help: "Rooms the sockets share in the room rounds (socket i joins <prefix>-room-<i mod rooms>).")
    var rooms: Int = 10

    @Option(help: "The whole run stops after this, whatever it is doing (default 120s).", transform: DurationText.parseArgument)
    var limit: Duration = .seconds(120)

    @Flag(help: "No progress line on stderr.")
    var quiet = false

    func validate() throws {
        guard (1...100_000).contains(connections) else { throw ValidationError("--connections must be 1 to 100,000") }
        guard users >= 0, rate >= 0, messageRate >= 0, messageWindow >= 0, watchers >= 0, watchers <= 100 else {
            throw ValidationError("--users, --rate, --message-rate and --message-window must not be negative; --watchers is 0 to 100")
        }
        guard concurrency >= 1 else { throw ValidationError("--concurrency must be at least 1") }
        guard roomRounds >= 0, rooms >= 1 else { throw ValidationError("--room-rounds must not be negative, --rooms at least 1") }
        _ = try Self.loopbackURLs(hubs)
        if let watchHubs { _ = try Self.loopbackURLs(watchHubs) }
    }

    func run() async throws {
        let logger = common.makeLogger("rollcall-load")
        let authority = try await TokenAuthority(secret: try common.resolveSecret(logger: logger))
        let hubURLs = try Self.loopbackURLs(hubs)
        let plan = LoadPlan(
            hubs: hubURLs,
            watchHubs: try watchHubs.map(Self.loopbackURLs) ?? [hubURLs[hubURLs.count - 1]],
            connections: connections, users: users, rate: rate, concurrency: concurrency,
            hold: hold, watchers: watchers, messageRate: messageRate, messageDuration: messageDuration, messageWindow: messageWindow,
            limit: limit,
            roomRounds: roomRounds, rooms: rooms, prefix: userPrefix,
            tokens: { user in try await authority.mint(Identity(userID: user), lifetime: .seconds(3_600)) })
        let progress: (@Sendable (String) -> Void)? = quiet ? nil : Self.showProgress
        let summary = try await LoadRun(plan: plan).run(progress: progress)
        if !quiet { FileHandle.standardError.write(Data("\n".utf8)) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        FileHandle.standardOutput.write(try encoder.encode(summary) + Data("\n".utf8))
    }

    @Sendable static func showProgress(_ line: String) {
        FileHandle.standardError.write(Data(("\r" + line).utf8))
    }

    /// `ws://` addresses on this machine only: a load tool must not be pointed at someone else.
    static func loopbackURLs(_ list: String) throws -> [URL] {
        let urls = try list.split(separator: ",").map { item -> URL in
            var text = item.trimmingCharacters(in: .whitespaces)
            if !text.hasSuffix("/v1/ws") { text = text.trimmingCharacters(in: CharacterSet(charactersIn: "/")) + "/v1/ws" }
            guard let url = URL(string: text), url.scheme == "ws", let host = url.host else {
                throw ValidationError("not a ws:// address: \(item)")
            }
            let loopback = host == "localhost" || host == "::1" || host == "[::1]" || host.hasPrefix("127.")
            guard loopback else { throw ValidationError("\(host) is not a loopback address: load goes to this machine only") }
            return url
        }
        guard !urls.isEmpty else { throw ValidationError("name at least one hub") }
        return urls
    }
}
