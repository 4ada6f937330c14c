#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The proxies in front of the hub (a load balancer) whose `X-Forwarded-For` header is believed.
/// Nobody is trusted by default: a client could otherwise write any address into its own header.
public struct TrustedProxies: Sendable, Equatable {
    /// An address with a prefix length: `10.0.0.0/8`, `fd00::/8`, or one address (`127.0.0.1`).
    struct Network: Sendable, Equatable {
        let bytes: [UInt8]
        let prefixBits: Int

        func contains(_ address: [UInt8]) -> Bool {
            guard address.count == bytes.count else { return false }
            var remaining = prefixBits
            for (mine, theirs) in zip(bytes, address) where remaining > 0 {
                let bits = min(8, remaining)
                let mask = UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
                if mine & mask != theirs & mask { return false }
                remaining -= bits
            }
            return true
        }
    }

    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
    }

    let networks: [Network]

    public static let none = TrustedProxies(networks: [])

    init(networks: [Network]) { self.networks = networks }

    /// Parses a comma-separated list of addresses and networks; empty trusts nobody.
    public init(parsing list: String) throws(Invalid) {
        var networks: [Network] = []
        for entry in list.split(separator: ",").map({ $0.trimmingWhitespace() }) where !entry.isEmpty {
            let parts = entry.split(separator: "/", maxSplits: 1).map(String.init)
            guard let bytes = Self.addressBytes(parts[0]) else {
                throw Invalid(description: "--trusted-proxies: \(entry) is not an IP address or network")
            }
            let width = bytes.count * 8
            var prefix = width
            if parts.count == 2 {
                guard let bits = Int(parts[1]), (0...width).contains(bits) else {
                    throw Invalid(description: "--trusted-proxies: the prefix of \(entry) must be 0 to \(width)")
                }
                prefix = bits
            }
            networks.append(Network(bytes: bytes, prefixBits: prefix))
        }
        self.networks = networks
    }

    public var isEmpty: Bool { networks.isEmpty }

    func trusts(_ address: [UInt8]) -> Bool { networks.contains { $0.contains(address) } }

    /// The client's address: the peer itself unless the peer is a trusted proxy; then the nearest
    /// address in `X-Forwarded-For` (read right to left) that is not a trusted proxy. An entry that
    /// is not an address ends the walk: what lies left of it cannot be believed.
    public func clientAddress(peer: String?, forwardedFor headers: [String]) -> String? {
        guard let peer, let peerBytes = Self.addressBytes(peer), trusts(peerBytes) else { return peer }
        let hops = headers.flatMap { $0.split(separator: ",") }.map { Self.stripPort($0.trimmingWhitespace()) }
        var client = peer
        for hop in hops.reversed() {
            guard let bytes = Self.addressBytes(hop) else { break }
            client = hop
            if !trusts(bytes) { break }
        }
        return client
    }

    /// 4 bytes for IPv4 (an IPv4-mapped IPv6 address included), 16 for IPv6, nil for anything else.
    static func addressBytes(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            return withUnsafeBytes(of: &v4) { Array($0) }
        }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, text, &v6) == 1 else { return nil }
        let bytes = withUnsafeBytes(of: &v6) { Array($0) }
        let mappedPrefix: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF]
        return Array(bytes.prefix(12)) == mappedPrefix ? Array(bytes.suffix(4)) : bytes
    }

    /// Proxies may write `1.2.3.4:5678` or `[2001:db8::1]:443`; the address is what counts.
    static func stripPort(_ hop: String) -> String {
        if hop.hasPrefix("["), let end = hop.firstIndex(of: "]") {
            return String(hop[hop.index(after: hop.startIndex)..<end])
        }
        let colons = hop.filter { $0 == ":" }.count
        if colons == 1, let colon = hop.firstIndex(of: ":") { return String(hop[..<colon]) }
        return hop
    }
}
