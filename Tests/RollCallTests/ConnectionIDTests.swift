import Foundation
import RollCall
import Testing

@Suite("Connection ids", .timeLimit(.minutes(5)))
struct ConnectionIDTests {
    @Test("a new id is a version 7 UUID: its time first, to the millisecond, then random bits never the same twice")
    func timeOrdered() throws {
        let time = Date(timeIntervalSince1970: 1_796_083_200.1235)  // 2026-12-01T00:00:00.1235Z
        let ids = (0..<1000).map { _ in ConnectionID(at: time) }
        #expect(Set(ids).count == ids.count)
        for id in ids {
            let text = id.description
            // 1_796_083_200_123 ms is 0x01a22ee6b07b: what PostgreSQL's rollcall.first_id_of begins
            // December 2026's partition with, and 123 ms on.
            #expect(text.hasPrefix("01a22ee6-b07b-7"), "\(text)")
            #expect("89ab".contains(text[text.index(text.startIndex, offsetBy: 19)]), "\(text)")
            #expect(id.madeAt == Date(timeIntervalSince1970: 1_796_083_200_123 / 1000))
        }
        let earlier = ConnectionID(at: time.addingTimeInterval(-0.002))
        #expect(earlier.description < ids[0].description, "ids sort by the time they were made")
        #expect(ConnectionID(try #require(UUID(uuidString: "FFFFFFFF-ABCD-4EF0-9A1B-0123456789AB"))).madeAt == nil)
    }

    @Test("written lowercase with hyphens, as PostgreSQL writes a uuid, and read back")
    func text() throws {
        let ids = [
            ConnectionID(), ConnectionID(try #require(UUID(uuidString: "00000000-0000-0000-0000-000000000000"))),
            ConnectionID(try #require(UUID(uuidString: "FFFFFFFF-ABCD-4EF0-9A1B-0123456789AB"))),
        ]
        for id in ids {
            #expect(id.description == id.uuid.uuidString.lowercased())
            #expect(ConnectionID(id.description) == id)
        }
        #expect(ids[2].description == "ffffffff-abcd-4ef0-9a1b-0123456789ab")
    }
}
