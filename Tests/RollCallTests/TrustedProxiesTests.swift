import RollCall
import Testing

@Suite("Trusted proxies", .timeLimit(.minutes(5)))
struct TrustedProxiesTests {
    @Test("nobody is trusted by default: the peer is the client, whatever the header says")
    func defaultTrustsNobody() throws {
        let proxies = try TrustedProxies(parsing: "")
        #expect(proxies.isEmpty)
        #expect(proxies.clientAddress(peer: "10.0.0.5", forwardedFor: ["203.0.113.7"]) == "10.0.0.5")
    }

    @Test("behind a trusted proxy the client is the nearest untrusted hop, so a forged entry is ignored")
    func nearestUntrustedHop() throws {
        let proxies = try TrustedProxies(parsing: "10.0.0.0/8, 192.168.1.1")
        #expect(proxies.clientAddress(peer: "10.1.2.3", forwardedFor: ["203.0.113.7"]) == "203.0.113.7")
        // The client wrote 1.2.3.4 itself; nginx appended what it saw.
        #expect(proxies.clientAddress(peer: "10.1.2.3", forwardedFor: ["1.2.3.4, 203.0.113.7"]) == "203.0.113.7")
        // Two proxies in a row, one header line each.
        #expect(proxies.clientAddress(peer: "10.1.2.3", forwardedFor: ["198.51.100.2", "192.168.1.1"]) == "198.51.100.2")
        #expect(proxies.clientAddress(peer: "192.168.1.2", forwardedFor: ["198.51.100.2"]) == "192.168.1.2", "only .1 is trusted")
    }

    @Test("a trusted peer without the header, a chain of only proxies, and garbage in the header")
    func edges() throws {
        let proxies = try TrustedProxies(parsing: "127.0.0.1,10.0.0.0/8")
        #expect(proxies.clientAddress(peer: "127.0.0.1", forwardedFor: []) == "127.0.0.1")
        #expect(proxies.clientAddress(peer: "127.0.0.1", forwardedFor: ["10.0.0.9, 10.0.0.8"]) == "10.0.0.9")
        #expect(proxies.clientAddress(peer: "127.0.0.1", forwardedFor: ["203.0.113.7, not-an-ip"]) == "127.0.0.1")
        #expect(proxies.clientAddress(peer: "127.0.0.1", forwardedFor: ["not-an-ip, 203.0.113.7"]) == "203.0.113.7")
        #expect(proxies.clientAddress(peer: nil, forwardedFor: ["203.0.113.7"]) == nil)
    }

    @Test("IPv6 networks, ports and IPv4-mapped peers")
    func ipv6AndPorts() throws {
        let proxies = try TrustedProxies(parsing: "fd00::/8, 172.30.0.0/16")
        #expect(proxies.clientAddress(peer: "fd12::1", forwardedFor: ["[2001:db8::7]:443"]) == "2001:db8::7")
        #expect(proxies.clientAddress(peer: "::ffff:172.30.0.4", forwardedFor: ["203.0.113.7:5123"]) == "203.0.113.7")
        #expect(proxies.clientAddress(peer: "fe80::1", forwardedFor: ["203.0.113.7"]) == "fe80::1")
    }

    @Test("a bad entry is refused with a message naming it", arguments: ["10.0.0.0/33", "localhost", "::/129", "10.0.0.0/x"])
    func badEntries(_ entry: String) {
        #expect(throws: TrustedProxies.Invalid.self) { try TrustedProxies(parsing: "127.0.0.1, \(entry)") }
        do {
            _ = try TrustedProxies(parsing: entry)
        } catch {
            #expect(error.description.contains(entry))
        }
    }
}
