import Foundation

/// One WebSocket connection, one row: the id the hub makes when it accepts a socket.
public struct ConnectionID: Hashable, Sendable, Codable, CustomStringConvertible {
    public let uuid: UUID

    public init(_ uuid: UUID) { self.uuid = uuid }

    /// A new id: a version 7 UUID, whose first 48 bits are the Unix time in milliseconds. The
    /// history is partitioned by month on these ids (migration 007), so a close finds its row's
    /// month from the id alone, and the primary key grows at its right edge instead of everywhere.
    /// The other 74 bits are random, from the standard library's system generator (on Linux,
    /// Foundation's `UUID()` opens, reads and closes /dev/urandom each time, three system calls for
    /// every socket a hub accepts).
    public init(at time: Date = Date()) {
        var generator = SystemRandomNumberGenerator()
        let milliseconds = UInt64(max(0, (time.timeIntervalSince1970 * 1000).rounded(.down)))
        var bytes: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &bytes) { raw in
            raw.storeBytes(of: (milliseconds << 16).bigEndian, toByteOffset: 0, as: UInt64.self)
            raw.storeBytes(of: generator.next() as UInt64, toByteOffset: 8, as: UInt64.self)
            let random = generator.next() as UInt16
            raw[6] = UInt8(truncatingIfNeeded: random >> 8) & 0x0F | 0x70  // version 7
            raw[7] = UInt8(truncatingIfNeeded: random)
            raw[8] = raw[8] & 0x3F | 0x80  // RFC 9562 variant
        }
        uuid = UUID(uuid: bytes)
    }

    /// When a version 7 id was made (to the millisecond); nil for ids of other versions.
    public var madeAt: Date? {
        withUnsafeBytes(of: uuid.uuid) { raw in
            guard raw[6] >> 4 == 7 else { return nil }
            let milliseconds = raw.loadUnaligned(fromByteOffset: 0, as: UInt64.self).bigEndian >> 16
            return Date(timeIntervalSince1970: Double(milliseconds) / 1000)
        }
    }

    public init?(_ string: String) {
        guard let uuid = UUID(uuidString: string) else { return nil }
        self.uuid = uuid
    }

    /// The id as PostgreSQL and the wire write it: lowercase, with hyphens.
    public var description: String {
        withUnsafeBytes(of: uuid.uuid) { bytes in
            String(unsafeUninitializedCapacity: 36) { text in
                func digit(_ nibble: UInt8) -> UInt8 { nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10 }
                var at = 0
                for (index, byte) in bytes.enumerated() {
                    if index == 4 || index == 6 || index == 8 || index == 10 {
                        text[at] = UInt8(ascii: "-")
                        at += 1
                    }
                    text[at] = digit(byte >> 4)
                    text[at + 1] = digit(byte & 0x0F)
                    at += 2
                }
                return at
            }
        }
    }

    public init(from decoder: any Decoder) throws {
        let string = try decoder.singleValueContainer().decode(String.self)
        guard let id = ConnectionID(string) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not a UUID: \(string)"))
        }
        self = id
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// Why a connection row was closed (`connections.close_reason`).
public enum CloseReason: String, Sendable, Codable, CaseIterable {
    case clientClosed = "client_closed"
    case timeout
    case serverShutdown = "server_shutdown"
    case serverRestart = "server_restart"
    case orphaned
    case kicked
    case protocolError = "protocol_error"
}
