import RollCall
import Testing

@Suite("Hub configuration", .timeLimit(.minutes(5)))
struct HubConfigurationTests {
    @Test("the purge interval defaults to a quarter of the orphan window")
    func purgeDefault() {
        let configuration = HubConfiguration(serverID: "a", jwtSecret: "", orphanWindow: .seconds(60))
        #expect(configuration.purgeInterval == .seconds(15))
    }

    @Test("a window no longer than the heartbeat is refused, naming both options")
    func window() {
        let configuration = HubConfiguration(serverID: "a", jwtSecret: "", orphanWindow: .seconds(10), heartbeatInterval: .seconds(10))
        #expect {
            try configuration.validate()
        } throws: { error in
            "\(error)".contains("--orphan-window") && "\(error)".contains("--heartbeat-interval")
        }
    }

    @Test("a write deadline outside 2 s to 60 s is refused, naming the option")
    func writeDeadline() {
        for deadline: Duration in [.milliseconds(1999), .seconds(61)] {
            #expect {
                try HubConfiguration(serverID: "a", jwtSecret: "", writeDeadline: deadline).validate()
            } throws: { error in
                "\(error)".contains("--write-deadline")
            }
        }
        for deadline: Duration in [.seconds(2), .seconds(60)] {
            #expect(throws: Never.self) { try HubConfiguration(serverID: "a", jwtSecret: "", writeDeadline: deadline).validate() }
        }
    }

    @Test("batch size, batch linger and server id are checked")
    func other() {
        #expect(throws: HubConfiguration.Invalid.self) { try HubConfiguration(serverID: "a", jwtSecret: "", maxBatch: 0).validate() }
        #expect(throws: HubConfiguration.Invalid.self) {
            try HubConfiguration(serverID: "a", jwtSecret: "", batchLinger: .milliseconds(1001)).validate()
        }
        #expect(throws: HubConfiguration.Invalid.self) {
            try HubConfiguration(serverID: "a", jwtSecret: "", batchLinger: .milliseconds(-1)).validate()
        }
        #expect(throws: Never.self) { try HubConfiguration(serverID: "a", jwtSecret: "", batchLinger: .zero).validate() }
        #expect(throws: Never.self) { try HubConfiguration(serverID: "a", jwtSecret: "", batchLinger: .seconds(1)).validate() }
        #expect(throws: HubConfiguration.Invalid.self) { try HubConfiguration(serverID: "", jwtSecret: "").validate() }
        #expect(throws: Never.self) { try HubConfiguration(serverID: "a", jwtSecret: "").validate() }
    }
}
