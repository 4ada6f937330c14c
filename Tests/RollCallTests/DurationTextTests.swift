import RollCall
import Testing

@Suite("Durations as operators type them", .timeLimit(.minutes(5)))
struct DurationTextTests {
    @Test(
        "every documented unit",
        arguments: [
            ("500ms", Duration.milliseconds(500)), ("15s", .seconds(15)), ("10m", .seconds(600)),
            ("2h", .seconds(7200)), ("30d", .seconds(30 * 86400)), ("0s", .zero), ("0", .zero),
        ])
    func parses(text: String, expected: Duration) throws {
        #expect(try DurationText.parse(text) == expected)
        #expect(try DurationText.parse(DurationText.format(expected)) == expected)
    }

    @Test(
        "decimal values and compound forms, as Go and Prometheus write them",
        arguments: [
            ("1.5s", Duration.milliseconds(1500)), ("1m30s", .seconds(90)), ("1h2m3s", .seconds(3723)),
            ("0.5ms", .microseconds(500)), (".5s", .milliseconds(500)), ("2.s", .seconds(2)),
            ("1d12h", .seconds(36 * 3600)), ("1.5h", .seconds(5400)), ("1s500ms", .milliseconds(1500)),
            (" 45s ", .seconds(45)),
        ])
    func compound(text: String, expected: Duration) throws {
        #expect(try DurationText.parse(text) == expected)
    }

    @Test(
        "anything else is refused with an example",
        arguments: ["", "10", "00", "0.0", "ten s", "-5s", "3w", "1.5", ".s", "1m30", "5 s", "1s-2s", "1ss", "1.2.3s", "٣s"])
    func refuses(text: String) {
        #expect {
            try DurationText.parse(text)
        } throws: { error in
            let invalid = error as? DurationText.Invalid
            return invalid?.tooLong == false && invalid?.description.contains("e.g. 500ms, 1.5s, 1m30s") == true
        }
    }

    @Test(
        "huge durations are refused, not trapped on",
        arguments: ["99999999999999999999d", "200000d", "9223372036854775807ms", "3651d", "1d99999999999999999s"])
    func refusesHuge(text: String) {
        #expect {
            try DurationText.parse(text)
        } throws: { error in
            (error as? DurationText.Invalid)?.tooLong == true
        }
    }
}
